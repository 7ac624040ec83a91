// Retained messages: store, replace, delete, retain handling, expiry, limits.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import type { Subscription } from '../../src/protocol/packets.js';

describe('retained messages', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker({ limits: { maxRetainedMessages: 50 } });
  });
  after(async () => {
    await started.stop();
  });

  for (const protocolVersion of [4, 5] as const) {
    test(`[MQTT-3.3.1-5] [MQTT-3.3.1-8] v${protocolVersion} a retained message goes to a new subscriber with RETAIN=1; the live copy with RETAIN=0`, async () => {
      const publisher = await connectClient(started.url, { protocolVersion });
      const live = await connectCollecting(started.url, { protocolVersion });
      await live.client.subscribeAsync(`keep/${protocolVersion}/#`, { qos: 1 });
      await publisher.publishAsync(`keep/${protocolVersion}/a`, 'old', { qos: 1, retain: true });
      await publisher.publishAsync(`keep/${protocolVersion}/a`, 'new', { qos: 1, retain: true });
      await live.inbox.wait(2);
      assert.deepEqual(live.inbox.messages.map((message) => message.packet.retain), [false, false]); // [MQTT-3.3.1-9]
      const late = await connectCollecting(started.url, { protocolVersion });
      await late.client.subscribeAsync(`keep/${protocolVersion}/+`, { qos: 1 });
      const [message] = await late.inbox.wait(1);
      assert.equal(message!.payload, 'new');
      assert.equal(message!.packet.retain, true);
      assert.equal(message!.packet.qos, 1);
      await Promise.all([closeClient(publisher), closeClient(live.client), closeClient(late.client)]);
    });
  }

  test('[MQTT-3.3.1-10] [MQTT-3.3.1-11] an empty retained payload deletes the retained message and is not stored', async () => {
    const publisher = await connectClient(started.url);
    await publisher.publishAsync('gone/x', 'here', { qos: 1, retain: true });
    await publisher.publishAsync('gone/x', '', { qos: 1, retain: true });
    const late = await connectCollecting(started.url);
    await late.client.subscribeAsync('gone/#', { qos: 1 });
    await delay(80);
    assert.equal(late.inbox.messages.length, 0);
    await Promise.all([closeClient(publisher), closeClient(late.client)]);
  });

  test('[MQTT-3.3.1-9] [MQTT-3.3.1-10] v5 retain handling 0 sends on every subscribe, 1 only when new, 2 never', async () => {
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('rh/t', 'retained', { qos: 0, retain: true });
    const subscriber = await connectCollecting(started.url, { protocolVersion: 5 });
    await subscriber.client.subscribeAsync('rh/t', { qos: 0, rh: 0 });
    await subscriber.client.subscribeAsync('rh/t', { qos: 0, rh: 0 });
    await subscriber.inbox.wait(2);
    await subscriber.client.subscribeAsync('rh/+', { qos: 0, rh: 1 });
    await subscriber.inbox.wait(3);
    await subscriber.client.subscribeAsync('rh/+', { qos: 0, rh: 1 });
    await subscriber.client.subscribeAsync('rh/#', { qos: 0, rh: 2 });
    await delay(80);
    assert.equal(subscriber.inbox.messages.length, 3);
    await Promise.all([closeClient(publisher), closeClient(subscriber.client)]);
  });

  test('v5 retain-as-published keeps the RETAIN flag on live delivery [MQTT-3.3.1-13]', async () => {
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    const subscriber = await connectCollecting(started.url, { protocolVersion: 5 });
    await subscriber.client.subscribeAsync('rap/t', { qos: 0, rap: true, rh: 2 });
    await publisher.publishAsync('rap/t', 'x', { qos: 0, retain: true });
    const [message] = await subscriber.inbox.wait(1);
    assert.equal(message!.packet.retain, true);
    await Promise.all([closeClient(publisher), closeClient(subscriber.client)]);
  });

  test('[MQTT-3.3.2-5] a retained message past its Message Expiry Interval is not delivered', async () => {
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('exp/retained', 'short', { qos: 0, retain: true, properties: { messageExpiryInterval: 1 } });
    await delay(1100);
    const late = await connectCollecting(started.url, { protocolVersion: 5 });
    await late.client.subscribeAsync('exp/retained', { qos: 0 });
    await delay(60);
    assert.equal(late.inbox.messages.length, 0);
    await Promise.all([closeClient(publisher), closeClient(late.client)]);
  });

  test('a retained message delivered on subscribe carries the remaining expiry interval', async () => {
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('exp/left', 'x', { qos: 0, retain: true, properties: { messageExpiryInterval: 100 } });
    await delay(1100);
    const late = await connectCollecting(started.url, { protocolVersion: 5 });
    await late.client.subscribeAsync('exp/left', { qos: 0 });
    const [message] = await late.inbox.wait(1);
    const left = message!.packet.properties?.messageExpiryInterval ?? 0;
    assert.ok(left >= 98 && left <= 99, `remaining ${left}`);
    await Promise.all([closeClient(publisher), closeClient(late.client)]);
  });

  test('no retained message for a shared subscription', async () => {
    const publisher = await connectClient(started.url, { protocolVersion: 5 });
    await publisher.publishAsync('shr/t', 'x', { qos: 0, retain: true });
    const subscriber = await connectCollecting(started.url, { protocolVersion: 5 });
    await subscriber.client.subscribeAsync('$share/g/shr/t', { qos: 0 });
    await delay(60);
    assert.equal(subscriber.inbox.messages.length, 0);
    await Promise.all([closeClient(publisher), closeClient(subscriber.client)]);
  });
});

describe('retained limits', () => {
  test('beyond limits.maxRetainedMessages a message is delivered but not retained', async () => {
    const started = await startBroker({ limits: { maxRetainedMessages: 2 } });
    const publisher = await connectClient(started.url);
    for (const topic of ['l/1', 'l/2', 'l/3']) await publisher.publishAsync(topic, topic, { qos: 1, retain: true });
    assert.equal(started.broker.stats().retainedCount, 2);
    // replacing an existing one is still allowed
    await publisher.publishAsync('l/1', 'again', { qos: 1, retain: true });
    const late = await RawClient.connected(started.port, { clientId: 'late' }, 4);
    const subscription: Subscription = { topicFilter: 'l/#', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 };
    late.client.send({ type: 'subscribe', packetId: 1, subscriptions: [subscription] });
    await late.client.expect('suback');
    const payloads = [(await late.client.expect('publish')).payload.toString(), (await late.client.expect('publish')).payload.toString()];
    assert.deepEqual(payloads.sort(), ['again', 'l/2']);
    late.client.destroy();
    await closeClient(publisher);
    await started.stop();
  });
});
