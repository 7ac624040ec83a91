// WebSocket and secure WebSocket listeners in a real broker: MQTT.js over ws:// and wss:// at the
// configured path (3.1.1 and 5.0), pub/sub across transports, subprotocol negotiation, and
// hostile WebSocket clients (text frames, non-MQTT bytes, wrong path, plain HTTP).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect as connectTcp, type Socket } from 'node:net';
import WebSocket from 'ws';
import { buildAuth, type AuthSystem } from '../../src/auth/build-auth.js';
import { silentLogger } from '../../src/auth/logger.js';
import { defaultConfig } from '../../src/config/schema.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import { encodePacket } from '../../src/protocol/encoder.js';
import { TestCertificates, certificateFingerprint, type KeyPair } from '../helpers/certificates.js';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, collect, connectClient } from '../helpers/mqtt-client.js';

/** Opens a raw WebSocket; resolves once open (with the negotiated subprotocol) or rejects. */
function openWebSocket(url: string, protocols: string[], options: WebSocket.ClientOptions = {}): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, protocols, options);
    socket.once('open', () => resolve(socket));
    socket.once('error', reject);
  });
}

function closeCode(socket: WebSocket, timeoutMs = 2000): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`WebSocket still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}

function httpStatus(port: number, path: string, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const outgoing = request({ host: '127.0.0.1', port, path, headers }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    outgoing.on('upgrade', (response, socket) => {
      socket.destroy();
      resolve(response.statusCode ?? 0);
    });
    outgoing.on('error', reject);
    outgoing.end();
  });
}

function openRawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

function closedWithin(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.on('error', () => {});
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
    socket.resume();
  });
}

const connectPacket = (clientId: string) =>
  encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId }, 4);

const connectTimeoutMs = 1000;

describe('WebSocket listeners', () => {
  let certificates: TestCertificates;
  let server: KeyPair;
  let device: KeyPair;
  let broker: StartedBroker;
  let auth: AuthSystem;
  const connected: ClientInfo[] = [];
  const ports: Record<string, number> = {};

  before(async () => {
    certificates = new TestCertificates();
    server = certificates.server();
    device = certificates.client('ws-device');
    const tls = { cert: server.cert, key: server.key, ca: certificates.ca };
    const listeners = [
      { type: 'tcp', host: '127.0.0.1', port: 0, name: 'tcp' },
      { type: 'ws', host: '127.0.0.1', port: 0, name: 'ws' },
      { type: 'ws', host: '127.0.0.1', port: 0, name: 'ws-custom', path: '/custom/path' },
      { type: 'wss', host: '127.0.0.1', port: 0, name: 'wss', ...tls },
      { type: 'wss', host: '127.0.0.1', port: 0, name: 'wss-mtls', ...tls, requestCert: true, certificateAsUsername: true },
    ];
    auth = buildAuth(defaultConfig({ listeners }), silentLogger, { watch: false });
    broker = await startBroker({ listeners, limits: { connectTimeoutMs } }, { hooks: [...auth.hooks, { onClientConnected: (client) => void connected.push({ ...client }) }] });
    for (const address of broker.broker.addresses) ports[address.name] = address.port;
  });

  after(async () => {
    auth.close();
    await broker.stop();
    certificates.remove();
  });

  const connectedAs = (clientId: string) => connected.find((client) => client.clientId === clientId);
  const ca = () => readFileSync(certificates.ca);

  for (const protocolVersion of [4, 5] as const) {
    const label = protocolVersion === 5 ? '5.0' : '3.1.1';

    test(`MQTT.js ${label} over ws:// publishes to a tcp subscriber`, async () => {
      const subscriber = await connectClient(`mqtt://127.0.0.1:${ports.tcp}`, { protocolVersion, clientId: `tcp-${protocolVersion}` });
      const publisher = await connectClient(`ws://127.0.0.1:${ports.ws}/mqtt`, { protocolVersion, clientId: `ws-${protocolVersion}` });
      try {
        const inbox = collect(subscriber);
        await subscriber.subscribeAsync('ws/to/tcp', { qos: 1 });
        await publisher.publishAsync('ws/to/tcp', `ws ${label}`, { qos: 1 });
        assert.equal((await inbox.wait(1))[0]?.payload, `ws ${label}`);
        assert.equal(connectedAs(`ws-${protocolVersion}`)?.listener, 'ws');
        assert.equal(connectedAs(`ws-${protocolVersion}`)?.remoteAddress, '127.0.0.1');
      } finally {
        await closeClient(publisher);
        await closeClient(subscriber);
      }
    });

    test(`MQTT.js ${label} over wss:// receives a tcp publisher's messages, QoS 2`, async () => {
      const subscriber = await connectClient(`wss://localhost:${ports.wss}/mqtt`, { protocolVersion, ca: ca(), clientId: `wss-${protocolVersion}` });
      const publisher = await connectClient(`mqtt://127.0.0.1:${ports.tcp}`, { protocolVersion });
      try {
        const inbox = collect(subscriber);
        await subscriber.subscribeAsync('tcp/to/wss', { qos: 2 });
        for (let index = 0; index < 50; index++) publisher.publish('tcp/to/wss', `message ${index}`, { qos: 2 });
        const messages = await inbox.wait(50);
        assert.deepEqual(
          messages.map((message) => message.payload),
          Array.from({ length: 50 }, (_, index) => `message ${index}`),
        );
      } finally {
        await closeClient(publisher);
        await closeClient(subscriber);
      }
    });
  }

  test('the configured path is served, others are refused with 404', async () => {
    const client = await connectClient(`ws://127.0.0.1:${ports['ws-custom']}/custom/path`, { clientId: 'custom-path' });
    await closeClient(client);
    assert.ok(connectedAs('custom-path'));
    await assert.rejects(openWebSocket(`ws://127.0.0.1:${ports['ws-custom']}/mqtt`, ['mqtt']), /404/);
    await assert.rejects(openWebSocket(`ws://127.0.0.1:${ports.ws}/other`, ['mqtt']), /404/);
  });

  test('subprotocols: "mqtt" is chosen when offered, "mqttv3.1" is accepted, none is accepted, only others is refused', async () => {
    const both = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqttv3.1', 'mqtt']);
    assert.equal(both.protocol, 'mqtt');
    both.terminate();
    const legacy = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqttv3.1']);
    assert.equal(legacy.protocol, 'mqttv3.1');
    legacy.terminate();
    await assert.rejects(openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['chat']), /400/);
    const none = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, []);
    assert.equal(none.protocol, '');
    none.terminate();
  });

  test('a plain HTTP request gets 426 Upgrade Required', async () => {
    assert.equal(await httpStatus(ports.ws!, '/mqtt'), 426);
  });

  test('wss with a client certificate: the CN is the user name', async () => {
    const client = await connectClient(`wss://localhost:${ports['wss-mtls']}/mqtt`, {
      clientId: 'wss-cert',
      ca: ca(),
      cert: readFileSync(device.cert),
      key: readFileSync(device.key),
    });
    await closeClient(client);
    assert.equal(connectedAs('wss-cert')?.username, 'ws-device');
    assert.equal(connectedAs('wss-cert')?.certificate?.fingerprint256, certificateFingerprint(device.cert));
    await assert.rejects(openWebSocket(`wss://localhost:${ports['wss-mtls']}/mqtt`, ['mqtt'], { ca: ca() }));
  });

  test('MQTT split across frames and several packets in one frame are both understood', async () => {
    const socket = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt']);
    const received: Buffer[] = [];
    socket.on('message', (data: Buffer) => received.push(data));
    const connect = connectPacket('framed');
    socket.send(connect.subarray(0, 5));
    socket.send(Buffer.concat([connect.subarray(5), encodePacket({ type: 'pingreq' }, 4)]));
    const deadline = Date.now() + 2000;
    while (Buffer.concat(received).length < 6 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    // CONNACK (accepted) then PINGRESP.
    assert.deepEqual(Buffer.concat(received), Buffer.from([0x20, 0x02, 0x00, 0x00, 0xd0, 0x00]));
    socket.close();
  });

  test('hostile WebSocket clients are closed and others keep getting their messages', async () => {
    const subscriber = await connectClient(`ws://127.0.0.1:${ports.ws}/mqtt`, { clientId: 'ws-steady' });
    const inbox = collect(subscriber);
    await subscriber.subscribeAsync('steady/ws');
    try {
      // A text frame, even one holding a valid CONNECT [MQTT-6.0.0-1].
      const text = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt']);
      const textClosed = closeCode(text);
      text.send(connectPacket('text-frame').toString('latin1'));
      assert.equal(await textClosed, 1003);
      assert.equal(connectedAs('text-frame'), undefined);

      // Binary frames that are not MQTT.
      const garbage = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt']);
      const garbageClosed = closeCode(garbage);
      garbage.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'));
      await garbageClosed;

      // A frame larger than the broker accepts.
      const huge = await openWebSocket(`ws://127.0.0.1:${ports.ws}/mqtt`, ['mqtt']);
      const hugeClosed = closeCode(huge);
      huge.send(Buffer.alloc(2 * defaultConfig().limits.maxPacketSize + 1));
      assert.equal(await hugeClosed, 1009);

      // TLS garbage on the wss port, oversized HTTP headers, and a request that never finishes.
      const tlsGarbage = await openRawSocket(ports.wss!);
      tlsGarbage.write(Buffer.alloc(2048, 0x42));
      const oversized = await openRawSocket(ports.ws!);
      oversized.write('GET /mqtt HTTP/1.1\r\nHost: x\r\n' + 'X-Padding: y\r\n'.repeat(10000));
      const unfinished = await openRawSocket(ports.ws!);
      unfinished.write('GET /mqtt HTTP/1.1\r\n');
      await Promise.all([closedWithin(tlsGarbage, 2000), closedWithin(oversized, 2000)]);
      // The upgrade request must be complete within the connect timeout (checked every second).
      await closedWithin(unfinished, connectTimeoutMs + 2500);

      const publisher = await connectClient(`mqtt://127.0.0.1:${ports.tcp}`);
      const sentAt = Date.now();
      publisher.publish('steady/ws', 'still here');
      await inbox.wait(1);
      assert.ok(Date.now() - sentAt < 500, 'the delivery was not delayed');
      await closeClient(publisher);
    } finally {
      await closeClient(subscriber);
    }
  });
});
