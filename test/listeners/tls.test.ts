// TLS and mTLS listeners in a real broker, with real certificates (openssl) and real clients:
// MQTT.js over mqtts (3.1.1 and 5.0), mosquitto_pub / mosquitto_sub, raw sockets sending garbage.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { buildAuth, type AuthSystem } from '../../src/auth/build-auth.js';
import { silentLogger } from '../../src/auth/logger.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import { TestCertificates, certificateFingerprint, type KeyPair } from '../helpers/certificates.js';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, collect, connectClient } from '../helpers/mqtt-client.js';

const run = promisify(execFile);

/** Resolves with the connected client, or rejects with whatever stopped it (TLS alert, close...). */
function tryConnect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** Waits until the socket is closed by the other side; fails after `timeoutMs`. */
function closedWithin(socket: Socket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve();
    const timer = setTimeout(() => reject(new Error(`socket still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

describe('TLS listeners', () => {
  let certificates: TestCertificates;
  let foreign: TestCertificates;
  let server: KeyPair;
  let device: KeyPair;
  let intruder: KeyPair;
  let broker: StartedBroker;
  let auth: AuthSystem;
  const connected: ClientInfo[] = [];
  const ports: Record<string, number> = {};
  const handshakeTimeoutMs = 1500;

  before(async () => {
    certificates = new TestCertificates();
    foreign = new TestCertificates('Some Other CA');
    server = certificates.server();
    device = certificates.client('device-7');
    intruder = foreign.client('intruder');
    const tls = { cert: server.cert, key: server.key, ca: certificates.ca, host: '127.0.0.1', port: 0 };
    const listeners = [
      { type: 'tcp', host: '127.0.0.1', port: 0, name: 'tcp' },
      { type: 'tls', name: 'tls', ...tls },
      { type: 'tls', name: 'mtls', ...tls, requestCert: true, certificateAsUsername: true },
      { type: 'tls', name: 'optional-cert', ...tls, requestCert: true, rejectUnauthorized: false },
      { type: 'tls', name: 'tls13', ...tls, minVersion: 'TLSv1.3' },
    ];
    const { defaultConfig } = await import('../../src/config/schema.js');
    auth = buildAuth(defaultConfig({ listeners }), silentLogger, { watch: false });
    broker = await startBroker(
      { listeners, limits: { connectTimeoutMs: handshakeTimeoutMs } },
      { hooks: [...auth.hooks, { onClientConnected: (client) => void connected.push({ ...client }) }] },
    );
    for (const address of broker.broker.addresses) ports[address.name] = address.port;
  });

  after(async () => {
    auth.close();
    await broker.stop();
    certificates.remove();
    foreign.remove();
  });

  const connectedAs = (clientId: string) => connected.find((client) => client.clientId === clientId);

  for (const protocolVersion of [4, 5] as const) {
    test(`MQTT.js ${protocolVersion === 5 ? '5.0' : '3.1.1'} over mqtts with the CA: pub/sub with a tcp client`, async () => {
      const subscriber = await connectClient(`mqtt://127.0.0.1:${ports.tcp}`, { protocolVersion, clientId: `tcp-sub-${protocolVersion}` });
      const publisher = await connectClient(`mqtts://localhost:${ports.tls}`, { protocolVersion, ca: readFileSync(certificates.ca), clientId: `tls-pub-${protocolVersion}` });
      try {
        const inbox = collect(subscriber);
        await subscriber.subscribeAsync('tls/test', { qos: 1 });
        await publisher.publishAsync('tls/test', `over tls ${protocolVersion}`, { qos: 1 });
        const [message] = await inbox.wait(1);
        assert.equal(message?.payload, `over tls ${protocolVersion}`);
        assert.equal(connectedAs(`tls-pub-${protocolVersion}`)?.listener, 'tls');
        assert.equal(connectedAs(`tls-pub-${protocolVersion}`)?.certificate, undefined);
      } finally {
        await closeClient(publisher);
        await closeClient(subscriber);
      }
    });
  }

  test('a client that does not trust the server certificate cannot connect', async () => {
    await assert.rejects(tryConnect(`mqtts://localhost:${ports.tls}`, { ca: readFileSync(foreign.ca) }), /self-signed|unable to (verify|get)/i);
  });

  test('mTLS: without a client certificate the handshake is refused', async () => {
    await assert.rejects(tryConnect(`mqtts://localhost:${ports.mtls}`, { ca: readFileSync(certificates.ca), clientId: 'no-cert' }));
    assert.equal(connectedAs('no-cert'), undefined);
  });

  test('mTLS: a certificate from another CA is refused', async () => {
    await assert.rejects(
      tryConnect(`mqtts://localhost:${ports.mtls}`, { ca: readFileSync(certificates.ca), cert: readFileSync(intruder.cert), key: readFileSync(intruder.key), clientId: 'intruder' }),
    );
    assert.equal(connectedAs('intruder'), undefined);
  });

  for (const protocolVersion of [4, 5] as const) {
    test(`mTLS ${protocolVersion === 5 ? '5.0' : '3.1.1'}: the certificate CN becomes the user name, the fingerprint reaches the hooks`, async () => {
      const clientId = `mtls-${protocolVersion}`;
      const client = await connectClient(`mqtts://localhost:${ports.mtls}`, {
        protocolVersion,
        clientId,
        ca: readFileSync(certificates.ca),
        cert: readFileSync(device.cert),
        key: readFileSync(device.key),
        username: 'claimed-name',
      });
      await closeClient(client);
      const info = connectedAs(clientId);
      assert.equal(info?.username, 'device-7');
      assert.equal(info?.certificate?.subjectCN, 'device-7');
      assert.equal(info?.certificate?.fingerprint256, certificateFingerprint(device.cert));
    });
  }

  test('optional client certificate: without one the client connects, an unverified one is not reported', async () => {
    const anonymous = await connectClient(`mqtts://localhost:${ports['optional-cert']}`, { ca: readFileSync(certificates.ca), clientId: 'optional-none' });
    await closeClient(anonymous);
    const unverified = await connectClient(`mqtts://localhost:${ports['optional-cert']}`, {
      ca: readFileSync(certificates.ca),
      cert: readFileSync(intruder.cert),
      key: readFileSync(intruder.key),
      clientId: 'optional-foreign',
    });
    await closeClient(unverified);
    assert.equal(connectedAs('optional-none')?.certificate, undefined);
    assert.equal(connectedAs('optional-foreign')?.certificate, undefined);
  });

  test('minVersion TLSv1.3 refuses a TLS 1.2 client and accepts a 1.3 one', async () => {
    const attempt = (maxVersion: 'TLSv1.2' | 'TLSv1.3') =>
      new Promise<string>((resolve, reject) => {
        const socket = connectTls({ host: '127.0.0.1', port: ports.tls13!, ca: readFileSync(certificates.ca), servername: 'localhost', maxVersion }, () => {
          const version = socket.getProtocol() ?? '';
          socket.end();
          resolve(version);
        });
        socket.on('error', reject);
      });
    assert.equal(await attempt('TLSv1.3'), 'TLSv1.3');
    await assert.rejects(attempt('TLSv1.2'), /protocol version|alert/i);
  });

  test('mosquitto_pub and mosquitto_sub with --cafile, --cert and --key against the mTLS listener', async () => {
    const tlsArguments = ['-h', 'localhost', '-p', String(ports.mtls), '--cafile', certificates.ca, '--cert', device.cert, '--key', device.key];
    const subscriber = run('mosquitto_sub', [...tlsArguments, '-t', 'mosquitto/tls', '-C', '1', '-W', '10', '-i', 'mosquitto-sub', '-V', 'mqttv5'], { timeout: 15000 });
    const deadline = Date.now() + 5000;
    while (connectedAs('mosquitto-sub') === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    // The subscription is in place shortly after CONNECT; publishing waits for it.
    const subscribed = Date.now() + 5000;
    while (broker.broker.router.index.subscriptionCount === 0 && Date.now() < subscribed) await new Promise((resolve) => setTimeout(resolve, 20));
    await run('mosquitto_pub', [...tlsArguments, '-t', 'mosquitto/tls', '-m', 'from mosquitto_pub', '-q', '1', '-i', 'mosquitto-pub'], { timeout: 10000 });
    const { stdout } = await subscriber;
    assert.equal(stdout.trim(), 'from mosquitto_pub');
    assert.equal(connectedAs('mosquitto-pub')?.username, 'device-7');
  });

  test('mosquitto_sub without a client certificate is refused by the mTLS listener', async () => {
    await assert.rejects(
      run('mosquitto_sub', ['-h', 'localhost', '-p', String(ports.mtls), '--cafile', certificates.ca, '-t', 'x', '-C', '1', '-W', '3'], { timeout: 10000 }),
    );
  });

  test('TLS handshake garbage and a silent socket are closed; other clients are not disturbed', async () => {
    const subscriber = await connectClient(`mqtts://localhost:${ports.tls}`, { ca: readFileSync(certificates.ca), clientId: 'steady' });
    const inbox = collect(subscriber);
    await subscriber.subscribeAsync('steady/topic', { qos: 0 });
    try {
      const garbage = await openSocket(ports.tls!);
      garbage.on('error', () => {});
      garbage.write(randomBytes(4096));
      // An MQTT CONNECT in clear text to a TLS port is garbage too.
      const plaintext = await openSocket(ports.mtls!);
      plaintext.on('error', () => {});
      plaintext.write(Buffer.from('101000044d5154540402003c0004746573', 'hex'));
      const silent = await openSocket(ports.tls!);
      silent.on('error', () => {});
      await Promise.all([closedWithin(garbage, 2000), closedWithin(plaintext, 2000)]);
      // The silent one is cut by the handshake timeout (the connect timeout).
      await closedWithin(silent, handshakeTimeoutMs + 2000);
      const publisher = await connectClient(`mqtt://127.0.0.1:${ports.tcp}`, { clientId: 'steady-publisher' });
      const sentAt = Date.now();
      publisher.publish('steady/topic', 'still here');
      await inbox.wait(1);
      assert.ok(Date.now() - sentAt < 500, 'the delivery was not delayed');
      await closeClient(publisher);
    } finally {
      await closeClient(subscriber);
    }
  });
});
