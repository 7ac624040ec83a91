// What client libraries hide: alias misuse, receive-maximum overrun, QoS 2 duplicates,
// malformed packets mid-session (closed with the right reason code, others unaffected).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import type { Subscription } from '../../src/protocol/packets.js';

const sub = (topicFilter: string, qos: 0 | 1 | 2): Subscription => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 });

describe('protocol errors and exactly-once', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker({ limits: { receiveMaximum: 2, topicAliasMaximum: 5 } });
  });
  after(async () => {
    await started.stop();
  });

  test('[MQTT-4.3.3-10] a QoS 2 PUBLISH re-sent (DUP) before PUBREL is acknowledged but not delivered twice', async () => {
    const watcher = await connectCollecting(started.url, { clientId: 'q2-watch' });
    await watcher.client.subscribeAsync('q2/dup', { qos: 2 });
    const { client } = await RawClient.connected(started.port, { clientId: 'q2-pub' }, 4);
    const publish = { type: 'publish', topic: 'q2/dup', payload: Buffer.from('once'), qos: 2, retain: false, dup: false, packetId: 7 } as const;
    client.send(publish);
    assert.equal((await client.expect('pubrec')).packetId, 7);
    client.send({ ...publish, dup: true });
    assert.equal((await client.expect('pubrec')).packetId, 7);
    client.send({ type: 'pubrel', packetId: 7, reasonCode: 0 });
    assert.equal((await client.expect('pubcomp')).packetId, 7);
    // after PUBREL the id is free: the same id is a new message
    client.send({ ...publish, payload: Buffer.from('second') });
    await client.expect('pubrec');
    client.send({ type: 'pubrel', packetId: 7, reasonCode: 0 });
    await client.expect('pubcomp');
    await watcher.inbox.wait(2);
    await delay(50);
    assert.deepEqual(watcher.inbox.messages.map((message) => message.payload), ['once', 'second']);
    client.destroy();
    await closeClient(watcher.client);
  });

  test('v5 PUBREL for an unknown packet id gets PUBCOMP 0x92', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'unknown-rel' }, 5);
    client.send({ type: 'pubrel', packetId: 99, reasonCode: 0 });
    const pubcomp = await client.expect('pubcomp');
    assert.equal(pubcomp.reasonCode, 0x92);
    client.destroy();
  });

  test('[MQTT-3.3.4-7] v5 a client sending more QoS 1/2 publishes than Receive Maximum gets DISCONNECT 0x93', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'flood' }, 5);
    // QoS 2 publishes stay unacknowledged until PUBREL: the third exceeds Receive Maximum 2
    for (const packetId of [1, 2, 3]) {
      client.send({ type: 'publish', topic: 'flood', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId });
    }
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x93);
    await client.waitClosed();
  });

  test('v5 topic alias: set, then used with an empty topic', async () => {
    const watcher = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'alias-watch' });
    await watcher.client.subscribeAsync('alias/t', { qos: 0 });
    const { client } = await RawClient.connected(started.port, { clientId: 'aliaser' }, 5);
    client.send({ type: 'publish', topic: 'alias/t', payload: Buffer.from('1'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    client.send({ type: 'publish', topic: '', payload: Buffer.from('2'), qos: 0, retain: false, dup: false, properties: { topicAlias: 3 } });
    await watcher.inbox.wait(2);
    assert.deepEqual(watcher.inbox.messages.map((message) => [message.topic, message.payload]), [['alias/t', '1'], ['alias/t', '2']]);
    client.destroy();
    await closeClient(watcher.client);
  });

  test('[MQTT-3.3.2-9] v5 topic alias above Topic Alias Maximum: DISCONNECT 0x94', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'alias-big' }, 5);
    client.send({ type: 'publish', topic: 'a', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 6 } });
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x94);
    await client.waitClosed();
  });

  test('v5 unknown topic alias with an empty topic: DISCONNECT 0x82', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'alias-unknown' }, 5);
    client.send({ type: 'publish', topic: '', payload: Buffer.from('x'), qos: 0, retain: false, dup: false, properties: { topicAlias: 2 } });
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    await client.waitClosed();
  });

  test('malformed packet mid-session (v5): DISCONNECT 0x81, closed; the broker and other clients carry on', async () => {
    const bystander = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'bystander' });
    await bystander.client.subscribeAsync('still/#', { qos: 1 });
    const { client } = await RawClient.connected(started.port, { clientId: 'garbage' }, 5);
    // PUBLISH QoS 0 whose remaining length (5) ends inside the topic (length 0x10): malformed
    client.sendBytes('30 05 0010 6162 63');
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x81);
    await client.waitClosed();
    const { client: next } = await RawClient.connected(started.port, { clientId: 'next' }, 4);
    next.send({ type: 'publish', topic: 'still/alive', payload: Buffer.from('yes'), qos: 1, retain: false, dup: false, packetId: 1 });
    await next.expect('puback');
    const [message] = await bystander.inbox.wait(1);
    assert.equal(message!.payload, 'yes');
    next.destroy();
    await closeClient(bystander.client);
  });

  test('[MQTT-2.1.3-1] v4 SUBSCRIBE with wrong fixed-header flags closes the connection', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'flags' }, 4);
    client.sendBytes('80 06 0001 0001 61 00'); // flags 0000 instead of 0010
    await client.waitClosed();
    assert.equal(client.pending().length, 0);
  });

  test('v5 packet larger than Maximum Packet Size: DISCONNECT 0x95', async () => {
    const small = await startBroker({ limits: { maxPacketSize: 64 } });
    const { client } = await RawClient.connected(small.port, { clientId: 'big' }, 5);
    client.send({ type: 'publish', topic: 'big', payload: Buffer.alloc(100), qos: 0, retain: false, dup: false });
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x95);
    await client.waitClosed();
    await small.stop();
  });

  test('v5 subscription with an invalid filter gets 0x8F; v4 gets 0x80', async () => {
    const five = await RawClient.connected(started.port, { clientId: 'badfilter5' }, 5);
    five.client.send({ type: 'subscribe', packetId: 2, subscriptions: [sub('ok/#', 1), sub('$share/g', 1)] });
    assert.deepEqual((await five.client.expect('suback')).reasonCodes, [1, 0x8f]);
    five.client.destroy();
    const four = await RawClient.connected(started.port, { clientId: 'badfilter4' }, 4);
    four.client.send({ type: 'subscribe', packetId: 2, subscriptions: [sub('ok/#', 2), sub('$share/g', 1)] });
    assert.deepEqual((await four.client.expect('suback')).reasonCodes, [2, 0x80]);
    four.client.destroy();
  });

  test('[MQTT-3.10.4-5] UNSUBACK carries one reason code per filter (0x11 when there was none)', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'unsub' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('u/1', 0)] });
    await client.expect('suback');
    client.send({ type: 'unsubscribe', packetId: 2, topicFilters: ['u/1', 'u/2'] });
    const unsuback = await client.expect('unsuback');
    assert.equal(unsuback.packetId, 2);
    assert.deepEqual(unsuback.reasonCodes, [0x00, 0x11]);
    client.destroy();
  });

  test('clients may not publish to $SYS (v5 PUBACK 0x87)', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'sysfaker' }, 5);
    client.send({ type: 'publish', topic: '$SYS/broker/uptime', payload: Buffer.from('0'), qos: 1, retain: false, dup: false, packetId: 1 });
    const puback = await client.expect('puback');
    assert.equal(puback.reasonCode, 0x87);
    client.destroy();
  });

  test('v5 PUBACK 0x10 when nobody subscribes', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'lonely' }, 5);
    client.send({ type: 'publish', topic: 'nobody/listens', payload: Buffer.from('0'), qos: 1, retain: false, dup: false, packetId: 1 });
    const puback = await client.expect('puback');
    assert.equal(puback.reasonCode, 0x10);
    client.destroy();
  });
});
