// Certificate reload without restart: replaced files are picked up on reloadCertificates() (what
// SIGHUP calls) and by the file watcher; new connections see the new certificate (compared by
// fingerprint), connected clients stay; broken files keep the previous certificate and are logged.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as connectTls, type SecureContextOptions } from 'node:tls';
import { pino } from 'pino';
import { CertificateReloader, reloadCertificates } from '../../src/listeners/certificate-reloader.js';
import { defaultConfig, type ListenerConfig } from '../../src/config/schema.js';
import { TestCertificates, certificateFingerprint, type KeyPair } from '../helpers/certificates.js';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, collect, connectClient } from '../helpers/mqtt-client.js';

/** A pino logger whose JSON lines are kept for assertions. */
function recordingLogger() {
  const lines: Array<{ level: number; msg: string; reason?: string; listener?: string }> = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
  return { logger, lines };
}

/** The fingerprint of the certificate a new TLS connection is offered. */
function servedFingerprint(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectTls({ host: '127.0.0.1', port, ca: readFileSync(ca), servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerCertificate().fingerprint256;
      socket.destroy();
      resolve(fingerprint);
    });
    socket.on('error', reject);
  });
}

function install(pair: KeyPair, live: KeyPair): void {
  copyFileSync(pair.cert, live.cert);
  copyFileSync(pair.key, live.key);
}

describe('CertificateReloader', () => {
  let certificates: TestCertificates;
  let first: KeyPair;
  let second: KeyPair;
  let live: KeyPair;
  let config: ListenerConfig;

  before(() => {
    certificates = new TestCertificates();
    first = certificates.server('first');
    second = certificates.server('second');
    live = { cert: join(certificates.directory, 'live.pem'), key: join(certificates.directory, 'live.key') };
    install(first, live);
    config = defaultConfig({ listeners: [{ type: 'tls', port: 0, cert: live.cert, key: live.key, ca: certificates.ca }] }).listeners[0]!;
  });

  after(() => certificates.remove());

  test('unchanged files are not re-applied; new ones are; broken ones keep the previous context', () => {
    const { logger, lines } = recordingLogger();
    const reloader = new CertificateReloader(config, 'tls:test', logger, { watch: false });
    const applied: SecureContextOptions[] = [];
    reloader.attach({ setSecureContext: (options) => void applied.push(options) });
    try {
      assert.equal(reloader.fingerprint256, certificateFingerprint(first.cert));
      assert.equal(reloader.reload(), 'unchanged');
      assert.equal(applied.length, 0);

      install(second, live);
      assert.equal(reloader.reload(), 'reloaded');
      assert.equal(applied.length, 1);
      assert.deepEqual(applied[0]?.cert, readFileSync(second.cert));
      assert.equal(applied[0]?.minVersion, 'TLSv1.2');
      assert.equal(reloader.fingerprint256, certificateFingerprint(second.cert));

      copyFileSync(first.key, live.key); // a key that does not match the certificate
      assert.equal(reloader.reload(), 'failed');
      writeFileSync(live.cert, 'not a certificate');
      assert.equal(reloader.reload(), 'failed');
      assert.equal(applied.length, 1);
      assert.equal(reloader.fingerprint256, certificateFingerprint(second.cert));
      const failures = lines.filter((line) => line.msg.includes('reload failed'));
      assert.equal(failures.length, 2);
      assert.ok(failures.every((line) => line.listener === 'tls:test' && (line.reason ?? '').length > 0));
    } finally {
      reloader.close();
      install(first, live);
    }
  });

  test('unusable files at start are an error, not a listener without certificate', () => {
    const logger = pino({ level: 'silent' });
    assert.throws(() => new CertificateReloader({ ...config, cert: join(certificates.directory, 'missing.pem') }, 'tls:test', logger), /ENOENT/);
    assert.throws(() => new CertificateReloader({ ...config, key: first.key, cert: second.cert }, 'tls:test', logger), /key values mismatch|mismatch/i);
  });
});

describe('certificate reload in a running broker', () => {
  let certificates: TestCertificates;
  let pairs: KeyPair[];
  let live: KeyPair;
  let broker: StartedBroker;
  let recorder: ReturnType<typeof recordingLogger>;
  const ports: Record<string, number> = {};

  before(async () => {
    certificates = new TestCertificates();
    pairs = [certificates.server('one'), certificates.server('two'), certificates.server('three')];
    live = { cert: join(certificates.directory, 'live.pem'), key: join(certificates.directory, 'live.key') };
    install(pairs[0]!, live);
    recorder = recordingLogger();
    const tls = { host: '127.0.0.1', port: 0, cert: live.cert, key: live.key };
    broker = await startBroker(
      { listeners: [{ type: 'tls', name: 'tls', ...tls }, { type: 'wss', name: 'wss', ...tls }, { type: 'tcp', name: 'tcp', host: '127.0.0.1', port: 0 }] },
      { logger: recorder.logger },
    );
    for (const address of broker.broker.addresses) ports[address.name] = address.port;
  });

  after(async () => {
    await broker.stop();
    certificates.remove();
  });

  const fingerprints = async () => [await servedFingerprint(ports.tls!, certificates.ca), await servedFingerprint(ports.wss!, certificates.ca)];

  test('reloadCertificates(): new connections get the new certificate, connected clients stay', async () => {
    assert.deepEqual(await fingerprints(), Array(2).fill(certificateFingerprint(pairs[0]!.cert)));
    const connected = await connectClient(`mqtts://localhost:${ports.tls}`, { ca: readFileSync(certificates.ca), clientId: 'before-reload' });
    const inbox = collect(connected);
    await connected.subscribeAsync('reload/test');
    try {
      install(pairs[1]!, live);
      const outcome = reloadCertificates();
      // The watcher may have been quicker than this call: then the files are already "unchanged".
      assert.equal(outcome.failed, 0);
      assert.deepEqual(await fingerprints(), Array(2).fill(certificateFingerprint(pairs[1]!.cert)));
      const publisher = await connectClient(`mqtt://127.0.0.1:${ports.tcp}`);
      publisher.publish('reload/test', 'after reload');
      assert.equal((await inbox.wait(1))[0]?.payload, 'after reload');
      await closeClient(publisher);
    } finally {
      await closeClient(connected);
    }
  });

  test('a broken certificate file keeps the previous certificate and logs why', async () => {
    const before = certificateFingerprint(pairs[1]!.cert);
    writeFileSync(live.cert, '-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n');
    const outcome = reloadCertificates();
    assert.equal(outcome.failed, 2);
    assert.deepEqual(await fingerprints(), [before, before]);
    assert.ok(recorder.lines.some((line) => line.listener === 'wss' && line.msg.includes('reload failed')));
    install(pairs[1]!, live);
  });

  test('the file watcher picks up replaced files without a reload call', async () => {
    install(pairs[2]!, live);
    const expected = certificateFingerprint(pairs[2]!.cert);
    const deadline = Date.now() + 5000;
    let seen = await fingerprints();
    while (seen.some((fingerprint) => fingerprint !== expected) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      seen = await fingerprints();
    }
    assert.deepEqual(seen, [expected, expected]);
    assert.ok(recorder.lines.some((line) => line.msg === 'TLS certificate reloaded' && line.listener === 'tls'));
  });
});
