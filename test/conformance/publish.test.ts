// Conformance, PUBLISH and the QoS flows (MQTT 3.1.1 §3.3, §4.3-4.6; MQTT 5.0 §3.3-3.7, §4.3-4.6):
// broker-side statements not already covered by test/broker/.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { encodePacket } from '../../src/protocol/encoder.js';
import type { ConnackPacket, PublishPacket } from '../../src/protocol/packets.js';
import { publish, publishAndAck, receive, silence, sub, subscriber } from './raw-helpers.js';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('conformance: PUBLISH', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker({ limits: { topicAliasMaximum: 3 } });
  });
  after(async () => {
    await started.stop();
  });

  for (const version of [4, 5] as const) {
    test(`[MQTT-3.3.4-1] [MQTT-4.3.2-4] [MQTT-4.3.3-8] [MQTT-4.3.3-11] [MQTT-2.2.1-5] [MQTT-2.3.1-6] v${version} each QoS gets its response, carrying the PUBLISH packet id`, async () => {
      const { client } = await RawClient.connected(started.port, { clientId: `responses-${version}` }, version);
      client.send(publish('responses/t', 'q0', 0));
      client.send(publish('responses/t', 'q1', 1, { packetId: 4242 }));
      assert.equal((await client.expect('puback')).packetId, 4242);
      client.send(publish('responses/t', 'q2', 2, { packetId: 777 }));
      assert.equal((await client.expect('pubrec')).packetId, 777);
      client.send({ type: 'pubrel', packetId: 777, reasonCode: 0 });
      assert.equal((await client.expect('pubcomp')).packetId, 777);
      assert.deepEqual(await silence(client, 100), [], 'nothing answers QoS 0');
      client.destroy();
    });

    test(`[MQTT-4.6.0-2] [MQTT-4.6.0-3] v${version} acknowledgements of a burst come in PUBLISH order, with their reason codes`, async () => {
      const watcher = await subscriber(started.port, `ack-order-watch-${version}`, [sub('ack-order/heard', 1)], version);
      const { client } = await RawClient.connected(started.port, { clientId: `ack-order-${version}` }, version);
      // One write: QoS 1 and 2 to a topic with a subscriber and to one without (5.0: 0x10).
      const burst: Buffer[] = [];
      const expected: Array<{ type: string; packetId: number; reasonCode: number }> = [];
      for (let packetId = 1; packetId <= 60; packetId++) {
        const heard = packetId % 3 !== 0;
        const qos = packetId % 4 === 0 ? 2 : 1;
        burst.push(encodePacket(publish(heard ? 'ack-order/heard' : 'ack-order/unheard', `m${packetId}`, qos, { packetId }), version));
        expected.push({ type: qos === 1 ? 'puback' : 'pubrec', packetId, reasonCode: version === 5 && !heard ? 0x10 : 0 });
      }
      client.sendBytes(Buffer.concat(burst));
      const acks: Array<{ type: string; packetId: number; reasonCode: number }> = [];
      while (acks.length < expected.length) {
        const packet = await client.next();
        if (packet.type === 'puback' || packet.type === 'pubrec') acks.push({ type: packet.type, packetId: packet.packetId, reasonCode: packet.reasonCode ?? 0 });
      }
      assert.deepEqual(acks, expected);
      assert.equal((await receive(watcher, 40)).length, 40);
      client.destroy();
      watcher.destroy();
    });

    test(`[MQTT-3.3.1-3] v${version} the DUP flag of a forwarded PUBLISH does not copy the incoming one`, async () => {
      const watcher = await subscriber(started.port, `dup-watch-${version}`, [sub('dup-in/t', 1)], version);
      const { client } = await RawClient.connected(started.port, { clientId: `dup-in-${version}` }, version);
      await publishAndAck(client, publish('dup-in/t', 'redelivered by the client', 1, { dup: true, packetId: 3 }));
      const [message] = await receive(watcher, 1);
      assert.equal(message!.dup, false);
      client.destroy();
      watcher.destroy();
    });

    test(`[MQTT-3.3.1-5] [MQTT-3.3.1-6] [MQTT-3.3.1-7] v${version} a retained message replaces the previous one (QoS 0 too); a new subscriber gets only the last`, async () => {
      const topic = `replace/${version}`;
      const { client } = await RawClient.connected(started.port, { clientId: `replacer-${version}` }, version);
      await publishAndAck(client, publish(topic, 'first', 1, { retain: true }));
      await publishAndAck(client, publish(topic, 'second', 0, { retain: true }));
      await delay(50);
      const late = await subscriber(started.port, `replace-late-${version}`, [sub(topic, 2)], version);
      const [message] = await receive(late, 1);
      assert.equal(message!.payload.toString(), 'second');
      assert.equal(message!.qos, 0);
      assert.equal(message!.retain, true);
      assert.deepEqual(await silence(late), []);
      client.destroy();
      late.destroy();
    });

    test(`[MQTT-3.3.1-12] [MQTT-3.3.1-8] v${version} a PUBLISH with RETAIN 0 neither stores nor replaces the retained message`, async () => {
      const topic = `keep-retained/${version}`;
      const { client } = await RawClient.connected(started.port, { clientId: `keeper-${version}` }, version);
      await publishAndAck(client, publish(topic, 'retained one', 1, { retain: true }));
      await publishAndAck(client, publish(topic, 'live one', 1));
      const late = await subscriber(started.port, `keeper-late-${version}`, [sub(topic, 1)], version);
      const received = await receive(late, 1);
      assert.deepEqual(received.map((packet) => packet.payload.toString()), ['retained one']);
      assert.deepEqual(await silence(late), []);
      client.destroy();
      late.destroy();
    });

    test(`[MQTT-3.3.2-3] v${version} the Topic Name sent to a subscriber is the published one and matches its filter`, async () => {
      const watcher = await subscriber(started.port, `match-${version}`, [sub('sport/+/score', 0), sub('news/#', 0)], version);
      const { client } = await RawClient.connected(started.port, { clientId: `match-pub-${version}` }, version);
      const topics = ['sport/tennis/score', 'sport/tennis/player', 'news', 'news/a/b', 'sport/score', 'newsroom'];
      for (const topic of topics) client.send(publish(topic, topic, 0));
      const received = await receive(watcher, 3);
      assert.deepEqual(received.map((packet) => packet.topic), ['sport/tennis/score', 'news', 'news/a/b']);
      assert.deepEqual(await silence(watcher), []);
      client.destroy();
      watcher.destroy();
    });

    test(`[MQTT-4.3.2-5] v${version} after PUBACK the same packet id is a new message, DUP or not`, async () => {
      const watcher = await subscriber(started.port, `reuse1-watch-${version}`, [sub('reuse1/t', 1)], version);
      const { client } = await RawClient.connected(started.port, { clientId: `reuse1-${version}` }, version);
      await publishAndAck(client, publish('reuse1/t', 'a', 1, { packetId: 5 }));
      await publishAndAck(client, publish('reuse1/t', 'b', 1, { packetId: 5, dup: true }));
      assert.deepEqual((await receive(watcher, 2)).map((packet) => packet.payload.toString()), ['a', 'b']);
      client.destroy();
      watcher.destroy();
    });

    test(`[MQTT-4.6.0-5] [MQTT-4.6.0-6] v${version} messages of one client on one topic reach a subscriber in the order sent, per QoS`, async () => {
      const watcher = await subscriber(started.port, `order-watch-${version}`, [sub('order/#', 2)], version);
      const { client } = await RawClient.connected(started.port, { clientId: `order-pub-${version}` }, version);
      const sent: string[] = [];
      for (let index = 1; index <= 30; index++) {
        const qos = (index % 3) as 0 | 1 | 2;
        sent.push(`${qos}:${index}`);
        // Sent back to back, without waiting for acknowledgements (within Receive Maximum).
        client.send(publish(`order/q${qos}`, `${qos}:${index}`, qos, qos > 0 ? { packetId: index } : {}));
      }
      // Release the QoS 2 messages as their PUBRECs come.
      for (let released = 0; released < 10; released++) {
        const pubrec = await client.expect('pubrec');
        client.send({ type: 'pubrel', packetId: pubrec.packetId, reasonCode: 0 });
      }
      const received = (await receive(watcher, 30)).map((packet) => packet.payload.toString());
      for (const qos of [0, 1, 2]) {
        const prefix = `${qos}:`;
        assert.deepEqual(received.filter((payload) => payload.startsWith(prefix)), sent.filter((payload) => payload.startsWith(prefix)), `QoS ${qos} order`);
      }
      client.destroy();
      watcher.destroy();
    });

    test(`[MQTT-4.3.1-1] [MQTT-4.3.2-1] [MQTT-4.3.2-2] [MQTT-4.3.3-1] [MQTT-4.3.3-2] [MQTT-2.2.1-2] [MQTT-2.2.1-4] [MQTT-2.3.1-4] [MQTT-2.3.1-5] v${version} server PUBLISH: QoS 0 without packet id, QoS 1/2 with distinct unused non-zero ids, DUP 0`, async () => {
      const { client: watcher } = await RawClient.connected(started.port, { clientId: `ids-watch-${version}` }, version);
      watcher.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('ids/#', 2)] });
      await watcher.expect('suback');
      const { client } = await RawClient.connected(started.port, { clientId: `ids-pub-${version}` }, version);
      for (let index = 1; index <= 12; index++) await publishAndAck(client, publish('ids/t', `m${index}`, (index % 3) as 0 | 1 | 2, { packetId: index }));
      const received: PublishPacket[] = [];
      for (let index = 0; index < 12; index++) received.push(await watcher.expect('publish'));
      // Nothing acknowledged yet: every QoS 1/2 id is in use at once, so all must differ.
      const ids = received.filter((packet) => packet.qos > 0).map((packet) => packet.packetId);
      assert.equal(ids.length, 8);
      assert.equal(new Set(ids).size, ids.length);
      assert.ok(ids.every((id) => id !== undefined && id > 0 && id <= 0xffff));
      for (const packet of received) {
        assert.equal(packet.dup, false);
        if (packet.qos === 0) assert.equal(packet.packetId, undefined);
      }
      client.destroy();
      watcher.destroy();
    });

    test(`[MQTT-3.1.2-5] [MQTT-4.5.0-1] v${version} QoS 1 and QoS 2 messages published while a persistent session is offline are delivered on return, in order`, async () => {
      const clientId = `offline-q12-${version}`;
      const persistent = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await subscriber(started.port, clientId, [sub('offline-q12/t', 2)], version, { clean: false, ...persistent });
      first.destroy();
      await first.waitClosed();
      const { client } = await RawClient.connected(started.port, { clientId: `offline-q12-pub-${version}` }, version);
      for (const [index, qos] of ([1, 2, 1, 2] as const).entries()) await publishAndAck(client, publish('offline-q12/t', `m${index}`, qos, { packetId: index + 1 }));
      const second = await RawClient.connected(started.port, { clientId, clean: false, ...persistent }, version);
      const received = await receive(second.client, 4);
      assert.deepEqual(received.map((packet) => [packet.payload.toString(), packet.qos]), [['m0', 1], ['m1', 2], ['m2', 1], ['m3', 2]]);
      second.client.destroy();
      client.destroy();
    });

    test(`[MQTT-4.3.2-3] [MQTT-4.3.3-3] v${version} a QoS 2 PUBLISH not yet PUBREC'd is re-sent on reconnect (same id, DUP 1)`, async () => {
      const clientId = `q2-resend-${version}`;
      const persistent = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await subscriber(started.port, clientId, [sub('q2-resend/t', 2)], version, { clean: false, ...persistent });
      const { client } = await RawClient.connected(started.port, { clientId: `q2-resend-pub-${version}` }, version);
      await publishAndAck(client, publish('q2-resend/t', 'two', 2));
      const original = await first.expect('publish');
      first.destroy();
      await first.waitClosed();
      const second = await RawClient.connected(started.port, { clientId, clean: false, ...persistent }, version);
      const again = await second.client.expect('publish');
      assert.equal(again.packetId, original.packetId);
      assert.equal(again.dup, true);
      assert.equal(again.payload.toString(), 'two');
      second.client.destroy();
      client.destroy();
    });
  }

  test('[MQTT-3.3.5-2] v4 a PUBLISH the server does not authorize is acknowledged, or the connection closed', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'unauthorized4' }, 4);
    client.send(publish('$SYS/not-yours', 'x', 1, { packetId: 12 }));
    const answer = await client.next(undefined, 2000).catch(() => undefined);
    if (answer === undefined) await client.waitClosed();
    else assert.deepEqual([answer.type, answer.type === 'puback' && answer.packetId], ['puback', 12]);
    client.destroy();
  });

  test('[MQTT-3.3.4-6] [MQTT-3.3.4-3] v5 a Subscription Identifier sent by a publisher (a client-side violation) is not forwarded', async () => {
    const watcher = await subscriber(started.port, 'sub-id-watch', [sub('sub-id/t', 0)], 5);
    const { client } = await RawClient.connected(started.port, { clientId: 'sub-id-publisher' }, 5);
    client.send(publish('sub-id/t', 'x', 0, { properties: { subscriptionIdentifiers: [3] } }));
    const [message] = await receive(watcher, 1);
    assert.equal(message!.properties?.subscriptionIdentifiers, undefined);
    client.destroy();
    watcher.destroy();
  });

  test('[MQTT-3.3.2-2] [MQTT-4.7.0-1] a PUBLISH Topic Name with a wildcard: v5 DISCONNECT 0x90, v4 closed', async () => {
    const five = await RawClient.connected(started.port, { clientId: 'wild-pub5' }, 5);
    five.client.sendBytes('30 06 0003 612f2b 00'); // PUBLISH QoS 0, topic "a/+", no properties
    assert.equal((await five.client.expect('disconnect')).reasonCode, 0x90);
    await five.client.waitClosed();
    const four = await RawClient.connected(started.port, { clientId: 'wild-pub4' }, 4);
    four.client.sendBytes('30 05 0003 612f23'); // topic "a/#"
    await four.client.waitClosed();
    assert.deepEqual(four.client.pending(), []);
  });

  test('[MQTT-4.7.3-1] v4 a PUBLISH with an empty Topic Name closes the connection', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'empty-topic4' }, 4);
    client.sendBytes('30 02 0000');
    await client.waitClosed();
  });

  test('[MQTT-4.7.3-4] topic names and filters are matched without normalisation', async () => {
    const watcher = await subscriber(started.port, 'no-normal', [sub('Norm/\u00e9', 0)], 5);
    const { client } = await RawClient.connected(started.port, { clientId: 'no-normal-pub' }, 5);
    for (const topic of ['Norm/e\u0301', 'norm/\u00e9', 'Norm/\u00e9/', 'Norm//\u00e9', 'Norm/\u00c9', 'Norm/\u00e9']) client.send(publish(topic, topic, 0));
    const received = await receive(watcher, 1);
    assert.equal(received[0]!.topic, 'Norm/\u00e9');
    assert.deepEqual(await silence(watcher), []);
    client.destroy();
    watcher.destroy();
  });

  test('[MQTT-3.3.2-4] [MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-18] [MQTT-3.3.2-20] v5 PUBLISH properties are forwarded unaltered, user properties in order with repeats', async () => {
    const watcher = await subscriber(started.port, 'props-watch', [sub('props/t', 1)], 5);
    const { client } = await RawClient.connected(started.port, { clientId: 'props-pub' }, 5);
    const properties = {
      payloadFormatIndicator: 1,
      contentType: 'text/plain; charset=utf-8',
      responseTopic: 'props/reply',
      correlationData: Buffer.from([0, 1, 2, 255]),
      userProperties: [['b', '1'], ['a', '2'], ['b', '3'], ['', '']] as Array<[string, string]>,
    };
    await publishAndAck(client, publish('props/t', 'x', 1, { properties }));
    const [message] = await receive(watcher, 1);
    assert.equal(message!.properties?.payloadFormatIndicator, 1);
    assert.equal(message!.properties?.contentType, properties.contentType);
    assert.equal(message!.properties?.responseTopic, properties.responseTopic);
    assert.deepEqual(message!.properties?.correlationData, properties.correlationData);
    assert.deepEqual(message!.properties?.userProperties, properties.userProperties);
    client.destroy();
    watcher.destroy();
  });

  test('[MQTT-3.3.2-7] v5 topic aliases do not carry over to a new connection', async () => {
    const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await RawClient.connected(started.port, { clientId: 'alias-carry', ...persistent }, 5);
    first.client.send(publish('alias/carry', 'sets alias 1', 0, { properties: { topicAlias: 1 } }));
    first.client.send({ type: 'pingreq' });
    await first.client.expect('pingresp');
    first.client.destroy();
    await first.client.waitClosed();
    const second = await RawClient.connected(started.port, { clientId: 'alias-carry', ...persistent }, 5);
    assert.equal((second.connack as ConnackPacket).sessionPresent, true);
    second.client.send(publish('', 'uses alias 1', 0, { properties: { topicAlias: 1 } }));
    assert.equal((await second.client.expect('disconnect')).reasonCode, 0x82);
    await second.client.waitClosed();
  });

  test('[MQTT-3.3.2-12] v5 every Topic Alias from 1 to the Topic Alias Maximum returned in CONNACK is accepted', async () => {
    const watcher = await subscriber(started.port, 'alias-range-watch', [sub('alias-range/#', 0)], 5);
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'alias-range' }, 5);
    const maximum = (connack as ConnackPacket).properties?.topicAliasMaximum ?? 0;
    assert.equal(maximum, 3);
    for (let alias = 1; alias <= maximum; alias++) client.send(publish(`alias-range/${alias}`, 'set', 0, { properties: { topicAlias: alias } }));
    for (let alias = 1; alias <= maximum; alias++) client.send(publish('', 'use', 0, { properties: { topicAlias: alias } }));
    const received = await receive(watcher, 2 * maximum);
    assert.deepEqual(received.map((packet) => packet.topic), ['alias-range/1', 'alias-range/2', 'alias-range/3', 'alias-range/1', 'alias-range/2', 'alias-range/3']);
    client.destroy();
    watcher.destroy();
  });

  test('[MQTT-3.3.4-10] [MQTT-4.9.0-3] v5 with the client Receive Maximum used up, PINGREQ, SUBSCRIBE and UNSUBSCRIBE are still answered', async () => {
    const watcher = await subscriber(started.port, 'quota-zero', [sub('quota/t', 1)], 5, { properties: { receiveMaximum: 1 } });
    const { client } = await RawClient.connected(started.port, { clientId: 'quota-pub' }, 5);
    for (let index = 1; index <= 3; index++) await publishAndAck(client, publish('quota/t', `m${index}`, 1, { packetId: index }));
    const first = await watcher.expect('publish');
    watcher.send({ type: 'pingreq' });
    await watcher.expect('pingresp');
    watcher.send({ type: 'subscribe', packetId: 2, subscriptions: [sub('quota/other', 0)] });
    await watcher.expect('suback');
    watcher.send({ type: 'unsubscribe', packetId: 3, topicFilters: ['quota/other'] });
    await watcher.expect('unsuback');
    assert.equal(watcher.pending().filter((packet) => packet.type === 'publish').length, 0, 'no second PUBLISH beyond Receive Maximum 1');
    watcher.send({ type: 'puback', packetId: first.packetId!, reasonCode: 0 });
    const rest = await receive(watcher, 2);
    assert.deepEqual([first, ...rest].map((packet) => packet.payload.toString()), ['m1', 'm2', 'm3']);
    client.destroy();
    watcher.destroy();
  });

  test('[MQTT-4.3.3-9] v5 after a PUBREC with a failure code the same packet id is a new message', async () => {
    const watcher = await subscriber(started.port, 'rec-fail-watch', [sub('rec-fail/t', 2)], 5);
    const { client } = await RawClient.connected(started.port, { clientId: 'rec-fail' }, 5);
    client.send(publish('$SYS/refused', 'x', 2, { packetId: 9 }));
    assert.ok((await client.expect('pubrec')).reasonCode >= 0x80);
    await publishAndAck(client, publish('rec-fail/t', 'accepted', 2, { packetId: 9 }));
    assert.equal((await receive(watcher, 1))[0]!.payload.toString(), 'accepted');
    client.destroy();
    watcher.destroy();
  });

  test('[MQTT-4.3.3-13] v5 the QoS 2 handshake of an incoming message completes although its Message Expiry passed', async () => {
    const watcher = await subscriber(started.port, 'expired-q2-watch', [sub('expired-q2/t', 2)], 5);
    const { client } = await RawClient.connected(started.port, { clientId: 'expired-q2' }, 5);
    client.send(publish('expired-q2/t', 'short-lived', 2, { packetId: 4, properties: { messageExpiryInterval: 1 } }));
    assert.equal((await client.expect('pubrec')).reasonCode, 0);
    await delay(1200);
    client.send({ type: 'pubrel', packetId: 4, reasonCode: 0 });
    const pubcomp = await client.expect('pubcomp');
    assert.equal(pubcomp.packetId, 4);
    assert.equal(pubcomp.reasonCode, 0);
    client.destroy();
    watcher.destroy();
  });

  test('[MQTT-4.3.3-7] v5 a QoS 2 PUBLISH already sent is re-sent on reconnect although its Message Expiry passed', async () => {
    const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await subscriber(started.port, 'sent-expiry', [sub('sent-expiry/t', 2)], 5, persistent);
    const { client } = await RawClient.connected(started.port, { clientId: 'sent-expiry-pub' }, 5);
    await publishAndAck(client, publish('sent-expiry/t', 'in flight', 2, { properties: { messageExpiryInterval: 1 } }));
    const original = await first.expect('publish');
    first.destroy();
    await first.waitClosed();
    await delay(1300);
    const second = await RawClient.connected(started.port, { clientId: 'sent-expiry', ...persistent }, 5);
    const again = await second.client.expect('publish');
    assert.equal(again.packetId, original.packetId);
    assert.equal(again.payload.toString(), 'in flight');
    second.client.destroy();
    client.destroy();
  });

  test('[MQTT-4.4.0-2] v5 a PUBACK or PUBREC with a failure code acknowledges the message: not re-sent on reconnect', async () => {
    const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await subscriber(started.port, 'nack', [sub('nack/#', 2)], 5, persistent);
    const { client } = await RawClient.connected(started.port, { clientId: 'nack-pub' }, 5);
    await publishAndAck(client, publish('nack/1', 'refused at QoS 1', 1));
    await publishAndAck(client, publish('nack/2', 'refused at QoS 2', 2));
    const one = await first.expect('publish');
    const two = await first.expect('publish');
    first.send({ type: one.qos === 1 ? 'puback' : 'pubrec', packetId: one.packetId!, reasonCode: 0x80 });
    first.send({ type: two.qos === 1 ? 'puback' : 'pubrec', packetId: two.packetId!, reasonCode: 0x80 });
    first.send({ type: 'pingreq' });
    await first.expect('pingresp');
    assert.deepEqual((await silence(first, 50)).filter((packet) => packet.type === 'pubrel'), [], 'no PUBREL after a failed PUBREC');
    first.destroy();
    await first.waitClosed();
    const second = await RawClient.connected(started.port, { clientId: 'nack', ...persistent }, 5);
    assert.deepEqual(await silence(second.client, 200), []);
    second.client.destroy();
    client.destroy();
  });
});
