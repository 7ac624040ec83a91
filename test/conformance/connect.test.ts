// Conformance, CONNECT and CONNACK (MQTT 3.1.1 §3.1-3.2, MQTT 5.0 §3.1-3.2): broker-side
// statements not already covered by test/broker/connect.test.ts and test/broker/session.test.ts.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { encodePacket } from '../../src/protocol/encoder.js';
import type { ConnackPacket, ConnectPacket, ProtocolVersion, WillMessage } from '../../src/protocol/packets.js';
import { publish, publishAndAck, receive, silence, sub, subscriber } from './raw-helpers.js';

const connectPacket = (clientId: string, version: ProtocolVersion, extra: Partial<ConnectPacket> = {}): ConnectPacket => ({
  type: 'connect',
  protocolName: 'MQTT',
  protocolVersion: version,
  clean: true,
  keepalive: 0,
  clientId,
  ...extra,
});

describe('conformance: CONNECT / CONNACK', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker({
      limits: { maxClientIdLength: 64 },
    }, {
      hooks: [{ authenticate: ({ connect }) => (connect.username === 'refused' ? { result: 'deny', reasonCode: 0x86 } : { result: 'next' }) }],
    });
  });
  after(async () => {
    await started.stop();
  });

  test('[MQTT-3.1.2-1] v4 CONNECT with a protocol name other than "MQTT" is not accepted: connection closed', async () => {
    const client = await RawClient.open(started.port, 4);
    client.sendBytes('10 0d 0004 4d515458 04 02 003c 0001 78'); // "MQTX"
    await client.waitClosed();
    for (const packet of client.pending()) assert.ok(packet.type === 'connack' && packet.reasonCode !== 0, 'no successful CONNACK');
  });

  test('[MQTT-3.1.2-1] v5 CONNECT with a protocol name other than "MQTT": at most CONNACK 0x84, then closed', async () => {
    const client = await RawClient.open(started.port, 5);
    client.sendBytes('10 0e 0004 4d515458 05 02 003c 00 0001 78');
    await client.waitClosed();
    for (const packet of client.pending()) assert.ok(packet.type === 'connack' && packet.reasonCode === 0x84, JSON.stringify(packet));
  });

  for (const version of [4, 5] as const) {
    test(`[MQTT-3.1.2-3] [MQTT-3.1.4-1] v${version} CONNECT with the reserved flag set: closed, never accepted`, async () => {
      const client = await RawClient.open(started.port, version);
      client.sendBytes(version === 4 ? '10 0d 0004 4d515454 04 03 003c 0001 78' : '10 0e 0004 4d515454 05 03 003c 00 0001 78');
      await client.waitClosed();
      for (const packet of client.pending()) assert.ok(packet.type === 'connack' && packet.reasonCode >= 0x80, JSON.stringify(packet));
    });

    test(`[MQTT-3.1.3-5] v${version} a 23-character alphanumeric client id is accepted`, async () => {
      const clientId = 'abcdefghijKLMNOPQRST012';
      const { client, connack } = await RawClient.connected(started.port, { clientId }, version);
      assert.equal((connack as ConnackPacket).reasonCode, 0);
      client.destroy();
    });

    test(`[MQTT-3.1.4-5] [MQTT-3.1.4-6] v${version} data sent after a refused CONNECT is not processed`, async () => {
      const watcher = await subscriber(started.port, `refused-watch-${version}`, [sub('refused/#', 0)], version);
      const client = await RawClient.open(started.port, version);
      // CONNECT refused by the authenticate hook, then a PUBLISH in the same TCP write.
      client.sendBytes(Buffer.concat([
        encodePacket(connectPacket(`refused-${version}`, version, { username: 'refused' }), version),
        encodePacket(publish('refused/data', 'must not be routed', 0), version),
      ]));
      const connack = await client.expect('connack');
      assert.notEqual(connack.reasonCode, 0);
      await client.waitClosed();
      assert.deepEqual(await silence(watcher, 200), []);
      watcher.destroy();
    });

    test(`[MQTT-3.2.2-3] [MQTT-3.2.2-4] [MQTT-3.2.2-6] v${version} a refused CONNECT gets Session Present 0 although a session exists`, async () => {
      const clientId = `sp-refused-${version}`;
      const persistent = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await RawClient.connected(started.port, { clientId, clean: false, ...persistent }, version);
      assert.equal((first.connack as ConnackPacket).sessionPresent, false, 'no session yet'); // [MQTT-3.2.2-3]
      first.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('sp/x', 1)] });
      await first.client.expect('suback');
      first.client.destroy();
      await first.client.waitClosed();
      const refused = await RawClient.connected(started.port, { clientId, clean: false, username: 'refused', ...persistent }, version);
      const connack = refused.connack as ConnackPacket;
      assert.notEqual(connack.reasonCode, 0);
      assert.equal(connack.sessionPresent, false);
      await refused.client.waitClosed(); // [MQTT-3.2.2-5] (3.1.1) / [MQTT-3.2.2-7] (5.0)
      const back = await RawClient.connected(started.port, { clientId, clean: false, ...persistent }, version);
      assert.equal((back.connack as ConnackPacket).sessionPresent, true, 'the refused attempt did not touch the session');
      back.client.destroy();
    });

    test(`[MQTT-3.2.0-1] [MQTT-3.2.0-2] v${version} the first packet sent is CONNACK (even with queued messages), and only one`, async () => {
      const clientId = `first-connack-${version}`;
      const persistent = version === 5 ? { properties: { sessionExpiryInterval: 60 } } : {};
      const first = await subscriber(started.port, clientId, [sub('queued/x', 1)], version, { clean: false, ...persistent });
      first.destroy();
      await first.waitClosed();
      const { client: publisher } = await RawClient.connected(started.port, { clientId: `first-connack-pub-${version}` }, version);
      for (let index = 1; index <= 3; index++) await publishAndAck(publisher, publish('queued/x', `m${index}`, 1, { packetId: index }));
      const client = await RawClient.open(started.port, version);
      client.send(connectPacket(clientId, version, { clean: false, ...persistent }));
      const firstPacket = await client.next();
      assert.equal(firstPacket.type, 'connack');
      await receive(client, 3);
      assert.equal((await silence(client)).filter((packet) => packet.type === 'connack').length, 0);
      client.destroy();
      publisher.destroy();
    });

    test(`[MQTT-3.1.2-7] [MQTT-3.1.2-17] [MQTT-3.1.2-15] v${version} a will with Will Retain 1 is published retained, and retained messages outlive the session`, async () => {
      const will: WillMessage = { topic: `will-retained/${version}`, payload: Buffer.from('retained will'), qos: 1, retain: true };
      const { client } = await RawClient.connected(started.port, { clientId: `will-ret-${version}`, will }, version);
      client.destroy();
      await client.waitClosed();
      // The session of the will's client ended (clean); a later subscriber still gets the retained will.
      const late = await subscriber(started.port, `will-ret-late-${version}`, [sub(`will-retained/${version}`, 1)], version);
      const [message] = await receive(late, 1);
      assert.equal(message!.payload.toString(), 'retained will');
      assert.equal(message!.retain, true);
      late.destroy();
    });

    test(`[MQTT-3.1.2-16] [MQTT-3.1.2-14] v${version} a will with Will Retain 0 is published non-retained`, async () => {
      const topic = `will-plain/${version}`;
      const watcher = await subscriber(started.port, `will-plain-watch-${version}`, [sub(topic, 1)], version);
      const will: WillMessage = { topic, payload: Buffer.from('plain will'), qos: 1, retain: false };
      const { client } = await RawClient.connected(started.port, { clientId: `will-plain-${version}`, will }, version);
      client.destroy();
      const [message] = await receive(watcher, 1);
      assert.equal(message!.retain, false);
      const late = await subscriber(started.port, `will-plain-late-${version}`, [sub(topic, 1)], version);
      assert.deepEqual(await silence(late), [], 'not stored as retained');
      watcher.destroy();
      late.destroy();
    });

    test(`[MQTT-3.1.2-12] v${version} without the Will Flag nothing is published when the connection drops`, async () => {
      const watcher = await subscriber(started.port, `no-will-watch-${version}`, [sub('#', 1)], version);
      const { client } = await RawClient.connected(started.port, { clientId: `no-will-${version}` }, version);
      client.destroy();
      await client.waitClosed();
      // Retained messages of earlier tests arrive on subscribe; only a live message would be a will.
      assert.deepEqual((await silence(watcher, 200)).filter((packet) => packet.type === 'publish' && !packet.retain), []);
      watcher.destroy();
    });
  }

  test('[MQTT-3.1.3-9] v4 a client id the server refuses (over limits.maxClientIdLength) gets CONNACK 0x02 and is closed', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'x'.repeat(65) }, 4);
    assert.equal((connack as ConnackPacket).reasonCode, 2);
    await client.waitClosed();
  });

  test('[MQTT-3.1.2-4] [MQTT-3.1.2-5] [MQTT-3.1.2-6] [MQTT-3.2.2-2] [MQTT-3.2.2-3] v5 Clean Start: 0 without a session creates one (SP 0), 0 resumes it (SP 1), 1 discards it', async () => {
    const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const fresh = await RawClient.connected(started.port, { clientId: 'clean-start', ...persistent }, 5);
    assert.equal((fresh.connack as ConnackPacket).sessionPresent, false);
    fresh.client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('clean-start/t', 1)] });
    await fresh.client.expect('suback');
    fresh.client.destroy();
    await fresh.client.waitClosed();
    const resumed = await RawClient.connected(started.port, { clientId: 'clean-start', ...persistent }, 5);
    assert.equal((resumed.connack as ConnackPacket).sessionPresent, true);
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'clean-start-pub' }, 5);
    await publishAndAck(publisher, publish('clean-start/t', 'subscription kept', 1));
    assert.equal((await receive(resumed.client, 1))[0]!.payload.toString(), 'subscription kept');
    resumed.client.destroy();
    await resumed.client.waitClosed();
    const cleaned = await RawClient.connected(started.port, { clientId: 'clean-start', clean: true, properties: { sessionExpiryInterval: 60 } }, 5);
    assert.equal((cleaned.connack as ConnackPacket).sessionPresent, false);
    await publishAndAck(publisher, publish('clean-start/t', 'subscription gone', 1));
    assert.deepEqual(await silence(cleaned.client), []);
    cleaned.client.destroy();
    publisher.destroy();
  });

  test('[MQTT-3.1.3-10] v5 will properties, user properties in order, are published unchanged', async () => {
    const watcher = await subscriber(started.port, 'will-props-watch', [sub('will-props/t', 1)], 5);
    const will: WillMessage = {
      topic: 'will-props/t',
      payload: Buffer.from('{}'),
      qos: 1,
      retain: false,
      properties: { userProperties: [['z', '1'], ['a', '2'], ['z', '3']], contentType: 'application/json', payloadFormatIndicator: 1, responseTopic: 'will-props/r', correlationData: Buffer.from('c') },
    };
    const { client } = await RawClient.connected(started.port, { clientId: 'will-props', will }, 5);
    client.destroy();
    const [message] = await receive(watcher, 1);
    assert.deepEqual(message!.properties?.userProperties, [['z', '1'], ['a', '2'], ['z', '3']]);
    assert.equal(message!.properties?.contentType, 'application/json');
    assert.equal(message!.properties?.payloadFormatIndicator, 1);
    assert.equal(message!.properties?.responseTopic, 'will-props/r');
    assert.equal(message!.properties?.correlationData?.toString(), 'c');
    watcher.destroy();
  });

  test('[MQTT-3.1.2-28] v5 without Request Response Information the CONNACK carries no Response Information', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'no-response-info' }, 5);
    assert.equal((connack as ConnackPacket).properties?.responseInformation, undefined);
    client.destroy();
    const zero = await RawClient.connected(started.port, { clientId: 'zero-response-info', properties: { requestResponseInformation: 0 } }, 5);
    assert.equal((zero.connack as ConnackPacket).properties?.responseInformation, undefined);
    zero.client.destroy();
  });

  test('[MQTT-3.1.2-29] v5 Request Problem Information 0: no Reason String or User Property on PUBACK, SUBACK, UNSUBACK, PUBREC, PUBCOMP', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'no-problem-info', properties: { requestProblemInformation: 0 } }, 5);
    client.send(publish('$SYS/forbidden', 'x', 1, { packetId: 1 }));
    const puback = await client.expect('puback');
    client.send(publish('$SYS/forbidden', 'x', 2, { packetId: 2 }));
    const pubrec = await client.expect('pubrec');
    client.send({ type: 'subscribe', packetId: 3, subscriptions: [sub('bad/#/filter', 0)] });
    const suback = await client.expect('suback');
    client.send({ type: 'unsubscribe', packetId: 4, topicFilters: ['never/subscribed'] });
    const unsuback = await client.expect('unsuback');
    client.send({ type: 'pubrel', packetId: 99, reasonCode: 0 });
    const pubcomp = await client.expect('pubcomp');
    assert.ok(puback.reasonCode >= 0x80 && pubrec.reasonCode >= 0x80 && suback.reasonCodes[0]! >= 0x80 && unsuback.reasonCodes[0] === 0x11 && pubcomp.reasonCode === 0x92);
    for (const packet of [puback, pubrec, suback, unsuback, pubcomp]) {
      assert.equal(packet.properties?.reasonString, undefined, `${packet.type} reason string`);
      assert.equal(packet.properties?.userProperties, undefined, `${packet.type} user properties`);
    }
    client.destroy();
  });

  test('[MQTT-3.2.2-19] [MQTT-3.2.2-20] v5 a refused CONNACK stays within the client Maximum Packet Size', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'y'.repeat(65), properties: { maximumPacketSize: 8 } }, 5);
    assert.equal((connack as ConnackPacket).reasonCode, 0x85);
    assert.ok(encodePacket(connack, 5).length <= 8, `CONNACK of ${encodePacket(connack, 5).length} bytes`);
    await client.waitClosed();
  });

  test('[MQTT-3.2.2-22] v5 without Server Keep Alive the server applies the client Keep Alive (closed after 1.5x)', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'own-keepalive', keepalive: 1 }, 5);
    assert.equal((connack as ConnackPacket).properties?.serverKeepAlive, undefined);
    const opened = Date.now();
    const disconnect = await client.expect('disconnect', 4000).catch(() => undefined);
    if (disconnect) assert.equal(disconnect.reasonCode, 0x8d); // Keep Alive timeout
    await client.waitClosed(4000);
    const elapsed = Date.now() - opened;
    assert.ok(elapsed >= 1400 && elapsed < 3500, `closed after ${elapsed} ms`);
  });

  test('[MQTT-3.1.2-27] v5 a client that sent no Topic Alias Maximum gets no Topic Alias', async () => {
    const watcher = await subscriber(started.port, 'no-alias', [sub('no-alias/t', 0)], 5);
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'no-alias-pub' }, 5);
    for (let index = 0; index < 3; index++) publisher.send(publish('no-alias/t', `m${index}`, 0));
    const received = await receive(watcher, 3);
    for (const packet of received) {
      assert.equal(packet.properties?.topicAlias, undefined);
      assert.equal(packet.topic, 'no-alias/t');
    }
    watcher.destroy();
    publisher.destroy();
  });
});

describe('conformance: server capabilities in CONNACK', () => {
  test('[MQTT-3.2.2-9] [MQTT-3.2.2-10] Maximum QoS 1 is announced, and SUBSCRIBE asking QoS 2 is still accepted', async () => {
    const started = await startBroker({ mqtt: { maximumQoS: 1 } });
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'max-qos' }, 5);
    assert.equal((connack as ConnackPacket).properties?.maximumQoS, 1);
    client.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('max-qos/t', 2)] });
    const suback = await client.expect('suback');
    assert.ok(suback.reasonCodes[0]! <= 1, `granted ${suback.reasonCodes[0]}`);
    client.destroy();
    await started.stop();
  });

  test('[MQTT-3.2.2-9] Maximum QoS is absent from CONNACK when QoS 2 is supported', async () => {
    const started = await startBroker();
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'max-qos-2' }, 5);
    assert.equal((connack as ConnackPacket).properties?.maximumQoS, undefined);
    client.destroy();
    await started.stop();
  });
});
