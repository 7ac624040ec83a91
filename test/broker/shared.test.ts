// Shared subscriptions: one member per message, strategies, re-delivery when a member leaves.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';

describe('shared subscriptions', () => {
  for (const protocolVersion of [4, 5] as const) {
    test(`[MQTT-4.8.2-2] v${protocolVersion} each message goes to one member (round-robin)`, async () => {
      const started = await startBroker();
      const first = await connectCollecting(started.url, { protocolVersion, clientId: 'm1' });
      const second = await connectCollecting(started.url, { protocolVersion, clientId: 'm2' });
      const plain = await connectCollecting(started.url, { protocolVersion, clientId: 'plain' });
      await first.client.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
      await second.client.subscribeAsync('$share/workers/jobs/+', { qos: 1 });
      await plain.client.subscribeAsync('jobs/+', { qos: 1 });
      const publisher = await connectClient(started.url, { protocolVersion });
      for (let index = 0; index < 6; index++) await publisher.publishAsync(`jobs/${index}`, `job ${index}`, { qos: 1 });
      await plain.inbox.wait(6);
      await delay(50);
      assert.equal(first.inbox.messages.length + second.inbox.messages.length, 6);
      assert.equal(first.inbox.messages.length, 3);
      assert.equal(second.inbox.messages.length, 3);
      await Promise.all([first.client, second.client, plain.client, publisher].map(closeClient));
      await started.stop();
    });
  }

  test('hash-topic strategy keeps one topic on one member', async () => {
    const started = await startBroker({ mqtt: { sharedSubscriptionStrategy: 'hash-topic' } });
    const members = await Promise.all(['h1', 'h2', 'h3'].map((clientId) => connectCollecting(started.url, { protocolVersion: 5, clientId })));
    for (const member of members) await member.client.subscribeAsync('$share/g/hash/#', { qos: 0 });
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    for (let index = 0; index < 10; index++) await publisher.publishAsync('hash/one', String(index), { qos: 1 });
    await delay(80);
    const counts = members.map((member) => member.inbox.messages.length).sort();
    assert.deepEqual(counts, [0, 0, 10]);
    await Promise.all([...members.map((member) => member.client), publisher].map(closeClient));
    await started.stop();
  });

  test('QoS 1 messages in flight to a member that disconnects go to another member', async () => {
    const started = await startBroker();
    const silent = await RawClient.connected(started.port, { clientId: 'silent' }, 5);
    silent.client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/work', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await silent.client.expect('suback');
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('work', 'task', { qos: 1 });
    const publish = await silent.client.expect('publish');
    assert.equal(publish.payload.toString(), 'task');
    const other = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'other' });
    await other.client.subscribeAsync('$share/g/work', { qos: 1 });
    silent.client.destroy(); // no PUBACK
    const [message] = await other.inbox.wait(1);
    assert.equal(message!.payload, 'task');
    await Promise.all([publisher, other.client].map(closeClient));
    await started.stop();
  });

  test('a lone persistent member keeps its in-flight shared messages and gets them on reconnect', async () => {
    const started = await startBroker();
    const options = { clientId: 'lone', clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await RawClient.connected(started.port, options, 5);
    first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/solo', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    await first.client.expect('suback');
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('solo', 'keep me', { qos: 1 });
    await first.client.expect('publish');
    first.client.destroy(); // no PUBACK, and nobody else in the group
    await delay(50);
    const second = await RawClient.connected(started.port, { ...options, clean: false }, 5);
    const again = await second.client.expect('publish');
    assert.equal(again.payload.toString(), 'keep me');
    second.client.destroy();
    await closeClient(publisher);
    await started.stop();
  });

  test('shared messages kept by a lone member go back in their original order, ahead of later queued ones', async () => {
    const started = await startBroker();
    try {
      const options = { clientId: 'orderly', clean: false, properties: { sessionExpiryInterval: 60, receiveMaximum: 1 } };
      const first = await RawClient.connected(started.port, options, 5);
      const subscription = (topicFilter: string) => ({ topicFilter, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const });
      first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [subscription('$share/g/order/shared'), subscription('order/plain')] });
      await first.client.expect('suback');
      const publisher = await connectClient(started.url, { protocolVersion: 5 });
      // Receive Maximum 1: "s1" is in flight, "p1" and "s2" wait in the queue behind it.
      for (const [topic, payload] of [['order/shared', 's1'], ['order/plain', 'p1'], ['order/shared', 's2']] as const) await publisher.publishAsync(topic, payload, { qos: 1 });
      assert.equal((await first.client.expect('publish')).payload.toString(), 's1');
      first.client.destroy(); // no PUBACK, and nobody else in the group
      await first.client.waitClosed();
      await delay(50);
      const second = await RawClient.connected(started.port, { ...options, properties: { sessionExpiryInterval: 60, receiveMaximum: 10 } }, 5);
      const received: string[] = [];
      for (let index = 0; index < 3; index++) {
        const publish = await second.client.expect('publish');
        received.push(publish.payload.toString());
        second.client.send({ type: 'puback', packetId: publish.packetId!, reasonCode: 0 });
      }
      assert.deepEqual(received, ['s1', 'p1', 's2']);
      second.client.destroy();
      await closeClient(publisher);
    } finally {
      await started.stop();
    }
  });

  test('[MQTT-3.8.3-4] v5 No Local on a shared subscription is a protocol error', async () => {
    const started = await startBroker();
    const { client } = await RawClient.connected(started.port, { clientId: 'nl' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/x', qos: 0, noLocal: true, retainAsPublished: false, retainHandling: 0 }] });
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    await client.waitClosed();
    await started.stop();
  });

  test('shared subscriptions disabled: SUBACK 0x9E', async () => {
    const started = await startBroker({ mqtt: { sharedSubscriptionAvailable: false } });
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'ns' }, 5);
    assert.equal(connack.type === 'connack' && connack.properties?.sharedSubscriptionAvailable, 0);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: '$share/g/x', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    const suback = await client.expect('suback');
    assert.deepEqual(suback.reasonCodes, [0x9e]);
    client.destroy();
    await started.stop();
  });
});
