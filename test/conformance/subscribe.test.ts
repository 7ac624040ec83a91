// Conformance, SUBSCRIBE / UNSUBSCRIBE and shared subscriptions (MQTT 3.1.1 §3.8-3.11;
// MQTT 5.0 §3.8-3.11, §4.8): broker-side statements not already covered by test/broker/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import type { PublishPacket } from '../../src/protocol/packets.js';
import { publish, publishAndAck, receive, silence, sub, subscriber, waitFor } from './raw-helpers.js';

describe('conformance: SUBSCRIBE and UNSUBSCRIBE', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await started.stop();
  });

  for (const version of [4, 5] as const) {
    const failure = version === 5 ? 0x8f : 0x80;

    test(`[MQTT-3.8.4-1] [MQTT-3.8.4-2] [MQTT-3.10.4-4] [MQTT-2.2.1-6] [MQTT-2.3.1-7] v${version} SUBACK and UNSUBACK carry the packet id of their request`, async () => {
      const { client } = await RawClient.connected(started.port, { clientId: `ack-ids-${version}` }, version);
      client.send({ type: 'subscribe', packetId: 31337, subscriptions: [sub('ack-ids/t', 1)] });
      assert.equal((await client.expect('suback')).packetId, 31337);
      client.send({ type: 'unsubscribe', packetId: 65535, topicFilters: ['ack-ids/t'] });
      assert.equal((await client.expect('unsuback')).packetId, 65535);
      client.destroy();
    });

    test(`[MQTT-3.8.4-4] [MQTT-3.8.4-5] [MQTT-3.8.4-6] [MQTT-3.8.4-7] [MQTT-3.9.3-1] [MQTT-3.9.3-2] v${version} several filters: one SUBACK with one code per filter, in order, each subscription made`, async () => {
      const { client } = await RawClient.connected(started.port, { clientId: `multi-sub-${version}` }, version);
      client.send({ type: 'subscribe', packetId: 2, subscriptions: [sub('multi/a', 2), sub('multi/#/bad', 1), sub('multi/b', 0), sub('multi/c', 1)] });
      const suback = await client.expect('suback');
      assert.deepEqual(suback.reasonCodes, [2, failure, 0, 1]);
      assert.deepEqual((await silence(client, 50)).filter((packet) => packet.type === 'suback'), [], 'a single SUBACK');
      const { client: publisher } = await RawClient.connected(started.port, { clientId: `multi-pub-${version}` }, version);
      for (const topic of ['multi/a', 'multi/b', 'multi/c']) await publishAndAck(publisher, publish(topic, topic, 2));
      const received = await receive(client, 3);
      assert.deepEqual(received.map((packet) => [packet.topic, packet.qos]), [['multi/a', 2], ['multi/b', 0], ['multi/c', 1]]);
      client.destroy();
      publisher.destroy();
    });

    test(`[MQTT-3.8.4-3] v${version} a SUBSCRIBE with an identical filter replaces the subscription: new QoS, one copy, retained re-sent`, async () => {
      const topic = `replace-sub/${version}`;
      const { client: publisher } = await RawClient.connected(started.port, { clientId: `replace-sub-pub-${version}` }, version);
      await publishAndAck(publisher, publish(topic, 'retained', 1, { retain: true }));
      const { client } = await RawClient.connected(started.port, { clientId: `replace-sub-${version}` }, version);
      client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub(topic, 2)] });
      await client.expect('suback');
      assert.equal((await receive(client, 1))[0]!.retain, true);
      client.send({ type: 'subscribe', packetId: 2, subscriptions: [sub(topic, 0)] });
      assert.deepEqual((await client.expect('suback')).reasonCodes, [0]);
      const again = (await receive(client, 1))[0]!;
      assert.deepEqual([again.payload.toString(), again.retain], ['retained', true], 'retained message re-sent');
      await publishAndAck(publisher, publish(topic, 'live', 2));
      const live = await receive(client, 1);
      assert.deepEqual(live.map((packet) => [packet.payload.toString(), packet.qos]), [['live', 0]]);
      assert.deepEqual(await silence(client), [], 'one subscription, one copy');
      client.destroy();
      publisher.destroy();
    });

    test(`[MQTT-3.10.4-1] [MQTT-3.10.4-2] v${version} UNSUBSCRIBE compares filters character by character; a deleted subscription gets no new messages`, async () => {
      const { client } = await RawClient.connected(started.port, { clientId: `unsub-exact-${version}` }, version);
      client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('unsub/+', 1)] });
      await client.expect('suback');
      client.send({ type: 'unsubscribe', packetId: 2, topicFilters: ['unsub/#', 'unsub/x', 'Unsub/+'] });
      const unsuback = await client.expect('unsuback');
      if (version === 5) assert.deepEqual(unsuback.reasonCodes, [0x11, 0x11, 0x11]);
      const { client: publisher } = await RawClient.connected(started.port, { clientId: `unsub-exact-pub-${version}` }, version);
      await publishAndAck(publisher, publish('unsub/x', 'still subscribed', 1));
      assert.equal((await receive(client, 1))[0]!.payload.toString(), 'still subscribed');
      client.send({ type: 'unsubscribe', packetId: 3, topicFilters: ['unsub/+'] });
      const deleted = await client.expect('unsuback');
      if (version === 5) assert.deepEqual(deleted.reasonCodes, [0]);
      await publishAndAck(publisher, publish('unsub/x', 'after unsubscribe', 1));
      assert.deepEqual(await silence(client), []);
      client.destroy();
      publisher.destroy();
    });

    test(`[MQTT-3.10.4-3] v${version} after UNSUBSCRIBE the server completes a QoS 2 delivery it had started`, async () => {
      const { client } = await RawClient.connected(started.port, { clientId: `unsub-inflight-${version}` }, version);
      client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('unsub-inflight/t', 2)] });
      await client.expect('suback');
      const { client: publisher } = await RawClient.connected(started.port, { clientId: `unsub-inflight-pub-${version}` }, version);
      await publishAndAck(publisher, publish('unsub-inflight/t', 'in flight', 2));
      const message = await client.expect('publish');
      client.send({ type: 'unsubscribe', packetId: 2, topicFilters: ['unsub-inflight/t'] });
      await client.expect('unsuback');
      client.send({ type: 'pubrec', packetId: message.packetId!, reasonCode: 0 });
      const pubrel = await client.expect('pubrel');
      assert.equal(pubrel.packetId, message.packetId);
      client.send({ type: 'pubcomp', packetId: pubrel.packetId, reasonCode: 0 });
      assert.deepEqual(await silence(client), []);
      client.destroy();
      publisher.destroy();
    });

    test(`[MQTT-4.8.2-1] [MQTT-4.8.2-2] v${version} malformed shared subscription filters are refused`, async () => {
      const { client } = await RawClient.connected(started.port, { clientId: `bad-share-${version}` }, version);
      client.send({ type: 'subscribe', packetId: 1, subscriptions: ['$share//t', '$share/g+/t', '$share/g#/t', '$share/g', '$share/g/'].map((filter) => sub(filter, 0)) });
      const suback = await client.expect('suback');
      assert.equal(suback.reasonCodes.length, 5);
      assert.deepEqual(suback.reasonCodes.slice(0, 4), [failure, failure, failure, failure]);
      client.destroy();
    });

    test(`[MQTT-4.8.2-3] v${version} a shared subscription member receives at its granted QoS`, async () => {
      const member = await subscriber(started.port, `share-qos-${version}`, [sub('$share/qos/share-qos/t', 0)], version);
      const { client: publisher } = await RawClient.connected(started.port, { clientId: `share-qos-pub-${version}` }, version);
      await publishAndAck(publisher, publish('share-qos/t', 'downgraded', 2));
      const [message] = await receive(member, 1);
      assert.equal(message!.qos, 0);
      member.destroy();
      publisher.destroy();
    });
  }

  test('[MQTT-3.10.4-6] [MQTT-3.11.3-1] v5 several filters in one UNSUBSCRIBE: one UNSUBACK, codes in order', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'multi-unsub' }, 5);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('mu/a', 0), sub('mu/c', 0)] });
    await client.expect('suback');
    client.send({ type: 'unsubscribe', packetId: 2, topicFilters: ['mu/a', 'mu/b', 'mu/c'] });
    assert.deepEqual((await client.expect('unsuback')).reasonCodes, [0, 0x11, 0]);
    assert.deepEqual((await silence(client, 50)).filter((packet) => packet.type === 'unsuback'), []);
    client.destroy();
  });
});

