// PROXY protocol on tcp and tls listeners in a real broker: headers written by raw sockets, and a
// real haproxy (Debian package) in front with send-proxy / send-proxy-v2. The broker must see the
// original client's address, refuse sockets without a valid header, and keep serving others.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { freePort } from '../../src/bench/loopback-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { Duplex } from 'node:stream';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import { encodePacket } from '../../src/protocol/encoder.js';
import { TestCertificates } from '../helpers/certificates.js';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, collect, connectClient } from '../helpers/mqtt-client.js';

const connackAccepted = Buffer.from([0x20, 0x02, 0x00, 0x00]);
const connectTimeoutMs = 1000;

const connectPacket = (clientId: string) =>
  encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 30, clientId }, 4);

function v2Inet(source: [number, number, number, number], sourcePort: number, destinationPort: number): Buffer {
  const header = Buffer.alloc(28);
  Buffer.from('0d0a0d0a000d0a515549540a', 'hex').copy(header, 0);
  header[12] = 0x21; // version 2, PROXY
  header[13] = 0x11; // INET, STREAM
  header.writeUInt16BE(12, 14);
  Buffer.from(source).copy(header, 16);
  Buffer.from([127, 0, 0, 1]).copy(header, 20);
  header.writeUInt16BE(sourcePort, 24);
  header.writeUInt16BE(destinationPort, 26);
  return header;
}

function openSocket(port: number, localAddress = '127.0.0.1'): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ port, host: '127.0.0.1', localAddress }, () => resolve(socket));
    socket.on('error', reject);
  });
}

/** The first `length` bytes the stream receives, or what arrived before it closed. */
function firstBytes(stream: Duplex, length: number, timeoutMs = 2000): Promise<Buffer> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const done = () => {
      clearTimeout(timer);
      stream.off('data', onData);
      resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      chunks.push(chunk);
      if (Buffer.concat(chunks).length >= length) done();
    };
    const timer = setTimeout(done, timeoutMs);
    stream.on('data', onData);
    stream.once('close', done);
  });
}

function closedWithin(socket: Duplex, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** Sends `prefix` in the same write as the first bytes written through it (a ClientHello here). */
class PrefixedStream extends Duplex {
  private readonly socket: Socket;
  private prefix: Buffer | undefined;

  constructor(socket: Socket, prefix: Buffer) {
    super();
    this.socket = socket;
    this.prefix = prefix;
    socket.on('data', (chunk: Buffer) => this.push(chunk));
    socket.on('end', () => this.push(null));
    socket.on('close', () => this.destroy());
  }

  override _read(): void {}

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    const data = this.prefix === undefined ? chunk : Buffer.concat([this.prefix, chunk]);
    this.prefix = undefined;
    this.socket.write(data, callback);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.socket.destroy();
    callback(error);
  }
}

