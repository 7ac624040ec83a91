// MQTT 5 features: subscription identifiers and overlapping subscriptions, no local,
// request/response, user properties and pass-through properties, message expiry,
// maximum packet size towards a subscriber, outbound topic aliases.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import type { Subscription } from '../../src/protocol/packets.js';

const sub = (topicFilter: string, qos: 0 | 1 | 2, extra: Partial<Subscription> = {}): Subscription => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0, ...extra });

describe('MQTT 5 features', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await started.stop();
  });

  test('[MQTT-3.3.4-2] [MQTT-3.3.4-3] overlapping subscriptions: one delivery at the highest QoS with every subscription identifier', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'overlap' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('ov/+', 0)], properties: { subscriptionIdentifiers: [11] } });
    await client.expect('suback');
    client.send({ type: 'subscribe', packetId: 2, subscriptions: [sub('ov/#', 2)], properties: { subscriptionIdentifiers: [22] } });
    await client.expect('suback');
    client.send({ type: 'subscribe', packetId: 3, subscriptions: [sub('ov/x', 1)] });
    await client.expect('suback');
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('ov/x', 'once', { qos: 2 });
    const publish = await client.expect('publish');
    assert.equal(publish.qos, 2);
    assert.deepEqual([...(publish.properties?.subscriptionIdentifiers ?? [])].sort(), [11, 22]);
    assert.deepEqual(await client.quiet(60), []);
    client.destroy();
    await closeClient(publisher);
  });

  test('v4 overlapping subscriptions are delivered once at the highest granted QoS', async () => {
    const subscriber = await connectCollecting(started.url, { protocolVersion: 4 });
    await subscriber.client.subscribeAsync({ 'ov4/+': { qos: 0 }, 'ov4/#': { qos: 1 } });
    const publisher = await connectClient(started.url, { protocolVersion: 4 });
    await publisher.publishAsync('ov4/a', 'x', { qos: 1 });
    await subscriber.inbox.wait(1);
    await delay(50);
    assert.equal(subscriber.inbox.messages.length, 1);
    assert.equal(subscriber.inbox.messages[0]!.packet.qos, 1);
    await Promise.all([subscriber.client, publisher].map(closeClient));
  });

  test('[MQTT-3.8.3-3] No Local: a client does not receive its own messages', async () => {
    const self = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'nolocal' });
    await self.client.subscribeAsync('nl/t', { qos: 1, nl: true });
    await self.client.subscribeAsync('nl/echo', { qos: 1 });
    await self.client.publishAsync('nl/t', 'mine', { qos: 1 });
    await self.client.publishAsync('nl/echo', 'echo', { qos: 1 });
    await self.inbox.wait(1);
    await delay(50);
    assert.deepEqual(self.inbox.messages.map((message) => message.payload), ['echo']);
    await closeClient(self.client);
  });

  test('request/response: response topic, correlation data, user properties, content type and payload format pass through unchanged', async () => {
    const responder = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'responder' });
    await responder.client.subscribeAsync('svc/request', { qos: 1 });
    const requester = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'requester' });
    await requester.client.subscribeAsync('svc/reply/requester', { qos: 1 });
    await requester.client.publishAsync('svc/request', '{"q":1}', {
      qos: 1,
      properties: {
        responseTopic: 'svc/reply/requester',
        correlationData: Buffer.from('abc'),
        userProperties: { trace: ['t1', 't2'], app: 'x' },
        contentType: 'application/json',
        payloadFormatIndicator: true,
      },
    });
    const [request] = await responder.inbox.wait(1);
    const properties = request!.packet.properties!;
    assert.equal(properties.responseTopic, 'svc/reply/requester');
    assert.equal(Buffer.from(properties.correlationData!).toString(), 'abc');
    assert.deepEqual({ ...properties.userProperties }, { trace: ['t1', 't2'], app: 'x' });
    assert.equal(properties.contentType, 'application/json');
    assert.equal(properties.payloadFormatIndicator, true);
    await responder.client.publishAsync(properties.responseTopic!, 'answer', { qos: 1, properties: { correlationData: properties.correlationData } });
    const [reply] = await requester.inbox.wait(1);
    assert.equal(reply!.payload, 'answer');
    assert.equal(Buffer.from(reply!.packet.properties!.correlationData!).toString(), 'abc');
    await Promise.all([responder.client, requester.client].map(closeClient));
  });

  test('[MQTT-3.3.2-6] message expiry is decremented when forwarded, and expired messages are dropped from queues', async () => {
    const offline = await connectClient(started.url, { protocolVersion: 5, clientId: 'exp-offline', clean: false, properties: { sessionExpiryInterval: 60 } });
    await offline.subscribeAsync('exp/q', { qos: 1 });
    await closeClient(offline);
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('exp/q', 'short', { qos: 1, properties: { messageExpiryInterval: 1 } });
    await publisher.publishAsync('exp/q', 'long', { qos: 1, properties: { messageExpiryInterval: 60 } });
    await delay(1200);
    const back = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'exp-offline', clean: false, properties: { sessionExpiryInterval: 60 } });
    const [message] = await back.inbox.wait(1);
    await delay(50);
    assert.equal(back.inbox.messages.length, 1);
    assert.equal(message!.payload, 'long');
    const left = message!.packet.properties?.messageExpiryInterval ?? 0;
    assert.ok(left >= 58 && left <= 59, `remaining ${left}`);
    await Promise.all([back.client, publisher].map(closeClient));
  });

  test('[MQTT-3.1.2-25] a message larger than the subscriber Maximum Packet Size is not sent to it', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'tiny', properties: { maximumPacketSize: 40 } }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('size/#', 1)] });
    await client.expect('suback');
    const roomy = await connectCollecting(started.url, { protocolVersion: 5 });
    await roomy.client.subscribeAsync('size/#', { qos: 1 });
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('size/big', 'x'.repeat(100), { qos: 1 });
    await publisher.publishAsync('size/small', 'ok', { qos: 1 });
    await roomy.inbox.wait(2);
    const publish = await client.expect('publish');
    assert.equal(publish.payload.toString(), 'ok');
    client.send({ type: 'puback', packetId: publish.packetId!, reasonCode: 0 });
    assert.deepEqual(await client.quiet(50), []);
    client.destroy();
    await Promise.all([roomy.client, publisher].map(closeClient));
  });

  test('[MQTT-3.3.2-8] outbound topic aliases: the broker assigns one per topic up to the client maximum', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'aliased', properties: { topicAliasMaximum: 1 } }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('oa/#', 0)] });
    await client.expect('suback');
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('oa/one', '1', { qos: 1 });
    await publisher.publishAsync('oa/one', '2', { qos: 1 });
    await publisher.publishAsync('oa/two', '3', { qos: 1 });
    const first = await client.expect('publish');
    const second = await client.expect('publish');
    const third = await client.expect('publish');
    assert.equal(first.topic, 'oa/one');
    assert.equal(first.properties?.topicAlias, 1);
    assert.equal(second.topic, '');
    assert.equal(second.properties?.topicAlias, 1);
    assert.equal(third.topic, 'oa/two');
    assert.equal(third.properties?.topicAlias, undefined);
    client.destroy();
    await closeClient(publisher);
  });

  test('[MQTT-3.3.4-9] the broker sends no more unacknowledged QoS 1 messages than the client Receive Maximum', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'window', properties: { receiveMaximum: 2 } }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('win/t', 1)] });
    await client.expect('suback');
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    for (let index = 0; index < 5; index++) await publisher.publishAsync('win/t', String(index), { qos: 1 });
    const firstTwo = await client.quiet(80);
    assert.deepEqual(firstTwo.map((packet) => packet.type === 'publish' && packet.payload.toString()), ['0', '1']);
    for (const packet of firstTwo) if (packet.type === 'publish') client.send({ type: 'puback', packetId: packet.packetId!, reasonCode: 0 });
    const next = await client.quiet(80);
    assert.deepEqual(next.map((packet) => packet.type === 'publish' && packet.payload.toString()), ['2', '3']);
    client.destroy();
    await closeClient(publisher);
  });

  test('subscription identifiers disabled: SUBSCRIBE with one is DISCONNECT 0xA1', async () => {
    const noIds = await startBroker({ mqtt: { subscriptionIdentifiersAvailable: false } });
    const { client } = await RawClient.connected(noIds.port, { clientId: 'ids' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('x', 0)], properties: { subscriptionIdentifiers: [1] } });
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0xa1);
    await client.waitClosed();
    await noIds.stop();
  });

  test('[MQTT-4.7.2-1] $-topics are not matched by filters starting with a wildcard', async () => {
    const subscriber = await connectCollecting(started.url, { protocolVersion: 5 });
    await subscriber.client.subscribeAsync(['#', '+/x'], { qos: 0 });
    started.broker.publish({ topic: '$internal/x', payload: Buffer.from('hidden'), qos: 0, retain: false, receivedAt: Date.now() }, undefined);
    started.broker.publish({ topic: 'plain/x', payload: Buffer.from('visible'), qos: 0, retain: false, receivedAt: Date.now() }, undefined);
    await subscriber.inbox.wait(1);
    await delay(50);
    assert.deepEqual(subscriber.inbox.messages.map((message) => message.payload), ['visible']);
    await closeClient(subscriber.client);
  });
});
