// CONNECT / CONNACK: versions, client ids, return and reason codes, timeouts, redirects, auth hooks.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient } from '../helpers/mqtt-client.js';
import type { ConnackPacket } from '../../src/protocol/packets.js';

describe('CONNECT and CONNACK', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker();
  });
  after(async () => {
    await started.stop();
  });

  test('[MQTT-3.2.2-16] v5 empty client id gets an Assigned Client Identifier and the server limits', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: '' }, 5);
    const packet = connack as ConnackPacket;
    assert.equal(packet.reasonCode, 0);
    assert.match(packet.properties?.assignedClientIdentifier ?? '', /^petrel-/);
    assert.equal(packet.properties?.receiveMaximum, 100);
    assert.equal(packet.properties?.maximumPacketSize, 1048576);
    assert.equal(packet.properties?.topicAliasMaximum, 65535);
    client.destroy();
  });

  test('[MQTT-3.1.3-6] v4 empty client id with clean session is accepted', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: '', clean: true }, 4);
    assert.equal((connack as ConnackPacket).reasonCode, 0);
    client.destroy();
  });

  test('[MQTT-3.1.3-8] v4 empty client id without clean session is refused with 0x02 and closed', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: '', clean: false }, 4);
    assert.equal((connack as ConnackPacket).reasonCode, 2);
    assert.equal((connack as ConnackPacket).sessionPresent, false);
    await client.waitClosed();
  });

  test('[MQTT-3.1.2-2] unsupported protocol level gets CONNACK 0x01 and the connection is closed', async () => {
    const client = await RawClient.open(started.port, 4);
    // CONNECT, protocol name MQTT, level 6, clean session, keepalive 60, client id "x"
    client.sendBytes('10 0d 0004 4d515454 06 02 003c 0001 78');
    const connack = await client.expect('connack');
    assert.equal(connack.reasonCode, 1);
    await client.waitClosed();
  });

  test('[MQTT-3.1.0-1] a first packet other than CONNECT closes the connection', async () => {
    const client = await RawClient.open(started.port, 4);
    client.send({ type: 'pingreq' });
    await client.waitClosed();
    assert.deepEqual(client.pending(), []);
  });

  test('[MQTT-3.1.0-2] a second CONNECT is a protocol violation: connection closed', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'twice' }, 4);
    client.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: 'twice' });
    await client.waitClosed();
  });

  test('[MQTT-3.1.0-2] v5 second CONNECT gets DISCONNECT 0x82', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'twice5' }, 5);
    client.send({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'twice5' });
    const disconnect = await client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x82);
    await client.waitClosed();
  });

  test('MQTT 3.1 (MQIsdp, level 3) clients connect and exchange messages', async () => {
    const { client: subscriber, connack } = await RawClient.connected(started.port, { clientId: 'old-sub' }, 3);
    assert.equal((connack as ConnackPacket).reasonCode, 0);
    subscriber.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'legacy/+', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
    const suback = await subscriber.expect('suback');
    assert.deepEqual(suback.reasonCodes, [1]);
    const publisher = await connectClient(started.url, { protocolVersion: 4, clientId: 'new-pub' });
    await publisher.publishAsync('legacy/a', 'hi', { qos: 1 });
    const publish = await subscriber.expect('publish');
    assert.equal(publish.topic, 'legacy/a');
    assert.equal(publish.payload.toString(), 'hi');
    subscriber.destroy();
    await closeClient(publisher);
  });

  test('[MQTT-3.1.3-8] 3.1 empty client id is refused with 0x02', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: '', clean: true }, 3);
    assert.equal((connack as ConnackPacket).reasonCode, 2);
    await client.waitClosed();
  });

  test('[MQTT-3.1.3-8] v5 a client id longer than limits.maxClientIdLength is refused with 0x85 and closed', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'x'.repeat(300) }, 5);
    assert.equal((connack as ConnackPacket).reasonCode, 0x85);
    await client.waitClosed();
  });

  test('[MQTT-3.12.4-1] PINGREQ gets PINGRESP', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'pinger' }, 4);
    client.send({ type: 'pingreq' });
    await client.expect('pingresp');
    client.destroy();
  });
});

