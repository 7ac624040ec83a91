// The broker and its Store: acknowledgements only after whenDurable (group commit), what is
// recorded, refusal when the store is not writable, and recovery at start-up.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { RecordingStore } from '../helpers/recording-store.js';
import { delay } from '../helpers/mqtt-client.js';
import type { ConnackPacket, Subscription } from '../../src/protocol/packets.js';
import type { StoredMessage } from '../../src/store/store.js';

const sub = (topicFilter: string, qos: 0 | 1 | 2): Subscription => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 });

describe('store integration', () => {
  test('PUBACK waits for whenDurable; one whenDurable covers the acks of one turn; the queued message was recorded first', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    const offline = await RawClient.connected(started.port, { clientId: 'durable-sub', clean: false }, 4);
    offline.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('d/t', 1)] });
    await offline.client.expect('suback');
    offline.client.destroy();
    await delay(30);
    store.hold = true;
    const { client } = await RawClient.connected(started.port, { clientId: 'durable-pub' }, 4);
    const before = store.calls.length;
    client.sendBytes(Buffer.concat([1, 2, 3].map((packetId) => publishBytes('d/t', packetId))));
    await delay(60);
    assert.deepEqual(client.pending(), [], 'no PUBACK before the store is durable');
    const issued = store.names().slice(before);
    assert.deepEqual(issued.filter((name) => name === 'whenDurable').length, 1);
    assert.ok(issued.lastIndexOf('putOutgoing') < issued.indexOf('whenDurable'));
    assert.equal(issued.filter((name) => name === 'putOutgoing').length, 3);
    store.release();
    for (const packetId of [1, 2, 3]) assert.equal((await client.expect('puback')).packetId, packetId);
    client.destroy();
    store.hold = false;
    await started.stop();
  });

  test('exactly once across a crash: QoS 2 PUBLISH to a persistent session, PUBREL and PUBCOMP wait for whenDurable', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    const subscriber = await RawClient.connected(started.port, { clientId: 'q2-durable-sub', clean: false }, 4);
    subscriber.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('q2d/t', 2)] });
    await subscriber.client.expect('suback');
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'q2-durable-pub' }, 4);
    store.hold = true;
    publisher.send({ type: 'publish', topic: 'q2d/t', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 4 });
    await delay(40);
    assert.deepEqual(subscriber.client.pending(), [], 'no PUBLISH to the subscriber before durability');
    assert.deepEqual(publisher.pending(), [], 'no PUBREC before durability');
    store.release();
    await publisher.expect('pubrec');
    const publish = await subscriber.client.expect('publish');
    publisher.send({ type: 'pubrel', packetId: 4, reasonCode: 0 });
    subscriber.client.send({ type: 'pubrec', packetId: publish.packetId!, reasonCode: 0 });
    await delay(40);
    assert.deepEqual(publisher.pending(), [], 'no PUBCOMP before the id release is durable');
    assert.deepEqual(subscriber.client.pending(), [], 'no PUBREL before the released state is durable');
    store.release();
    await publisher.expect('pubcomp');
    await subscriber.client.expect('pubrel');
    store.hold = false;
    publisher.destroy();
    subscriber.client.destroy();
    await started.stop();
  });

  test('a QoS 1 message does not overtake a QoS 2 message waiting for durability (same topic, same publisher)', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    const subscriber = await RawClient.connected(started.port, { clientId: 'order-durable-sub', clean: false }, 4);
    subscriber.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('ord/t', 2)] });
    await subscriber.client.expect('suback');
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'order-durable-pub' }, 4);
    store.hold = true;
    publisher.send({ type: 'publish', topic: 'ord/t', payload: Buffer.from('first'), qos: 2, retain: false, dup: false, packetId: 1 });
    publisher.send({ type: 'publish', topic: 'ord/t', payload: Buffer.from('second'), qos: 1, retain: false, dup: false, packetId: 2 });
    await delay(60);
    assert.deepEqual(subscriber.client.pending(), [], 'nothing reaches the subscriber before the QoS 2 record is durable');
    store.hold = false;
    store.release();
    const first = await subscriber.client.expect('publish');
    const second = await subscriber.client.expect('publish');
    assert.deepEqual([first.payload.toString(), second.payload.toString()], ['first', 'second']);
    publisher.destroy();
    subscriber.client.destroy();
    await started.stop();
  });

  test('a failed whenDurable means no PUBACK (v5: DISCONNECT 0x80)', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    store.hold = true;
    const { client } = await RawClient.connected(started.port, { clientId: 'fails' }, 5);
    client.send({ type: 'publish', topic: 'f', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 1 });
    await delay(30);
    store.release(new Error('disk full'));
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x80);
    store.hold = false;
    await started.stop();
  });

  test('store not writable: v5 QoS 1 publish refused with PUBACK 0x97, QoS 0 still flows', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    store.writable = false;
    const { client } = await RawClient.connected(started.port, { clientId: 'quota' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('w/t', 0)] });
    await client.expect('suback');
    client.send({ type: 'publish', topic: 'w/t', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 1 });
    assert.equal((await client.expect('puback')).reasonCode, 0x97);
    client.send({ type: 'publish', topic: 'w/t', payload: Buffer.from('zero'), qos: 0, retain: false, dup: false });
    assert.equal((await client.expect('publish')).payload.toString(), 'zero');
    client.destroy();
    await started.stop();
  });

  test('persistent session state is recorded: session, incoming QoS 2 ids, retained, outgoing deleted on ack', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    const { client } = await RawClient.connected(started.port, { clientId: 'recorded', clean: false }, 4);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('r/t', 1)] });
    await client.expect('suback');
    assert.ok(store.calls.some(([name, record]) => name === 'putSession' && (record as { subscriptions: unknown[] }).subscriptions.length === 1));
    client.send({ type: 'publish', topic: 'r/t', payload: Buffer.from('x'), qos: 2, retain: true, dup: false, packetId: 5 });
    await client.expect('pubrec');
    assert.ok(store.calls.some(([name, clientId, packetId]) => name === 'putIncomingQoS2' && clientId === 'recorded' && packetId === 5));
    assert.ok(store.calls.some(([name, topic]) => name === 'putRetained' && topic === 'r/t'));
    client.send({ type: 'pubrel', packetId: 5, reasonCode: 0 });
    await client.expect('pubcomp');
    assert.ok(store.calls.some(([name]) => name === 'deleteIncomingQoS2'));
    const publish = await client.expect('publish');
    client.send({ type: 'puback', packetId: publish.packetId!, reasonCode: 0 });
    await delay(30);
    assert.ok(store.calls.some(([name, clientId]) => name === 'deleteOutgoing' && clientId === 'recorded'));
    client.destroy();
    await started.stop();
  });

  test('on resume, an in-flight QoS 2 PUBLISH is re-sent only after the store is durable, and nothing overtakes it', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    try {
      const options = { clientId: 'resume-q2', clean: false, properties: { sessionExpiryInterval: 60 } };
      const first = await RawClient.connected(started.port, options, 5);
      first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('resume/q2', 2), sub('resume/q1', 1)] });
      await first.client.expect('suback');
      const { client: publisher } = await RawClient.connected(started.port, { clientId: 'resume-pub' }, 5);
      publisher.send({ type: 'publish', topic: 'resume/q2', payload: Buffer.from('exactly once'), qos: 2, retain: false, dup: false, packetId: 1 });
      await publisher.expect('pubrec');
      const original = await first.client.expect('publish');
      first.client.destroy(); // no PUBREC
      await first.client.waitClosed();
      await delay(30);
      store.hold = true;
      const second = await RawClient.connected(started.port, options, 5);
      publisher.send({ type: 'publish', topic: 'resume/q1', payload: Buffer.from('later'), qos: 1, retain: false, dup: false, packetId: 2 });
      await delay(60);
      assert.deepEqual(second.client.pending().filter((packet) => packet.type === 'publish'), [], 'nothing sent before the durability point');
      store.release();
      const again = await second.client.expect('publish');
      assert.equal(again.packetId, original.packetId);
      assert.equal(again.dup, true);
      store.hold = false;
      store.release();
      assert.equal((await second.client.expect('publish')).payload.toString(), 'later');
      second.client.destroy();
      publisher.destroy();
    } finally {
      store.hold = false;
      store.release();
      await started.stop();
    }
  });

  test('a session that becomes persistent on takeover records what it holds; becoming non-persistent deletes it', async () => {
    const store = new RecordingStore();
    const started = await startBroker({ limits: { maxInflight: 1 } }, { store });
    try {
      const transient = await RawClient.connected(started.port, { clientId: 'turning', clean: false, properties: { sessionExpiryInterval: 0 } }, 5);
      transient.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('turn/t', 1)] });
      await transient.client.expect('suback');
      transient.client.send({ type: 'publish', topic: 'turn/t', payload: Buffer.from('in flight'), qos: 1, retain: false, dup: false, packetId: 7 });
      await transient.client.expect('puback');
      await transient.client.expect('publish'); // not acknowledged: stays in flight
      assert.deepEqual(store.calls.filter((call) => call[1] === 'turning' || (call[0] === 'putSession' && (call[1] as { clientId: string }).clientId === 'turning')), [], 'nothing recorded while not persistent');

      const before = store.calls.length;
      const persistent = await RawClient.connected(started.port, { clientId: 'turning', clean: false, properties: { sessionExpiryInterval: 60 } }, 5);
      assert.equal((persistent.connack as ConnackPacket).sessionPresent, true);
      const recorded = store.calls.slice(before);
      const sessionRecord = recorded.find((call) => call[0] === 'putSession')?.[1] as { clientId: string; expiryInterval: number; subscriptions: Subscription[] } | undefined;
      assert.equal(sessionRecord?.expiryInterval, 60);
      assert.deepEqual(sessionRecord?.subscriptions.map((subscription) => subscription.topicFilter), ['turn/t']);
      const outgoing = recorded.filter((call) => call[0] === 'putOutgoing' && call[1] === 'turning').map((call) => call[2] as { state: string; packetId?: number });
      assert.equal(outgoing.length, 1);
      assert.equal(outgoing[0]!.state, 'sent');
      const resent = await persistent.client.expect('publish');
      assert.equal(resent.dup, true);

      const again = store.calls.length;
      persistent.client.destroy();
      await persistent.client.waitClosed();
      const back = await RawClient.connected(started.port, { clientId: 'turning', clean: false, properties: { sessionExpiryInterval: 0 } }, 5);
      assert.ok(store.calls.slice(again).some((call) => call[0] === 'deleteSession' && call[1] === 'turning'), 'deleted from the store once not persistent');
      back.client.destroy();
    } finally {
      await started.stop(); // also when an assertion failed, so the file still exits
    }
  });

  test('start-up restores sessions, queued messages in order, retained messages and drops expired state', async () => {
    const now = Date.now();
    const message = (payload: string, expiresAt?: number): StoredMessage => ({ topic: 'rec/t', payload: Buffer.from(payload), qos: 1, retain: false, receivedAt: now - 1000, expiresAt });
    const store = new RecordingStore({
      sessions: [
        { clientId: 'restored', protocolVersion: 4, expiryInterval: 0xffffffff, subscriptions: [{ topicFilter: 'rec/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }], disconnectedAt: now - 5000 },
        { clientId: 'expired', protocolVersion: 5, expiryInterval: 1, subscriptions: [], disconnectedAt: now - 5000 },
      ],
      outgoing: new Map([
        [
          'restored',
          [
            { seq: 1, message: message('first'), qos: 1, retain: false, packetId: 9, state: 'sent' },
            { seq: 2, message: message('stale', now - 10), qos: 1, retain: false, state: 'queued' },
            { seq: 3, message: message('second'), qos: 1, retain: false, state: 'queued' },
          ],
        ],
      ]),
      retained: [
        { topic: 'kept/r', payload: Buffer.from('r'), qos: 0, retain: true, receivedAt: now },
        { topic: 'old/r', payload: Buffer.from('r'), qos: 0, retain: true, receivedAt: now, expiresAt: now - 1 },
      ],
    });
    const started = await startBroker({}, { store });
    assert.ok(store.calls.some(([name, clientId]) => name === 'deleteSession' && clientId === 'expired'));
    assert.equal(started.broker.stats().retainedCount, 1);
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'restored', clean: false }, 4);
    assert.equal((connack as ConnackPacket).sessionPresent, true);
    const first = await client.expect('publish');
    assert.deepEqual([first.payload.toString(), first.dup, first.packetId], ['first', true, 9]);
    const second = await client.expect('publish');
    assert.equal(second.payload.toString(), 'second');
    assert.notEqual(second.packetId, 9);
    client.destroy();
    await started.stop();
  });
});

function publishBytes(topic: string, packetId: number): Buffer {
  const topicBytes = Buffer.from(topic);
  const payload = Buffer.from('p');
  const body = Buffer.concat([Buffer.from([topicBytes.length >> 8, topicBytes.length & 0xff]), topicBytes, Buffer.from([packetId >> 8, packetId & 0xff]), payload]);
  return Buffer.concat([Buffer.from([0x32, body.length]), body]);
}
