// Conformance, DISCONNECT, session lifetime, AUTH and packet-size limits on what the server
// sends (MQTT 3.1.1 §3.14, §4.1; MQTT 5.0 §3.4-3.15, §4.1, §4.12-4.13).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { encodePacket } from '../../src/protocol/encoder.js';
import type { ConnackPacket, Packet } from '../../src/protocol/packets.js';
import { RecordingStore } from '../helpers/recording-store.js';
import { publish, publishAndAck, receive, silence, sub, subscriber } from './raw-helpers.js';

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('conformance: DISCONNECT and session lifetime', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await started.stop();
  });

  test('[MQTT-3.14.0-1] v5 no DISCONNECT before a CONNACK: a first packet other than CONNECT only closes the connection', async () => {
    const client = await RawClient.open(started.port, 5);
    client.send({ type: 'pingreq' });
    await client.waitClosed();
    assert.deepEqual(client.pending(), []);
    const malformed = await RawClient.open(started.port, 5);
    malformed.sendBytes('10 0e 0004 4d515454 05 02 003c 00 0009 78'); // client id longer than the packet
    await malformed.waitClosed();
    assert.ok(malformed.pending().every((packet) => packet.type === 'connack' && packet.reasonCode >= 0x80), JSON.stringify(malformed.pending()));
  });

  test('[MQTT-3.14.2-2] [MQTT-3.14.4-1] [MQTT-3.14.4-2] [MQTT-4.13.2-1] v5 a server DISCONNECT has no Session Expiry Interval, nothing follows it, the connection closes', async () => {
    const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await subscriber(started.port, 'server-disconnect', [sub('server-disconnect/t', 0)], 5, persistent);
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'server-disconnect-pub' }, 5);
    const second = await RawClient.connected(started.port, { clientId: 'server-disconnect', ...persistent }, 5);
    const disconnect = await first.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x8e);
    assert.equal(disconnect.properties?.sessionExpiryInterval, undefined);
    publisher.send(publish('server-disconnect/t', 'after takeover', 0));
    await first.waitClosed();
    assert.deepEqual(first.pending(), [], 'no packet after DISCONNECT');
    second.client.destroy();
    publisher.destroy();
  });

  test('[MQTT-3.14.1-1] v5 a DISCONNECT with reserved flag bits set is malformed: DISCONNECT 0x81 and close', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'bad-disconnect' }, 5);
    client.sendBytes('e1 00');
    const answer = await client.next().catch(() => undefined);
    if (answer !== undefined) assert.deepEqual([answer.type, answer.type === 'disconnect' && answer.reasonCode], ['disconnect', 0x81]);
    await client.waitClosed();
  });

  test('[MQTT-3.14.1-1] v4 a DISCONNECT with reserved flag bits set closes the connection and the will is published', async () => {
    const watcher = await subscriber(started.port, 'bad-disconnect4-watch', [sub('bad-disconnect4/will', 0)], 4);
    const { client } = await RawClient.connected(started.port, { clientId: 'bad-disconnect4', will: { topic: 'bad-disconnect4/will', payload: Buffer.from('w'), qos: 0, retain: false } }, 4);
    client.sendBytes('e1 00');
    await client.waitClosed();
    assert.equal((await receive(watcher, 1))[0]!.payload.toString(), 'w');
    watcher.destroy();
  });

  test('[MQTT-4.1.0-1] [MQTT-4.1.0-2] v5 the session lasts while its connection is open, past the Session Expiry Interval', async () => {
    const client = await subscriber(started.port, 'long-lived', [sub('long-lived/t', 1)], 5, { clean: false, properties: { sessionExpiryInterval: 1 } });
    await delay(1500);
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'long-lived-pub' }, 5);
    await publishAndAck(publisher, publish('long-lived/t', 'still here', 1));
    assert.equal((await receive(client, 1))[0]!.payload.toString(), 'still here');
    client.destroy();
    publisher.destroy();
  });

  test('[MQTT-3.1.2-23] v5 a session with Session Expiry Interval > 0 is kept after the connection closes (until expiry)', async () => {
    const persistent = { clean: false, properties: { sessionExpiryInterval: 60 } };
    const first = await subscriber(started.port, 'kept-session', [sub('kept-session/t', 1)], 5, persistent);
    first.send({ type: 'disconnect', reasonCode: 0 });
    await first.waitClosed();
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'kept-session-pub' }, 5);
    await publishAndAck(publisher, publish('kept-session/t', 'queued', 1));
    const back = await RawClient.connected(started.port, { clientId: 'kept-session', ...persistent }, 5);
    assert.equal((back.connack as ConnackPacket).sessionPresent, true);
    assert.equal((await receive(back.client, 1))[0]!.payload.toString(), 'queued');
    back.client.destroy();
    publisher.destroy();
  });

  test('[MQTT-4.12.0-6] [MQTT-4.12.0-7] v5 without an Authentication Method: no method in CONNACK, no AUTH sent; an AUTH from the client is a Protocol Error', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'no-auth-method' }, 5);
    assert.equal((connack as ConnackPacket).properties?.authenticationMethod, undefined);
    client.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SCRAM-SHA-256' } });
    const disconnect = await client.expect('disconnect');
    assert.ok(disconnect.reasonCode >= 0x80, `DISCONNECT 0x${disconnect.reasonCode.toString(16)}`);
    await client.waitClosed();
    assert.ok(!client.pending().some((packet) => packet.type === 'auth'));
  });
});