describe('connect options', () => {
  test('a socket that never sends CONNECT is closed after limits.connectTimeoutMs', async () => {
    const started = await startBroker({ limits: { connectTimeoutMs: 150 } });
    const client = await RawClient.open(started.port);
    const opened = Date.now();
    await client.waitClosed(2000);
    assert.ok(Date.now() - opened >= 100);
    await started.stop();
  });

  test('v5 server redirect: CONNACK 0x9C with Server Reference, 0x9D when moved', async () => {
    const temporary = await startBroker({ mqtt: { serverReference: 'other:1883' } });
    const { client, connack } = await RawClient.connected(temporary.port, { clientId: 'r' }, 5);
    assert.equal((connack as ConnackPacket).reasonCode, 0x9c);
    assert.equal((connack as ConnackPacket).properties?.serverReference, 'other:1883');
    await client.waitClosed();
    await temporary.stop();
    const moved = await startBroker({ mqtt: { serverReference: 'new:1883', serverMoved: true } });
    const second = await RawClient.connected(moved.port, { clientId: 'r' }, 5);
    assert.equal((second.connack as ConnackPacket).reasonCode, 0x9d);
    second.client.destroy();
    await moved.stop();
  });

  test('[MQTT-3.1.2-21] v5 Server Keep Alive is sent and used', async () => {
    const started = await startBroker({ mqtt: { serverKeepAlive: 1 } });
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'ska', keepalive: 100 }, 5);
    assert.equal((connack as ConnackPacket).properties?.serverKeepAlive, 1);
    // The broker enforces its own value (1.5 s) rather than the client's 100 s.
    const disconnect = await client.expect('disconnect', 3000);
    assert.equal(disconnect.reasonCode, 0x8d);
    await client.waitClosed();
    await started.stop();
  });

  test('[MQTT-3.2.2-12] v5 will QoS above Maximum QoS is refused with 0x9B; 0x9A for will retain when unavailable', async () => {
    const started = await startBroker({ mqtt: { maximumQoS: 1, retainAvailable: false } });
    const qos = await RawClient.connected(started.port, { clientId: 'w1', will: { topic: 't', payload: Buffer.from('x'), qos: 2, retain: false } }, 5);
    assert.equal((qos.connack as ConnackPacket).reasonCode, 0x9b);
    const retain = await RawClient.connected(started.port, { clientId: 'w2', will: { topic: 't', payload: Buffer.from('x'), qos: 0, retain: true } }, 5);
    assert.equal((retain.connack as ConnackPacket).reasonCode, 0x9a);
    const ok = await RawClient.connected(started.port, { clientId: 'w3' }, 5);
    assert.equal((ok.connack as ConnackPacket).properties?.maximumQoS, 1);
    assert.equal((ok.connack as ConnackPacket).properties?.retainAvailable, 0);
    ok.client.destroy();
    await started.stop();
  });

  test('authenticate hooks: deny maps to 3.1.1 return code 4, async allow sets the user name', async () => {
    const started = await startBroker(
      {},
      {
        hooks: [
          {
            authenticate: ({ connect }) => {
              if (connect.username === 'bad') return { result: 'deny', reasonCode: 0x86 };
              if (connect.username === 'slow') return new Promise((resolve) => setTimeout(() => resolve({ result: 'allow', username: 'renamed' }), 20));
              return { result: 'next' };
            },
          },
        ],
      },
    );
    const denied = await RawClient.connected(started.port, { clientId: 'a', username: 'bad', password: Buffer.from('p') }, 4);
    assert.equal((denied.connack as ConnackPacket).reasonCode, 4);
    await denied.client.waitClosed();
    const denied5 = await RawClient.connected(started.port, { clientId: 'a5', username: 'bad' }, 5);
    assert.equal((denied5.connack as ConnackPacket).reasonCode, 0x86);
    const slow = await RawClient.connected(started.port, { clientId: 'b', username: 'slow' }, 4);
    assert.equal((slow.connack as ConnackPacket).reasonCode, 0);
    const connection = [...started.broker.connections].find((candidate) => candidate.clientId === 'b');
    assert.equal(connection?.client.username, 'renamed');
    slow.client.destroy();
    denied5.client.destroy();
    await started.stop();
  });

  test('auth.anonymous=false refuses clients nobody authenticated (3.1.1 code 5)', async () => {
    const started = await startBroker({ auth: { anonymous: false } });
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'anon' }, 4);
    assert.equal((connack as ConnackPacket).reasonCode, 5);
    await client.waitClosed();
    await started.stop();
  });
});
