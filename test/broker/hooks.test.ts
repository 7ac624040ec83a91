// The hooks API as the broker calls it: authorization (sync and async), events, drops.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import type { EnhancedAuthProvider, Hooks } from '../../src/hooks/hooks.js';

describe('hooks', () => {
  test('authorizePublish / authorizeSubscribe: deny gives 0x87 (v5) / 0x80 (v4 SUBACK); async answers keep packet order', async () => {
    const hooks: Hooks = {
      authorizePublish: (_client, packet) => (packet.topic.startsWith('private/') ? 'deny' : packet.topic.startsWith('slow/') ? new Promise((resolve) => setTimeout(() => resolve('allow'), 20)) : 'next'),
      authorizeSubscribe: (_client, subscription) => (subscription.topicFilter === 'secret' ? 'deny' : undefined),
    };
    const started = await startBroker({}, { hooks: [hooks] });
    const watcher = await connectCollecting(started.url, { protocolVersion: 5 });
    await watcher.client.subscribeAsync(['private/x', 'slow/x', 'fast/x'], { qos: 1 });
    const { client } = await RawClient.connected(started.port, { clientId: 'acl' }, 5);
    client.send({ type: 'publish', topic: 'private/x', payload: Buffer.from('no'), qos: 1, retain: false, dup: false, packetId: 1 });
    assert.equal((await client.expect('puback')).reasonCode, 0x87);
    client.send({ type: 'publish', topic: 'slow/x', payload: Buffer.from('first'), qos: 0, retain: false, dup: false });
    client.send({ type: 'publish', topic: 'fast/x', payload: Buffer.from('second'), qos: 0, retain: false, dup: false });
    await watcher.inbox.wait(2);
    assert.deepEqual(watcher.inbox.messages.map((message) => message.payload), ['first', 'second']);
    client.send({ type: 'subscribe', packetId: 2, subscriptions: [{ topicFilter: 'secret', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    assert.deepEqual((await client.expect('suback')).reasonCodes, [0x87]);
    const v4 = await RawClient.connected(started.port, { clientId: 'acl4' }, 4);
    v4.client.send({ type: 'subscribe', packetId: 3, subscriptions: [{ topicFilter: 'secret', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    assert.deepEqual((await v4.client.expect('suback')).reasonCodes, [0x80]);
    client.destroy();
    v4.client.destroy();
    await closeClient(watcher.client);
    await started.stop();
  });

  test('the will is authorized at CONNECT: a will the client may not publish refuses the connection', async () => {
    const started = await startBroker({}, { hooks: [{ authorizePublish: (_client, packet) => (packet.topic === 'forbidden/will' ? 'deny' : 'allow') }] });
    const refused = await RawClient.connected(started.port, { clientId: 'bad-will', will: { topic: 'forbidden/will', payload: Buffer.from('x'), qos: 0, retain: false } }, 5);
    assert.equal(refused.connack.type === 'connack' && refused.connack.reasonCode, 0x87);
    await refused.client.waitClosed();
    const refused4 = await RawClient.connected(started.port, { clientId: 'bad-will4', will: { topic: 'forbidden/will', payload: Buffer.from('x'), qos: 0, retain: false } }, 4);
    assert.equal(refused4.connack.type === 'connack' && refused4.connack.reasonCode, 5);
    const accepted = await RawClient.connected(started.port, { clientId: 'good-will', will: { topic: 'fine/will', payload: Buffer.from('x'), qos: 0, retain: false } }, 5);
    assert.equal(accepted.connack.type === 'connack' && accepted.connack.reasonCode, 0);
    accepted.client.destroy();
    await started.stop();
  });

  test('event hooks: connected, subscribed, published, delivered, unsubscribed, disconnected, dropped', async () => {
    const events: string[] = [];
    const hooks: Hooks = {
      onClientConnected: (client) => events.push(`connected ${client.clientId}`),
      onClientDisconnected: (client) => events.push(`disconnected ${client.clientId}`),
      onSubscribed: (client, subscription, granted) => events.push(`subscribed ${client.clientId} ${subscription.topicFilter} ${granted}`),
      onUnsubscribed: (client, filter) => events.push(`unsubscribed ${client.clientId} ${filter}`),
      onPublished: (client, packet) => events.push(`published ${client?.clientId} ${packet.topic}`),
      onDelivered: (client, packet) => events.push(`delivered ${client.clientId} ${packet.topic}`),
      onDropped: (clientId, _packet, reason) => events.push(`dropped ${clientId} ${reason}`),
    };
    const started = await startBroker({ limits: { maxQueuedMessages: 1 } }, { hooks: [hooks] });
    const subscriber = await connectCollecting(started.url, { clientId: 'ev-sub' });
    await subscriber.client.subscribeAsync('ev/t', { qos: 1 });
    const publisher = await connectClient(started.url, { clientId: 'ev-pub' });
    await publisher.publishAsync('ev/t', 'x', { qos: 1 });
    await subscriber.inbox.wait(1);
    await subscriber.client.unsubscribeAsync('ev/t');
    const offline = await connectClient(started.url, { clientId: 'ev-off', clean: false });
    await offline.subscribeAsync('ev/q', { qos: 1 });
    await closeClient(offline);
    await delay(50);
    await publisher.publishAsync('ev/q', '1', { qos: 1 });
    await publisher.publishAsync('ev/q', '2', { qos: 1 });
    await Promise.all([subscriber.client, publisher].map(closeClient));
    await delay(50);
    for (const expected of ['connected ev-sub', 'subscribed ev-sub ev/t 1', 'published ev-pub ev/t', 'delivered ev-sub ev/t', 'unsubscribed ev-sub ev/t', 'dropped ev-off queue-full', 'disconnected ev-pub']) {
      assert.ok(events.includes(expected), `missing "${expected}" in ${JSON.stringify(events)}`);
    }
    await started.stop();
  });

  test('a throwing event hook does not break the broker', async () => {
    const started = await startBroker({}, { hooks: [{ onClientConnected: () => { throw new Error('boom'); } }] });
    const client = await connectClient(started.url);
    await client.publishAsync('x', 'y', { qos: 1 });
    await closeClient(client);
    await started.stop();
  });
});

describe('enhanced authentication (AUTH)', () => {
  // A two-step challenge/response: client sends "hello", gets "challenge", answers "response".
  const provider: EnhancedAuthProvider = {
    method: 'TEST-CHALLENGE',
    begin: () => {
      let stage = 0;
      return {
        step: (data) => {
          const text = data?.toString();
          if (stage === 0 && text === 'hello') {
            stage = 1;
            return { result: 'continue', data: Buffer.from('challenge') };
          }
          if (stage === 1 && text === 'response') return { result: 'success', data: Buffer.from('welcome'), username: 'challenged' };
          return { result: 'fail', reasonCode: 0x87 };
        },
      };
    },
  };

  test('CONNECT with Authentication Method -> AUTH 0x18 exchange -> CONNACK; re-authentication with AUTH 0x19', async () => {
    const started = await startBroker({}, { enhancedAuth: [provider] });
    const client = await RawClient.open(started.port, 5);
    client.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'enh', properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('hello') } });
    const challenge = await client.expect('auth');
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationData?.toString(), 'challenge');
    client.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('response') } });
    const connack = await client.expect('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, 'TEST-CHALLENGE');
    assert.equal(connack.properties?.authenticationData?.toString(), 'welcome');
    client.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('hello') } });
    assert.equal((await client.expect('auth')).reasonCode, 0x18);
    client.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('response') } });
    assert.equal((await client.expect('auth')).reasonCode, 0x00);
    client.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'TEST-CHALLENGE', authenticationData: Buffer.from('wrong') } });
    assert.equal((await client.expect('disconnect')).reasonCode, 0x87);
    await client.waitClosed();
    await started.stop();
  });

  test('unknown Authentication Method: CONNACK 0x8C', async () => {
    const started = await startBroker({}, { enhancedAuth: [provider] });
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'x', properties: { authenticationMethod: 'NOPE' } }, 5);
    assert.equal(connack.type === 'connack' && connack.reasonCode, 0x8c);
    await client.waitClosed();
    await started.stop();
  });
});
