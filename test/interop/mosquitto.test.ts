// Interoperability with the Mosquitto command-line clients (mosquitto_pub, mosquitto_sub,
// mosquitto_rr) at MQTT 3.1.1 and 5.0, against an in-process broker.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, connectClient, connectCollecting } from '../helpers/mqtt-client.js';
import { killAll, run, runToEnd, type ChildRun } from './child-runner.js';

const VERSIONS = [
  { name: 'mqttv311', protocolVersion: 4 },
  { name: 'mqttv5', protocolVersion: 5 },
] as const;

// mosquitto_sub block-buffers stdout into a pipe; stdbuf -oL makes its -d lines arrive as printed.
// Marks message lines so they can be told apart from -d debug output.
const FORMAT = 'MSG|%t|%q|%r|%p';

interface Message {
  topic: string;
  qos: number;
  retain: boolean;
  payload: string;
}

function messages(child: ChildRun): Message[] {
  return child
    .lines()
    .filter((line) => line.startsWith('MSG|'))
    .map((line) => {
      const [, topic, qos, retain, ...payload] = line.split('|');
      return { topic: topic!, qos: Number(qos), retain: retain === '1', payload: payload.join('|') };
    });
}

describe('Mosquitto command-line clients', () => {
  let started: StartedBroker;
  let workDir: string;
  before(async () => {
    started = await startBroker();
    workDir = mkdtempSync(join(tmpdir(), 'petrel-interop-'));
  });
  after(async () => {
    await killAll();
    await started.stop();
    rmSync(workDir, { recursive: true, force: true });
  });

  const common = (version: string) => ['-h', '127.0.0.1', '-p', String(started.port), '-V', version];

  /** Starts mosquitto_sub and resolves once its SUBACK arrived. */
  async function subscribe(version: string, args: string[]): Promise<ChildRun> {
    const child = run('stdbuf', ['-oL', 'mosquitto_sub', ...common(version), '-d', '-F', FORMAT, ...args]);
    await child.waitForLine('Subscribed (mid:');
    return child;
  }

  async function publish(version: string, args: string[]): Promise<void> {
    const child = await runToEnd('mosquitto_pub', [...common(version), ...args]);
    assert.equal(child.exitCode, 0, `mosquitto_pub failed: ${child.stderr}`);
  }

  for (const { name, protocolVersion } of VERSIONS) {
    describe(name, () => {
      test('QoS 0, 1 and 2 messages reach a mosquitto_sub at the QoS it subscribed with', async () => {
        const subscriber = await subscribe(name, ['-t', `${name}/qos/#`, '-q', '2', '-C', '3', '-W', '10']);
        for (const qos of [0, 1, 2]) await publish(name, ['-t', `${name}/qos/${qos}`, '-q', String(qos), '-m', `qos ${qos}`]);
        assert.equal(await subscriber.waitExit(), 0);
        assert.deepEqual(
          messages(subscriber).map(({ topic, qos, payload }) => ({ topic, qos, payload })),
          [0, 1, 2].map((qos) => ({ topic: `${name}/qos/${qos}`, qos, payload: `qos ${qos}` })),
        );
      });

      test('delivered QoS is the minimum of the published and the subscribed QoS', async () => {
        const subscriber = await subscribe(name, ['-t', `${name}/min`, '-q', '1', '-C', '1', '-W', '10']);
        await publish(name, ['-t', `${name}/min`, '-q', '2', '-m', 'down to 1']);
        await subscriber.waitExit();
        assert.equal(messages(subscriber)[0]?.qos, 1);
      });

      test('retained: stored with -r, delivered with RETAIN=1, skipped by -R, alone with --retained-only, deleted by an empty -r', async () => {
        const topic = `${name}/retained`;
        await publish(name, ['-t', topic, '-q', '1', '-r', '-m', 'kept']);
        const late = await subscribe(name, ['-t', topic, '-C', '1', '-W', '10']);
        await late.waitExit();
        assert.deepEqual(messages(late), [{ topic, qos: 0, retain: true, payload: 'kept' }]);

        const onlyRetained = await runToEnd('stdbuf', ['-oL', 'mosquitto_sub', ...common(name), '-F', FORMAT, '-t', topic, '--retained-only', '-W', '1'], 6000);
        assert.deepEqual(messages(onlyRetained).map((message) => message.payload), ['kept']);

        const noStale = await subscribe(name, ['-t', topic, '-R', '-C', '1', '-W', '10']);
        await publish(name, ['-t', topic, '-m', 'live']);
        await noStale.waitExit();
        assert.deepEqual(messages(noStale), [{ topic, qos: 0, retain: false, payload: 'live' }]);

        await publish(name, ['-t', topic, '-r', '-n']);
        const afterDelete = await runToEnd('stdbuf', ['-oL', 'mosquitto_sub', ...common(name), '-F', FORMAT, '-t', topic, '--retained-only', '-W', '1'], 6000);
        assert.deepEqual(messages(afterDelete), []);
      });

      test('a will set with --will-topic is published when the client is killed', async () => {
        const watcher = await subscribe(name, ['-t', `${name}/will`, '-q', '1', '-C', '1', '-W', '10']);
        const doomed = await subscribe(name, ['-t', `${name}/unused`, '--will-topic', `${name}/will`, '--will-payload', 'gone', '--will-qos', '1']);
        await doomed.kill('SIGKILL');
        assert.equal(await watcher.waitExit(), 0);
        assert.deepEqual(messages(watcher).map((message) => message.payload), ['gone']);
      });

      test('clean session off (-c -i): QoS 1 messages published while away are delivered on return', async () => {
        const clientId = `mosq-persistent-${protocolVersion}`;
        const sessionArgs = ['-c', '-i', clientId, '-q', '1', ...(protocolVersion === 5 ? ['-x', '60'] : [])];
        const first = await subscribe(name, [...sessionArgs, '-t', `${name}/offline`]);
        await first.kill('SIGTERM');
        await publish(name, ['-t', `${name}/offline`, '-q', '1', '-m', 'while away 1']);
        await publish(name, ['-t', `${name}/offline`, '-q', '1', '-m', 'while away 2']);
        const second = run('stdbuf', ['-oL', 'mosquitto_sub', ...common(name), '-d', '-F', FORMAT, ...sessionArgs, '-t', `${name}/offline`, '-C', '2', '-W', '10']);
        assert.equal(await second.waitExit(), 0);
        assert.deepEqual(messages(second).map((message) => message.payload), ['while away 1', 'while away 2']);
      });

      test('a 1 MB payload from a file (-f) arrives intact', async () => {
        const file = join(workDir, `large-${protocolVersion}.txt`);
        const payload = Buffer.alloc(1_000_000);
        for (let index = 0; index < payload.length; index++) payload[index] = 97 + ((index * 7) % 26);
        writeFileSync(file, payload);
        const subscriber = await subscribe(name, ['-t', `${name}/large`, '-q', '1', '-C', '1', '-W', '10']);
        await publish(name, ['-t', `${name}/large`, '-q', '1', '-f', file]);
        await subscriber.waitExit(10000);
        const [message] = messages(subscriber);
        assert.equal(message?.payload.length, payload.length);
        assert.ok(message.payload === payload.toString(), 'payload differs');
      });

      test('an MQTT.js publisher reaches mosquitto_sub, and mosquitto_pub reaches an MQTT.js subscriber', async () => {
        const subscriber = await subscribe(name, ['-t', `${name}/cross/js`, '-q', '1', '-C', '1', '-W', '10']);
        const { client, inbox } = await connectCollecting(started.url, { protocolVersion, clientId: `js-cross-${protocolVersion}` });
        await client.publishAsync(`${name}/cross/js`, 'from mqtt.js', { qos: 1 });
        await subscriber.waitExit();
        assert.deepEqual(messages(subscriber).map((message) => message.payload), ['from mqtt.js']);
        await client.subscribeAsync(`${name}/cross/mosquitto`, { qos: 2 });
        await publish(name, ['-t', `${name}/cross/mosquitto`, '-q', '2', '-m', 'from mosquitto_pub']);
        const [received] = await inbox.wait(1, 5000);
        assert.equal(received?.payload, 'from mosquitto_pub');
        assert.equal(received?.packet.qos, 2);
        await closeClient(client);
      });
    });
  }

  describe('mqttv5 properties (-D)', () => {
    test('user property, message expiry, response topic, correlation data and content type reach mosquitto_sub unchanged', async () => {
      const subscriber = run('stdbuf', [
        '-oL', 'mosquitto_sub', ...common('mqttv5'), '-d', '-t', 'v5/props', '-q', '1', '-C', '1', '-W', '10',
        '-F', 'MSG|%t|user=%P|expiry=%E|response=%R|correlation=%D|type=%C|%p',
      ]);
      await subscriber.waitForLine('Subscribed (mid:');
      await publish('mqttv5', [
        '-t', 'v5/props', '-q', '1', '-m', 'with properties',
        '-D', 'publish', 'user-property', 'colour', 'blue',
        '-D', 'publish', 'user-property', 'shape', 'round',
        '-D', 'publish', 'message-expiry-interval', '120',
        '-D', 'publish', 'response-topic', 'v5/replies',
        '-D', 'publish', 'correlation-data', 'req-42',
        '-D', 'publish', 'content-type', 'text/plain',
      ]);
      await subscriber.waitExit();
      const line = subscriber.lines().find((candidate) => candidate.startsWith('MSG|'));
      assert.ok(line, subscriber.stdout.toString());
      assert.match(line, /user=colour:blue shape:round\|/);
      const expiry = Number(/expiry=(\d+)/.exec(line)?.[1]);
      assert.ok(expiry >= 118 && expiry <= 120, `expiry ${expiry}`);
      assert.match(line, /response=v5\/replies\|correlation=req-42\|type=text\/plain\|with properties$/);
    });

    test('mosquitto_pub properties reach an MQTT.js subscriber in order', async () => {
      const { client, inbox } = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'js-props' });
      await client.subscribeAsync('v5/props-js', { qos: 1 });
      await publish('mqttv5', [
        '-t', 'v5/props-js', '-q', '1', '-m', 'x',
        '-D', 'publish', 'user-property', 'b', '2',
        '-D', 'publish', 'user-property', 'a', '1',
        '-D', 'publish', 'content-type', 'application/x-test',
        '-D', 'publish', 'payload-format-indicator', '1',
      ]);
      const [message] = await inbox.wait(1, 5000);
      const properties = message!.packet.properties!;
      assert.deepEqual(Object.keys(properties.userProperties ?? {}), ['b', 'a']);
      assert.equal(properties.contentType, 'application/x-test');
      assert.equal(properties.payloadFormatIndicator, true);
      await closeClient(client);
    });

    test('mosquitto_rr request/response: an MQTT.js responder answers on the response topic with the correlation data', async () => {
      const responder = await connectClient(started.url, { protocolVersion: 5, clientId: 'rr-responder' });
      responder.on('message', (_topic, payload, packet) => {
        const responseTopic = packet.properties?.responseTopic;
        if (responseTopic === undefined) return;
        responder.publish(responseTopic, `answer to ${payload.toString()}`, { qos: 1, properties: { correlationData: packet.properties?.correlationData } });
      });
      await responder.subscribeAsync('rr/service', { qos: 1 });
      const requester = await runToEnd('mosquitto_rr', [...common('mqttv5'), '-t', 'rr/service', '-e', 'rr/replies', '-m', 'question', '-q', '1', '-W', '5'], 8000);
      assert.equal(requester.exitCode, 0, requester.stderr);
      assert.equal(requester.stdout.toString().trim(), 'answer to question');
      await closeClient(responder);
    });
  });
});
