// Interoperability with Paho Python (Debian python3-paho-mqtt 1.6, run by /usr/bin/python3)
// at MQTT 3.1.1 and 5.0, and across clients: paho <-> mosquitto_* <-> MQTT.js.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, connectClient, connectCollecting } from '../helpers/mqtt-client.js';
import { killAll, run, runToEnd } from './child-runner.js';
import { events, pahoMessages, pahoPublisher, pahoSubscriber } from './paho-scripts.js';

describe('Paho Python clients', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await killAll();
    await started.stop();
  });

  for (const version of [4, 5] as const) {
    describe(`protocol version ${version}`, () => {
      test('QoS 2 round trip between two paho clients (publisher sees PUBCOMP, subscriber gets it once at QoS 2)', async () => {
        const subscriber = pahoSubscriber({ version, port: started.port, clientId: `paho-q2-sub-${version}`, subscriptions: [[`paho${version}/q2`, 2]], count: 1 });
        await subscriber.waitForLine('"suback"');
        const publisher = pahoPublisher({ version, port: started.port, clientId: `paho-q2-pub-${version}`, messages: [{ topic: `paho${version}/q2`, payload: 'exactly once', qos: 2 }] });
        assert.equal(await publisher.waitExit(), 0, publisher.stderr);
        assert.deepEqual(events(publisher).find((event) => event.event === 'published'), { event: 'published', topic: `paho${version}/q2`, complete: true });
        assert.equal(await subscriber.waitExit(), 0, subscriber.stderr);
        const messages = pahoMessages(subscriber);
        assert.equal(messages.length, 1);
        assert.equal(messages[0]!.qos, 2);
        assert.equal(messages[0]!.payload, 'exactly once');
        assert.equal(messages[0]!.dup, false);
      });

      test('persistent session: paho resumes with Session Present and gets the QoS 1 messages sent while away, in order', async () => {
        const session = { version, port: started.port, clientId: `paho-persist-${version}`, clean: false, sessionExpiry: 60 };
        const first = pahoSubscriber({ ...session, clean: true, subscriptions: [[`paho${version}/persist`, 1]] });
        await first.waitForLine('"suback"');
        first.closeInput();
        assert.equal(await first.waitExit(), 0, first.stderr);
        // Clean start first so a leftover session cannot make the test pass; then a persistent one.
        const second = pahoSubscriber({ ...session, subscriptions: [[`paho${version}/persist`, 1]] });
        await second.waitForLine('"suback"');
        second.closeInput();
        await second.waitExit();
        const publisher = await connectClient(started.url, { protocolVersion: version, clientId: `js-persist-${version}` });
        for (const payload of ['one', 'two', 'three']) await publisher.publishAsync(`paho${version}/persist`, payload, { qos: 1 });
        await closeClient(publisher);
        const resumed = pahoSubscriber({ ...session, subscriptions: [], count: 3 });
        assert.equal(await resumed.waitExit(), 0, resumed.stderr);
        const connack = events(resumed).find((event) => event.event === 'connack');
        assert.deepEqual(connack, { event: 'connack', sessionPresent: true, rc: 0 });
        assert.deepEqual(pahoMessages(resumed).map((message) => message.payload), ['one', 'two', 'three']);
      });

      test('shared subscription: each message goes to exactly one of two paho members', async () => {
        const filter = `$share/workers/paho${version}/jobs/#`;
        const members = [1, 2].map((index) => pahoSubscriber({ version, port: started.port, clientId: `paho-share-${version}-${index}`, subscriptions: [[filter, 1]] }));
        for (const member of members) await member.waitForLine('"suback"');
        const publisher = await connectClient(started.url, { protocolVersion: version, clientId: `js-share-${version}` });
        const sent = Array.from({ length: 10 }, (_unused, index) => `job ${index}`);
        for (const payload of sent) await publisher.publishAsync(`paho${version}/jobs/a`, payload, { qos: 1 });
        await closeClient(publisher);
        const deadline = Date.now() + 5000;
        const total = () => members.reduce((sum, member) => sum + pahoMessages(member).length, 0);
        while (total() < sent.length && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        for (const member of members) member.closeInput();
        await Promise.all(members.map((member) => member.waitExit()));
        const received = members.map((member) => pahoMessages(member).map((message) => message.payload));
        assert.deepEqual([...received[0]!, ...received[1]!].sort(), [...sent].sort(), 'every message exactly once across the group');
        assert.ok(received[0]!.length > 0 && received[1]!.length > 0, `both members served: ${received[0]!.length} / ${received[1]!.length}`);
      });

      test('cross-client: mosquitto_pub -> paho subscriber, and paho publisher -> MQTT.js subscriber', async () => {
        const subscriber = pahoSubscriber({ version, port: started.port, clientId: `paho-cross-${version}`, subscriptions: [[`cross${version}/to-paho`, 1]], count: 1 });
        await subscriber.waitForLine('"suback"');
        const mosquitto = await runToEnd('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(started.port), '-V', version === 5 ? 'mqttv5' : 'mqttv311', '-t', `cross${version}/to-paho`, '-q', '1', '-m', 'from mosquitto']);
        assert.equal(mosquitto.exitCode, 0, mosquitto.stderr);
        assert.equal(await subscriber.waitExit(), 0, subscriber.stderr);
        assert.deepEqual(pahoMessages(subscriber).map(({ topic, qos, payload }) => ({ topic, qos, payload })), [{ topic: `cross${version}/to-paho`, qos: 1, payload: 'from mosquitto' }]);

        const { client, inbox } = await connectCollecting(started.url, { protocolVersion: version, clientId: `js-cross-paho-${version}` });
        await client.subscribeAsync(`cross${version}/to-js`, { qos: 2 });
        const publisher = pahoPublisher({ version, port: started.port, clientId: `paho-cross-pub-${version}`, messages: [{ topic: `cross${version}/to-js`, payload: 'from paho', qos: 2, retain: true }] });
        assert.equal(await publisher.waitExit(), 0, publisher.stderr);
        const [message] = await inbox.wait(1, 5000);
        assert.equal(message?.payload, 'from paho');
        assert.equal(message?.packet.qos, 2);
        await closeClient(client);
        // The retained copy reaches a later mosquitto_sub with RETAIN set.
        const late = await runToEnd('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(started.port), '-V', version === 5 ? 'mqttv5' : 'mqttv311', '-t', `cross${version}/to-js`, '-C', '1', '-W', '5', '-F', '%r|%p']);
        assert.equal(late.stdout.toString().trim(), '1|from paho');
      });
    });
  }

  describe('MQTT 5 properties', () => {
    test('paho publisher properties reach an MQTT.js subscriber unchanged (user properties in order)', async () => {
      const { client, inbox } = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'js-paho-props' });
      await client.subscribeAsync('paho5/props', { qos: 1 });
      const publisher = pahoPublisher({
        version: 5,
        port: started.port,
        clientId: 'paho-props-pub',
        messages: [{
          topic: 'paho5/props',
          payload: 'request',
          qos: 1,
          properties: { userProperties: [['z', 'last'], ['a', 'first']], contentType: 'text/plain', responseTopic: 'paho5/replies', correlationData: 'corr-7', messageExpiryInterval: 300, payloadFormatIndicator: 1 },
        }],
      });
      assert.equal(await publisher.waitExit(), 0, publisher.stderr);
      const [message] = await inbox.wait(1, 5000);
      const properties = message!.packet.properties!;
      assert.deepEqual({ ...properties.userProperties }, { z: 'last', a: 'first' });
      assert.deepEqual(Object.keys(properties.userProperties ?? {}), ['z', 'a']);
      assert.equal(properties.contentType, 'text/plain');
      assert.equal(properties.responseTopic, 'paho5/replies');
      assert.equal(properties.correlationData?.toString(), 'corr-7');
      assert.ok((properties.messageExpiryInterval ?? 0) >= 298 && (properties.messageExpiryInterval ?? 0) <= 300);
      assert.equal(properties.payloadFormatIndicator, true);
      await closeClient(client);
    });

    test('mosquitto_pub -D properties reach a paho subscriber unchanged', async () => {
      const subscriber = pahoSubscriber({ version: 5, port: started.port, clientId: 'paho-props-sub', subscriptions: [['paho5/from-mosquitto', 1]], count: 1 });
      await subscriber.waitForLine('"suback"');
      const publisher = run('mosquitto_pub', [
        '-h', '127.0.0.1', '-p', String(started.port), '-V', 'mqttv5', '-t', 'paho5/from-mosquitto', '-q', '1', '-m', 'hello',
        '-D', 'publish', 'user-property', 'k1', 'v1',
        '-D', 'publish', 'user-property', 'k1', 'v2',
        '-D', 'publish', 'response-topic', 'paho5/answer',
        '-D', 'publish', 'correlation-data', 'abc',
        '-D', 'publish', 'content-type', 'application/json',
        '-D', 'publish', 'message-expiry-interval', '60',
      ]);
      assert.equal(await publisher.waitExit(), 0, publisher.stderr);
      assert.equal(await subscriber.waitExit(), 0, subscriber.stderr);
      const [message] = pahoMessages(subscriber);
      assert.deepEqual(message?.UserProperty, [['k1', 'v1'], ['k1', 'v2']]);
      assert.equal(message?.ResponseTopic, 'paho5/answer');
      assert.equal(message?.CorrelationData, 'abc');
      assert.equal(message?.ContentType, 'application/json');
      assert.ok((message?.MessageExpiryInterval ?? 0) >= 58 && (message?.MessageExpiryInterval ?? 0) <= 60);
    });
  });
});