describe('conformance: transient errors', () => {
  test('[MQTT-4.8.0-2] v4 a store failure while accepting a QoS 1 PUBLISH closes the connection without PUBACK', async () => {
    const store = new RecordingStore();
    const started = await startBroker({}, { store });
    const { client } = await RawClient.connected(started.port, { clientId: 'transient4' }, 4);
    store.hold = true;
    client.send(publish('transient/t', 'x', 1, { packetId: 1 }));
    await delay(30);
    store.release(new Error('disk full'));
    await client.waitClosed();
    assert.ok(!client.pending().some((packet) => packet.type === 'puback'));
    store.hold = false;
    await started.stop();
  });
});

describe('conformance: what the server sends fits the client Maximum Packet Size', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await started.stop();
  });

  const LIMIT = 16;
  const fits = (packet: Packet) => assert.ok(encodePacket(packet, 5).length <= LIMIT, `${packet.type} of ${encodePacket(packet, 5).length} bytes over ${LIMIT}`);

  test('[MQTT-3.4.2-2] [MQTT-3.4.2-3] [MQTT-3.5.2-2] [MQTT-3.5.2-3] [MQTT-3.6.2-2] [MQTT-3.6.2-3] [MQTT-3.7.2-2] [MQTT-3.7.2-3] [MQTT-3.9.2-1] [MQTT-3.9.2-2] [MQTT-3.11.2-1] [MQTT-3.11.2-2] v5 acknowledgements with failure codes leave out reason strings that would not fit', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'tiny', properties: { maximumPacketSize: LIMIT, requestProblemInformation: 1 } }, 5);
    client.send(publish('$SYS/no', 'x', 1, { packetId: 1 }));
    const puback = await client.expect('puback');
    client.send(publish('$SYS/no', 'x', 2, { packetId: 2 }));
    const pubrec = await client.expect('pubrec');
    client.send({ type: 'pubrel', packetId: 404, reasonCode: 0 });
    const pubcomp = await client.expect('pubcomp');
    client.send({ type: 'subscribe', packetId: 3, subscriptions: [sub('a/#/b', 0), sub('q', 2)] });
    const suback = await client.expect('suback');
    client.send({ type: 'unsubscribe', packetId: 4, topicFilters: ['never'] });
    const unsuback = await client.expect('unsuback');
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'tiny-pub' }, 5);
    await publishAndAck(publisher, publish('q', 'x', 2));
    const message = await client.expect('publish');
    client.send({ type: 'pubrec', packetId: message.packetId!, reasonCode: 0 });
    const pubrel = await client.expect('pubrel');
    for (const packet of [puback, pubrec, pubcomp, suback, unsuback, message, pubrel]) fits(packet);
    assert.ok(puback.reasonCode >= 0x80 && pubrec.reasonCode >= 0x80 && pubcomp.reasonCode === 0x92 && suback.reasonCodes[0]! >= 0x80);
    client.destroy();
    publisher.destroy();
  });

  test('[MQTT-3.14.2-3] [MQTT-3.14.2-4] v5 a server DISCONNECT fits the client Maximum Packet Size', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'tiny-taken', properties: { maximumPacketSize: LIMIT } }, 5);
    const second = await RawClient.connected(started.port, { clientId: 'tiny-taken' }, 5);
    const disconnect = await first.client.expect('disconnect');
    fits(disconnect);
    await first.client.waitClosed();
    second.client.destroy();
    const protocolError = await RawClient.connected(started.port, { clientId: 'tiny-error', properties: { maximumPacketSize: LIMIT } }, 5);
    protocolError.client.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'again' });
    const error = await protocolError.client.expect('disconnect');
    fits(error);
    await protocolError.client.waitClosed();
  });

  test('[MQTT-3.15.2-2] [MQTT-3.15.2-3] v5 the server sends AUTH only within an enhanced authentication exchange', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'no-auth-sent', properties: { maximumPacketSize: LIMIT } }, 5);
    client.send({ type: 'pingreq' });
    await client.expect('pingresp');
    assert.deepEqual((await silence(client, 50)).filter((packet) => packet.type === 'auth'), []);
    client.destroy();
  });
});
