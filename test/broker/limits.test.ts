// Configurable limits and capabilities: Maximum QoS, wildcard availability, caps on session
// expiry and keepalive, 3.1.1 inflight window, subscription quota, QoS 0 queueing,
// authentication expiry.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import type { ConnackPacket, Subscription } from '../../src/protocol/packets.js';

const sub = (topicFilter: string, qos: 0 | 1 | 2): Subscription => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 });

describe('limits and capabilities', () => {
  test('[MQTT-3.2.2-11] Maximum QoS 1: SUBSCRIBE QoS 2 is granted 1; a v5 QoS 2 PUBLISH gets DISCONNECT 0x9B', async () => {
    const started = await startBroker({ mqtt: { maximumQoS: 1 } });
    const { client } = await RawClient.connected(started.port, { clientId: 'maxqos' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('mq/t', 2)] });
    assert.deepEqual((await client.expect('suback')).reasonCodes, [1]);
    client.send({ type: 'publish', topic: 'mq/t', payload: Buffer.from('x'), qos: 2, retain: false, dup: false, packetId: 1 });
    assert.equal((await client.expect('disconnect')).reasonCode, 0x9b);
    await client.waitClosed();
    await started.stop();
  });

  test('wildcard subscriptions disabled: SUBACK 0xA2 and CONNACK says so', async () => {
    const started = await startBroker({ mqtt: { wildcardSubscriptionAvailable: false } });
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'nowild' }, 5);
    assert.equal((connack as ConnackPacket).properties?.wildcardSubscriptionAvailable, 0);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('a/+', 0), sub('a/b', 0)] });
    assert.deepEqual((await client.expect('suback')).reasonCodes, [0xa2, 0]);
    client.destroy();
    await started.stop();
  });

  test('session expiry above limits.maxSessionExpiry is capped and told in CONNACK; keepalive capped by limits.maxKeepAlive', async () => {
    const started = await startBroker({ limits: { maxSessionExpiry: 100, maxKeepAlive: 30 } });
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'caps', keepalive: 0, properties: { sessionExpiryInterval: 5000 } }, 5);
    assert.equal((connack as ConnackPacket).properties?.sessionExpiryInterval, 100);
    assert.equal((connack as ConnackPacket).properties?.serverKeepAlive, 30);
    assert.equal(started.broker.sessions.get('caps')?.expiryInterval, 100);
    client.destroy();
    await started.stop();
  });

  test('3.1.1 outbound inflight window is limits.maxInflight', async () => {
    const started = await startBroker({ limits: { maxInflight: 2 } });
    const { client } = await RawClient.connected(started.port, { clientId: 'win4' }, 4);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('w4', 1)] });
    await client.expect('suback');
    const publisher = await connectClient(started.url);
    for (let index = 0; index < 4; index++) await publisher.publishAsync('w4', String(index), { qos: 1 });
    const first = await client.quiet(80);
    assert.equal(first.length, 2);
    for (const packet of first) if (packet.type === 'publish') client.send({ type: 'puback', packetId: packet.packetId!, reasonCode: 0 });
    assert.equal((await client.quiet(80)).length, 2);
    client.destroy();
    await closeClient(publisher);
    await started.stop();
  });

  test('limits.maxSubscriptionsPerClient: beyond it SUBACK 0x97 (v5)', async () => {
    const started = await startBroker({ limits: { maxSubscriptionsPerClient: 2 } });
    const { client } = await RawClient.connected(started.port, { clientId: 'quota' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('q/1', 0), sub('q/2', 0), sub('q/3', 0), sub('q/1', 1)] });
    assert.deepEqual((await client.expect('suback')).reasonCodes, [0, 0, 0x97, 1]);
    client.destroy();
    await started.stop();
  });

  test('mqtt.queueQoS0: QoS 0 messages are queued for offline persistent sessions', async () => {
    const started = await startBroker({ mqtt: { queueQoS0: true } });
    const first = await connectClient(started.url, { clientId: 'q0', clean: false });
    await first.subscribeAsync('q0/t', { qos: 0 });
    await closeClient(first);
    await delay(30);
    const publisher = await connectClient(started.url);
    await publisher.publishAsync('q0/t', 'kept', { qos: 0 });
    await delay(30);
    const back = await connectCollecting(started.url, { clientId: 'q0', clean: false });
    const [message] = await back.inbox.wait(1);
    assert.equal(message!.payload, 'kept');
    await Promise.all([back.client, publisher].map(closeClient));
    await started.stop();
  });

  test('UNSUBSCRIBE stops delivery', async () => {
    const started = await startBroker();
    const subscriber = await connectCollecting(started.url, { protocolVersion: 5 });
    await subscriber.client.subscribeAsync('un/t', { qos: 1 });
    await subscriber.client.unsubscribeAsync('un/t');
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('un/t', 'x', { qos: 1 });
    await delay(60);
    assert.equal(subscriber.inbox.messages.length, 0);
    assert.equal(started.broker.stats().subscriptionsCount, 0);
    await Promise.all([subscriber.client, publisher].map(closeClient));
    await started.stop();
  });

  test('an authentication with expiresAt is closed when it expires (v5 DISCONNECT 0x87)', async () => {
    const started = await startBroker({}, { hooks: [{ authenticate: () => ({ result: 'allow', expiresAt: Date.now() + 200 }) }] });
    const { client } = await RawClient.connected(started.port, { clientId: 'expiring-token' }, 5);
    assert.equal((await client.expect('disconnect', 2000)).reasonCode, 0x87);
    await client.waitClosed();
    await started.stop();
  });

  test('topics deeper than limits.maxTopicLevels are refused (v5 PUBACK 0x90)', async () => {
    const started = await startBroker({ limits: { maxTopicLevels: 3 } });
    const { client } = await RawClient.connected(started.port, { clientId: 'deep' }, 5);
    client.send({ type: 'publish', topic: 'a/b/c/d', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 1 });
    assert.equal((await client.expect('puback')).reasonCode, 0x90);
    client.destroy();
    await started.stop();
  });
});
