// Sessions: clean start, session present, offline queueing, redelivery, takeover, expiry.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import type { ConnackPacket, PublishPacket, Subscription } from '../../src/protocol/packets.js';

const sub = (topicFilter: string, qos: 0 | 1 | 2): Subscription => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 });

describe('sessions', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker({ limits: { maxQueuedMessages: 3 } });
  });
  after(async () => {
    await started.stop();
  });

  for (const protocolVersion of [4, 5] as const) {
    test(`[MQTT-3.2.2-2] v${protocolVersion} persistent session: session present and offline QoS 1 messages delivered on reconnect`, async () => {
      const clientId = `persist-${protocolVersion}`;
      const sessionOptions = protocolVersion === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await connectClient(started.url, { protocolVersion, clientId, clean: false, ...sessionOptions });
      await first.subscribeAsync('offline/topic', { qos: 1 });
      await closeClient(first);
      const publisher = await connectClient(started.url, { protocolVersion, clientId: `p-${clientId}` });
      await publisher.publishAsync('offline/topic', 'while away', { qos: 1 });
      await publisher.publishAsync('offline/topic', 'qos0 is not queued', { qos: 0 });
      const { client: second, inbox } = await connectCollecting(started.url, { protocolVersion, clientId, clean: false, ...sessionOptions });
      const messages = await inbox.wait(1);
      await delay(50);
      assert.deepEqual(messages.map((message) => message.payload), ['while away']);
      await Promise.all([closeClient(second), closeClient(publisher)]);
    });
  }

  test('[MQTT-3.2.2-1] clean session discards the previous session (session present 0)', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'cleaner', clean: false }, 4);
    first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('x', 1)] });
    await first.client.expect('suback');
    first.client.destroy();
    await delay(20);
    const again = await RawClient.connected(started.port, { clientId: 'cleaner', clean: false }, 4);
    assert.equal((again.connack as ConnackPacket).sessionPresent, true);
    again.client.destroy();
    await delay(20);
    const clean = await RawClient.connected(started.port, { clientId: 'cleaner', clean: true }, 4);
    assert.equal((clean.connack as ConnackPacket).sessionPresent, false);
    clean.client.destroy();
    await delay(20);
    const after = await RawClient.connected(started.port, { clientId: 'cleaner', clean: false }, 4);
    assert.equal((after.connack as ConnackPacket).sessionPresent, false, 'clean session state ended with its connection');
    after.client.destroy();
  });

  test('[MQTT-4.4.0-1] unacknowledged QoS 1 messages are re-sent with DUP, same ids, in order on reconnect', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'dup-order', clean: false }, 4);
    first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('dup/t', 1)] });
    await first.client.expect('suback');
    const publisher = await connectClient(started.url, { clientId: 'dup-pub' });
    for (const payload of ['one', 'two', 'three']) await publisher.publishAsync('dup/t', payload, { qos: 1 });
    const sent: PublishPacket[] = [];
    for (let index = 0; index < 3; index++) sent.push(await first.client.expect('publish'));
    assert.deepEqual(sent.map((packet) => packet.dup), [false, false, false]);
    first.client.destroy(); // no PUBACK
    await delay(30);
    const second = await RawClient.connected(started.port, { clientId: 'dup-order', clean: false }, 4);
    assert.equal((second.connack as ConnackPacket).sessionPresent, true);
    const resent: PublishPacket[] = [];
    for (let index = 0; index < 3; index++) resent.push(await second.client.expect('publish'));
    assert.deepEqual(resent.map((packet) => packet.payload.toString()), ['one', 'two', 'three']);
    assert.deepEqual(resent.map((packet) => packet.dup), [true, true, true]); // [MQTT-3.3.1-1]
    assert.deepEqual(resent.map((packet) => packet.packetId), sent.map((packet) => packet.packetId));
    for (const packet of resent) second.client.send({ type: 'puback', packetId: packet.packetId!, reasonCode: 0 });
    assert.deepEqual(await second.client.quiet(50), []);
    second.client.destroy();
    await closeClient(publisher);
  });

  test('[MQTT-4.4.0-1] PUBREL is re-sent on reconnect for a QoS 2 message released but not completed', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'rel-resend', clean: false }, 4);
    first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('rel/t', 2)] });
    await first.client.expect('suback');
    const publisher = await connectClient(started.url, { clientId: 'rel-pub' });
    await publisher.publishAsync('rel/t', 'q2', { qos: 2 });
    const publish = await first.client.expect('publish');
    first.client.send({ type: 'pubrec', packetId: publish.packetId!, reasonCode: 0 });
    const pubrel = await first.client.expect('pubrel');
    assert.equal(pubrel.packetId, publish.packetId);
    first.client.destroy();
    await delay(30);
    const second = await RawClient.connected(started.port, { clientId: 'rel-resend', clean: false }, 4);
    const again = await second.client.expect('pubrel');
    assert.equal(again.packetId, publish.packetId);
    second.client.send({ type: 'pubcomp', packetId: publish.packetId!, reasonCode: 0 });
    assert.deepEqual(await second.client.quiet(50), []);
    second.client.destroy();
    await closeClient(publisher);
  });

  test('the offline queue is bounded by limits.maxQueuedMessages (oldest kept)', async () => {
    const first = await connectClient(started.url, { clientId: 'bounded', clean: false });
    await first.subscribeAsync('bounded/t', { qos: 1 });
    await closeClient(first);
    const publisher = await connectClient(started.url, { clientId: 'bounded-pub' });
    for (let index = 0; index < 6; index++) await publisher.publishAsync('bounded/t', `m${index}`, { qos: 1 });
    const { client: second, inbox } = await connectCollecting(started.url, { clientId: 'bounded', clean: false });
    await inbox.wait(3);
    await delay(50);
    assert.deepEqual(inbox.messages.map((message) => message.payload), ['m0', 'm1', 'm2']);
    await Promise.all([closeClient(second), closeClient(publisher)]);
  });

  test('[MQTT-3.1.4-3] v5 takeover: the first connection gets DISCONNECT 0x8E and the session moves over', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'taken', clean: false, properties: { sessionExpiryInterval: 60 } }, 5);
    first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('take/t', 1)] });
    await first.client.expect('suback');
    const second = await RawClient.connected(started.port, { clientId: 'taken', clean: false, properties: { sessionExpiryInterval: 60 } }, 5);
    const disconnect = await first.client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x8e);
    await first.client.waitClosed();
    assert.equal((second.connack as ConnackPacket).sessionPresent, true);
    const publisher = await connectClient(started.url, { clientId: 'take-pub' });
    await publisher.publishAsync('take/t', 'to the new one', { qos: 1 });
    const publish = await second.client.expect('publish');
    assert.equal(publish.payload.toString(), 'to the new one');
    second.client.destroy();
    await closeClient(publisher);
  });

  test('[MQTT-3.1.4-3] v4 takeover closes the first connection', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'taken4' }, 4);
    const second = await RawClient.connected(started.port, { clientId: 'taken4' }, 4);
    await first.client.waitClosed();
    assert.equal(second.client.closed, false);
    second.client.destroy();
  });

  test('[MQTT-3.1.2-23] v5 session expiry: the session survives the interval, then ends', async () => {
    const options = { clientId: 'expiring', clean: false, properties: { sessionExpiryInterval: 1 } };
    const first = await RawClient.connected(started.port, options, 5);
    first.client.destroy();
    await delay(300);
    const within = await RawClient.connected(started.port, options, 5);
    assert.equal((within.connack as ConnackPacket).sessionPresent, true);
    within.client.destroy();
    await delay(1300);
    const afterExpiry = await RawClient.connected(started.port, options, 5);
    assert.equal((afterExpiry.connack as ConnackPacket).sessionPresent, false);
    afterExpiry.client.destroy();
  });

  test('v5 DISCONNECT may change the session expiry, but not from 0 (§3.14.2.2.2, no statement id)', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'shorten', clean: false, properties: { sessionExpiryInterval: 60 } }, 5);
    first.client.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 0 } });
    await first.client.waitClosed();
    await delay(20);
    const again = await RawClient.connected(started.port, { clientId: 'shorten', clean: false, properties: { sessionExpiryInterval: 0 } }, 5);
    assert.equal((again.connack as ConnackPacket).sessionPresent, false);
    again.client.send({ type: 'disconnect', reasonCode: 0, properties: { sessionExpiryInterval: 30 } });
    const disconnect = await again.client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    await again.client.waitClosed();
  });
});