describe('conformance: wildcard subscriptions unavailable', () => {
  test('[MQTT-3.8.3-2] wildcards disabled: v4 SUBACK 0x80; v5 refused with 0xA2', async () => {
    const started = await startBroker({ mqtt: { wildcardSubscriptionAvailable: false } });
    const four = await RawClient.connected(started.port, { clientId: 'no-wild4' }, 4);
    four.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('w/+', 0), sub('w/#', 0), sub('w/plain', 1)] });
    assert.deepEqual((await four.client.expect('suback')).reasonCodes, [0x80, 0x80, 1]);
    four.client.destroy();
    const five = await RawClient.connected(started.port, { clientId: 'no-wild5' }, 5);
    five.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('w/+', 0)] });
    const answer = await five.client.next();
    if (answer.type === 'suback') assert.deepEqual(answer.reasonCodes, [0xa2]);
    else assert.deepEqual([answer.type, answer.type === 'disconnect' && answer.reasonCode], ['disconnect', 0xa2]);
    five.client.destroy();
    await started.stop();
  });
});

describe('conformance: shared subscription delivery', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await started.stop();
  });

  test('[MQTT-4.8.2-6] v5 a member answering PUBACK 0x80 ends the message: it is not sent to another member', async () => {
    const members = await Promise.all(['a', 'b'].map((name) => subscriber(started.port, `nack-member-${name}`, [sub('$share/nack/nack-share/t', 1)], 5)));
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'nack-share-pub' }, 5);
    await publishAndAck(publisher, publish('nack-share/t', 'refused once', 1));
    await waitFor(() => members.some((member) => member.pending().some((packet) => packet.type === 'publish')));
    const chosen = members.find((member) => member.pending().some((packet) => packet.type === 'publish'))!;
    const refused: PublishPacket = await chosen.expect('publish');
    chosen.send({ type: 'puback', packetId: refused.packetId!, reasonCode: 0x80 });
    const other = members.find((member) => member !== chosen)!;
    assert.deepEqual((await silence(other, 300)).filter((packet) => packet.type === 'publish'), []);
    assert.deepEqual((await silence(chosen, 50)).filter((packet) => packet.type === 'publish'), []);
    for (const member of members) member.destroy();
    publisher.destroy();
  });

  test(
    '[MQTT-4.8.2-4] v5 a QoS 2 message in flight to a shared member whose connection breaks is completed with that member on reconnect, not sent to another',
    async () => {
      const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
      const members = await Promise.all(['a', 'b'].map((name) => subscriber(started.port, `q2-member-${name}`, [sub('$share/q2/q2-share/t', 2)], 5, persistent)));
      const { client: publisher } = await RawClient.connected(started.port, { clientId: 'q2-share-pub' }, 5);
      await publishAndAck(publisher, publish('q2-share/t', 'exactly once', 2));
      await waitFor(() => members.some((member) => member.pending().some((packet) => packet.type === 'publish')));
      const chosenIndex = members.findIndex((member) => member.pending().some((packet) => packet.type === 'publish'));
      const chosen = members[chosenIndex]!;
      const original = await chosen.expect('publish');
      chosen.destroy(); // no PUBREC: delivery not complete
      await chosen.waitClosed();
      const other = members[1 - chosenIndex]!;
      assert.deepEqual((await silence(other, 300)).filter((packet) => packet.type === 'publish'), [], 'not sent to the other member');
      const back = await RawClient.connected(started.port, { clientId: `q2-member-${chosenIndex === 0 ? 'a' : 'b'}`, ...persistent }, 5);
      const again = await back.client.expect('publish');
      assert.equal(again.packetId, original.packetId);
      assert.equal(again.payload.toString(), 'exactly once');
      back.client.destroy();
      other.destroy();
      publisher.destroy();
    },
  );

  test('[MQTT-4.8.2-5] v5 a QoS 2 message in flight to a shared member whose session then ends is not sent to another member', async () => {
    const shortLived = { clean: false, properties: { sessionExpiryInterval: 1 } };
    const members = await Promise.all(['a', 'b'].map((name) => subscriber(started.port, `q2-ending-${name}`, [sub('$share/q2e/q2-ending/t', 2)], 5, shortLived)));
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'q2-ending-pub' }, 5);
    await publishAndAck(publisher, publish('q2-ending/t', 'at most once to the group', 2));
    await waitFor(() => members.some((member) => member.pending().some((packet) => packet.type === 'publish')));
    const chosenIndex = members.findIndex((member) => member.pending().some((packet) => packet.type === 'publish'));
    const chosen = members[chosenIndex]!;
    await chosen.expect('publish');
    chosen.destroy(); // no PUBREC, and the session expires 1 s later
    await chosen.waitClosed();
    const other = members[1 - chosenIndex]!;
    assert.deepEqual((await silence(other, 1600)).filter((packet) => packet.type === 'publish'), [], 'not sent to the other member');
    other.destroy();
    publisher.destroy();
  });
});
