// QoS 0/1/2 end to end with MQTT.js at protocol versions 4 and 5.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, collect, connectClient } from '../helpers/mqtt-client.js';

describe('QoS 0/1/2 publish and subscribe', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await started.stop();
  });

  for (const protocolVersion of [4, 5] as const) {
    for (const qos of [0, 1, 2] as const) {
      test(`[MQTT-4.3.${qos + 1}-1] v${protocolVersion} QoS ${qos} message reaches a subscriber`, async () => {
        const subscriber = await connectClient(started.url, { protocolVersion, clientId: `sub-${protocolVersion}-${qos}` });
        const publisher = await connectClient(started.url, { protocolVersion, clientId: `pub-${protocolVersion}-${qos}` });
        const inbox = collect(subscriber);
        const granted = await subscriber.subscribeAsync(`qos/${protocolVersion}/${qos}`, { qos });
        assert.equal(granted[0]!.qos, qos);
        await publisher.publishAsync(`qos/${protocolVersion}/${qos}`, `hello ${qos}`, { qos });
        const [message] = await inbox.wait(1);
        assert.equal(message!.payload, `hello ${qos}`);
        assert.equal(message!.packet.qos, qos);
        assert.equal(message!.packet.retain, false);
        await Promise.all([closeClient(subscriber), closeClient(publisher)]);
      });
    }
  }

  test('[MQTT-3.8.4-8] delivered QoS is the minimum of published and granted QoS', async () => {
    const subscriber = await connectClient(started.url, { protocolVersion: 5, clientId: 'min-sub' });
    const publisher = await connectClient(started.url, { protocolVersion: 5, clientId: 'min-pub' });
    const inbox = collect(subscriber);
    await subscriber.subscribeAsync('min/qos', { qos: 1 });
    await publisher.publishAsync('min/qos', 'two', { qos: 2 });
    await publisher.publishAsync('min/qos', 'zero', { qos: 0 });
    const messages = await inbox.wait(2);
    assert.deepEqual(messages.map((message) => [message.payload, message.packet.qos]), [['two', 1], ['zero', 0]]);
    await Promise.all([closeClient(subscriber), closeClient(publisher)]);
  });
});