async function waitListening(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const socket = await openSocket(port);
      socket.destroy();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

describe('PROXY protocol listeners', () => {
  let certificates: TestCertificates;
  let broker: StartedBroker;
  const connected: ClientInfo[] = [];
  const ports: Record<string, number> = {};

  before(async () => {
    certificates = new TestCertificates();
    const server = certificates.server();
    broker = await startBroker(
      {
        listeners: [
          { type: 'tcp', host: '127.0.0.1', port: 0, name: 'plain' },
          { type: 'tcp', host: '127.0.0.1', port: 0, name: 'proxied', proxyProtocol: true },
          { type: 'tls', host: '127.0.0.1', port: 0, name: 'proxied-tls', proxyProtocol: true, cert: server.cert, key: server.key },
        ],
        limits: { connectTimeoutMs },
      },
      { hooks: [{ onClientConnected: (client) => void connected.push({ ...client }) }] },
    );
    for (const address of broker.broker.addresses) ports[address.name] = address.port;
  });

  after(async () => {
    await broker.stop();
    certificates.remove();
  });

  const connectedAs = (clientId: string) => connected.find((client) => client.clientId === clientId);

  test('v1 header and CONNECT in one write: the broker sees the header address', async () => {
    const socket = await openSocket(ports.proxied!);
    socket.write(Buffer.concat([Buffer.from('PROXY TCP4 192.0.2.77 127.0.0.1 40001 1883\r\n'), connectPacket('v1-one-write')]));
    assert.deepEqual(await firstBytes(socket, 4), connackAccepted);
    socket.destroy();
    assert.equal(connectedAs('v1-one-write')?.remoteAddress, '192.0.2.77');
    assert.equal(connectedAs('v1-one-write')?.remotePort, 40001);
  });

  test('v1 header sent one byte at a time, CONNECT afterwards', async () => {
    const socket = await openSocket(ports.proxied!);
    for (const byte of Buffer.from('PROXY TCP6 2001:db8::9 ::1 40002 1883\r\n')) {
      socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
    socket.write(connectPacket('v1-bytewise'));
    assert.deepEqual(await firstBytes(socket, 4), connackAccepted);
    socket.destroy();
    assert.equal(connectedAs('v1-bytewise')?.remoteAddress, '2001:db8::9');
  });

  test('v2 header: the broker sees the header address; v2 LOCAL keeps the socket address', async () => {
    const proxied = await openSocket(ports.proxied!);
    proxied.write(Buffer.concat([v2Inet([198, 51, 100, 23], 40003, 1883), connectPacket('v2-proxy')]));
    assert.deepEqual(await firstBytes(proxied, 4), connackAccepted);
    proxied.destroy();
    assert.deepEqual([connectedAs('v2-proxy')?.remoteAddress, connectedAs('v2-proxy')?.remotePort], ['198.51.100.23', 40003]);

    const local = await openSocket(ports.proxied!);
    const localHeader = v2Inet([1, 2, 3, 4], 1, 2);
    localHeader[12] = 0x20; // LOCAL
    local.write(Buffer.concat([localHeader, connectPacket('v2-local')]));
    assert.deepEqual(await firstBytes(local, 4), connackAccepted);
    assert.deepEqual([connectedAs('v2-local')?.remoteAddress, connectedAs('v2-local')?.remotePort], ['127.0.0.1', local.localPort]);
    local.destroy();
  });

  test('tls listener: the PROXY header comes before the TLS handshake, in the same segment as the ClientHello', async () => {
    const raw = await openSocket(ports['proxied-tls']!);
    const secure = connectTls({ socket: new PrefixedStream(raw, v2Inet([203, 0, 113, 99], 40004, 8883)), ca: readFileSync(certificates.ca), servername: 'localhost' });
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    secure.write(connectPacket('tls-proxied'));
    assert.deepEqual(await firstBytes(secure, 4), connackAccepted);
    secure.destroy();
    assert.deepEqual([connectedAs('tls-proxied')?.remoteAddress, connectedAs('tls-proxied')?.remotePort], ['203.0.113.99', 40004]);
    assert.equal(connectedAs('tls-proxied')?.listener, 'proxied-tls');
  });

  test('a missing, malformed or late header closes the socket; other clients keep being served', async () => {
    const subscriber = await connectClient(`mqtt://127.0.0.1:${ports.plain}`, { clientId: 'steady' });
    const inbox = collect(subscriber);
    await subscriber.subscribeAsync('steady/proxy');
    try {
      const noHeader = await openSocket(ports.proxied!);
      noHeader.write(connectPacket('no-header'));
      const garbage = await openSocket(ports.proxied!);
      garbage.write('PROXY TCP4 nonsense\r\n');
      const tooLong = await openSocket(ports.proxied!);
      tooLong.write(`PROXY TCP4 ${'9'.repeat(200)}`);
      const silent = await openSocket(ports.proxied!);
      const tlsGarbage = await openSocket(ports['proxied-tls']!);
      tlsGarbage.write(Buffer.concat([v2Inet([1, 1, 1, 1], 1, 1), Buffer.from('not a ClientHello')]));
      for (const socket of [noHeader, garbage, tooLong, silent, tlsGarbage]) socket.on('error', () => {});
      await Promise.all([closedWithin(noHeader, 500), closedWithin(garbage, 500), closedWithin(tooLong, 500), closedWithin(tlsGarbage, 500)]);
      await closedWithin(silent, connectTimeoutMs + 1000);
      assert.equal(connectedAs('no-header'), undefined);

      const publisher = await connectClient(`mqtt://127.0.0.1:${ports.plain}`);
      const sentAt = Date.now();
      publisher.publish('steady/proxy', 'still here');
      await inbox.wait(1);
      assert.ok(Date.now() - sentAt < 500, 'the delivery was not delayed');
      await closeClient(publisher);
    } finally {
      await closeClient(subscriber);
    }
  });

  describe('behind a real haproxy', () => {
    let haproxy: ChildProcess;
    let directory: string;
    const haproxyPorts = { v1: 0, v2: 0, tls: 0 };
    let haproxyOutput = '';

    before(async () => {
      directory = mkdtempSync(join(tmpdir(), 'petrel-haproxy-'));
      haproxyPorts.v1 = await freePort();
      haproxyPorts.v2 = await freePort();
      haproxyPorts.tls = await freePort();
      const configuration = [
        'global',
        '  maxconn 100',
        'defaults',
        '  mode tcp',
        '  timeout connect 2s',
        '  timeout client 30s',
        '  timeout server 30s',
        'frontend mqtt_v1',
        `  bind 127.0.0.1:${haproxyPorts.v1}`,
        '  default_backend petrel_v1',
        'frontend mqtt_v2',
        `  bind 127.0.0.1:${haproxyPorts.v2}`,
        '  default_backend petrel_v2',
        'frontend mqtts_passthrough',
        `  bind 127.0.0.1:${haproxyPorts.tls}`,
        '  default_backend petrel_tls',
        'backend petrel_v1',
        `  server petrel 127.0.0.1:${ports.proxied} send-proxy`,
        'backend petrel_v2',
        `  server petrel 127.0.0.1:${ports.proxied} send-proxy-v2`,
        'backend petrel_tls',
        `  server petrel 127.0.0.1:${ports['proxied-tls']} send-proxy-v2`,
        '',
      ].join('\n');
      const file = join(directory, 'haproxy.cfg');
      writeFileSync(file, configuration);
      // -db: foreground, no daemon; stops with its child when the test ends.
      haproxy = spawn('haproxy', ['-f', file, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
      haproxy.stdout?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString()));
      haproxy.stderr?.on('data', (chunk: Buffer) => (haproxyOutput += chunk.toString()));
      try {
        await Promise.all([waitListening(haproxyPorts.v1, 5000), waitListening(haproxyPorts.v2, 5000), waitListening(haproxyPorts.tls, 5000)]);
      } catch (error) {
        throw new Error(`haproxy did not start: ${haproxyOutput}`, { cause: error });
      }
    });

    after(async () => {
      if (haproxy.exitCode === null) {
        const exited = new Promise((resolve) => haproxy.once('exit', resolve));
        haproxy.kill('SIGTERM');
        await exited;
      }
      rmSync(directory, { recursive: true, force: true });
    });

    test('TLS passed through haproxy with send-proxy-v2: MQTT.js over mqtts, the broker sees the client port', async () => {
      const client = await connectClient(`mqtts://localhost:${haproxyPorts.tls}`, { clientId: 'haproxy-tls', ca: readFileSync(certificates.ca) });
      const localPort = (client.stream as Socket).localPort;
      await client.publishAsync('through/haproxy/tls', 'hello', { qos: 1 });
      await closeClient(client);
      assert.deepEqual([connectedAs('haproxy-tls')?.remoteAddress, connectedAs('haproxy-tls')?.remotePort], ['127.0.0.1', localPort]);
      assert.equal(connectedAs('haproxy-tls')?.listener, 'proxied-tls');
    });

    for (const version of ['v1', 'v2'] as const) {
      test(`send-proxy${version === 'v2' ? '-v2' : ''}: MQTT.js through haproxy, the broker sees the client's own port`, async () => {
        const clientId = `haproxy-${version}`;
        const subscriber = await connectClient(`mqtt://127.0.0.1:${haproxyPorts[version]}`, { clientId });
        const localPort = (subscriber.stream as Socket).localPort;
        try {
          const inbox = collect(subscriber);
          await subscriber.subscribeAsync('through/haproxy', { qos: 1 });
          const publisher = await connectClient(`mqtt://127.0.0.1:${ports.plain}`);
          await publisher.publishAsync('through/haproxy', version, { qos: 1 });
          assert.equal((await inbox.wait(1))[0]?.payload, version);
          await closeClient(publisher);
        } finally {
          await closeClient(subscriber);
        }
        assert.equal(connectedAs(clientId)?.remoteAddress, '127.0.0.1');
        assert.equal(connectedAs(clientId)?.remotePort, localPort);
      });

      test(`send-proxy${version === 'v2' ? '-v2' : ''}: a client from 127.0.0.3 is seen as 127.0.0.3`, async () => {
        const clientId = `haproxy-address-${version}`;
        const socket = await openSocket(haproxyPorts[version], '127.0.0.3');
        const localPort = socket.localPort;
        socket.write(connectPacket(clientId));
        assert.deepEqual(await firstBytes(socket, 4), connackAccepted);
        socket.destroy();
        assert.deepEqual([connectedAs(clientId)?.remoteAddress, connectedAs(clientId)?.remotePort], ['127.0.0.3', localPort]);
      });
    }
  });
});
