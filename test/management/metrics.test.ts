// The management server attached to an in-process broker with the LMDB store: real MQTT.js
// clients publish, /metrics is scraped over real HTTP and its values must follow.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import type { Store } from '../../src/store/store.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { startLocalManagement, type RunningManagement } from '../../src/management/start-management.js';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, collect, connectClient } from '../helpers/mqtt-client.js';
import { httpRequest, sampleValue, scrape, scrapeUntil, type Exposition } from './scrape.js';

const silent = pino({ level: 'silent' });
const http = { enabled: true, host: '127.0.0.1', port: 0 };


describe('/metrics of a single-process broker (LMDB store)', () => {
  let directory: string;
  let started: StartedBroker;
  let management: RunningManagement;

  before(async () => {
    directory = mkdtempSync(join(tmpdir(), 'petrel-metrics-'));
    const store = new LmdbStore({ dir: directory, mode: 'sync', asyncFlushMs: 50, logger: silent });
    // Passing the store keeps the broker in this process even under PETREL_TEST_WORKERS.
    started = await startBroker({ storage: { mode: 'sync', dir: directory } }, { store });
    const running = await startLocalManagement(http, started.broker, silent);
    assert.ok(running !== undefined);
    management = running;
  });

  after(async () => {
    await management.stop();
    await started.stop();
    rmSync(directory, { recursive: true, force: true });
  });

  test('every petrel_ metric has HELP and the right TYPE; process metrics are there', async () => {
    const answer = await httpRequest(management.address.port, '/metrics');
    assert.equal(answer.status, 200);
    assert.match(String(answer.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    const exposition = await scrape(management.address.port);
    const expected: Record<string, string> = {
      petrel_clients_connected: 'gauge',
      petrel_connections_open: 'gauge',
      petrel_sessions: 'gauge',
      petrel_subscriptions: 'gauge',
      petrel_retained_messages: 'gauge',
      petrel_retained_bytes: 'gauge',
      petrel_store_disk_bytes: 'gauge',
      petrel_store_pending_writes: 'gauge',
      petrel_store_writable: 'gauge',
      petrel_messages_received_total: 'counter',
      petrel_messages_sent_total: 'counter',
      petrel_bytes_received_total: 'counter',
      petrel_bytes_sent_total: 'counter',
      petrel_connections_accepted_total: 'counter',
      petrel_messages_dropped_total: 'counter',
      petrel_info: 'gauge',
    };
    for (const [name, type] of Object.entries(expected)) {
      assert.equal(exposition.types.get(name), type, `${name} TYPE`);
      assert.ok((exposition.help.get(name) ?? '').length > 10, `${name} HELP`);
    }
    const unexpected = [...exposition.types.keys()].filter((name) => name.startsWith('petrel_') && !(name in expected));
    assert.deepEqual(unexpected, []);
    for (const name of ['process_cpu_user_seconds_total', 'process_resident_memory_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_eventloop_lag_seconds']) {
      assert.ok(exposition.samples.some((sample) => sample.name === name), name);
    }
    // A single process: no process label.
    assert.ok(exposition.samples.every((sample) => !('process' in sample.labels)));
    assert.equal(sampleValue(exposition, 'petrel_info', { store_mode: 'sync' }), 1);
    assert.equal(sampleValue(exposition, 'petrel_store_writable'), 1);
    assert.ok(sampleValue(exposition, 'petrel_store_disk_bytes') > 0, 'the LMDB data directory has bytes');
  });

  test('clients, sessions, subscriptions, retained messages and traffic follow the broker', async () => {
    const port = management.address.port;
    const before = await scrape(port);
    assert.equal(sampleValue(before, 'petrel_clients_connected'), 0);
    const receivedBefore = sampleValue(before, 'petrel_messages_received_total');
    const bytesBefore = sampleValue(before, 'petrel_bytes_received_total');

    const subscriber = await connectClient(started.url, { clientId: 'metrics-sub', clean: false });
    const inbox = collect(subscriber);
    await subscriber.subscribeAsync(['metrics/a', 'metrics/b'], { qos: 1 });
    const publisher = await connectClient(started.url, { clientId: 'metrics-pub' });
    for (let sequence = 0; sequence < 5; sequence++) await publisher.publishAsync('metrics/a', `message ${sequence}`, { qos: 1 });
    await publisher.publishAsync('metrics/b', 'kept', { qos: 1, retain: true });
    await inbox.wait(6);

    const during = await scrapeUntil(port, (exposition) => assert.equal(sampleValue(exposition, 'petrel_messages_sent_total') - sampleValue(before, 'petrel_messages_sent_total'), 6));
    assert.equal(sampleValue(during, 'petrel_clients_connected'), 2);
    assert.equal(sampleValue(during, 'petrel_sessions'), 2);
    assert.equal(sampleValue(during, 'petrel_subscriptions'), 2);
    assert.equal(sampleValue(during, 'petrel_retained_messages'), 1);
    assert.equal(sampleValue(during, 'petrel_retained_bytes'), 'metrics/b'.length + 'kept'.length);
    assert.equal(sampleValue(during, 'petrel_messages_received_total') - receivedBefore, 6);
    assert.ok(sampleValue(during, 'petrel_bytes_received_total') > bytesBefore);
    assert.ok(sampleValue(during, 'petrel_bytes_sent_total') > 0);
    assert.ok(sampleValue(during, 'petrel_connections_accepted_total') >= 2);
    assert.equal(sampleValue(during, 'petrel_store_pending_writes') >= 0, true);

    // The persistent session outlives its connection; the clean one does not.
    await closeClient(publisher);
    await closeClient(subscriber);
    const afterwards = await scrapeUntil(port, (exposition) => assert.equal(sampleValue(exposition, 'petrel_clients_connected'), 0));
    assert.equal(sampleValue(afterwards, 'petrel_sessions'), 1);
    assert.equal(sampleValue(afterwards, 'petrel_subscriptions'), 2);
  });

  test('drops are counted by reason; refused publishes count as "other"', async () => {
    const port = management.address.port;
    const before = await scrape(port);
    const tooLarge = (exposition: Exposition): number => sampleValue(exposition, 'petrel_messages_dropped_total', { reason: 'packet-too-large' });
    const other = (exposition: Exposition): number => sampleValue(exposition, 'petrel_messages_dropped_total', { reason: 'other' });
    assert.equal(sampleValue(before, 'petrel_messages_dropped_total', { reason: 'queue-full' }), 0);

    // A 5.0 subscriber that accepts packets of at most 64 bytes.
    const small = await connectClient(started.url, { clientId: 'metrics-small', protocolVersion: 5, properties: { maximumPacketSize: 64 } });
    await small.subscribeAsync('drop/#', { qos: 0 });
    const publisher = await connectClient(started.url, { clientId: 'metrics-dropper', protocolVersion: 5 });
    await publisher.publishAsync('drop/big', Buffer.alloc(500), { qos: 1 });
    // Clients may not publish under $SYS: refused (the broker's own reason, no session involved).
    await assert.rejects(publisher.publishAsync('$SYS/forged', 'x', { qos: 1 }), /Not authorized/);

    const afterwards = await scrapeUntil(port, (exposition) => {
      assert.equal(tooLarge(exposition) - tooLarge(before), 1);
      assert.equal(other(exposition) - other(before), 1);
    });
    assert.equal(sampleValue(afterwards, 'petrel_messages_dropped_total', { reason: 'queue-full' }), 0);
    await Promise.all([small, publisher].map(closeClient));
  });
});

describe('/healthz and routing', () => {
  let started: StartedBroker;
  let management: RunningManagement;
  let storeWritable = true;

  before(async () => {
    started = await startBroker({}, { logger: silent });
    const real = started.broker.store;
    // The broker's store as the management server sees it, with writability under the test's control.
    const store = Object.create(real, { writable: { get: () => storeWritable } }) as Store;
    const source = { stats: () => started.broker.stats(), counters: started.broker.counters, store };
    const running = await startLocalManagement(http, source, silent);
    assert.ok(running !== undefined);
    management = running;
  });

  after(async () => {
    await management.stop();
    await started.stop();
  });

  test('/healthz: 200 {status: ok} while the store is writable, 503 when it is not', async () => {
    const port = management.address.port;
    const healthy = await httpRequest(port, '/healthz');
    assert.equal(healthy.status, 200);
    assert.equal(healthy.headers['content-type'], 'application/json');
    assert.deepEqual(JSON.parse(healthy.body), { status: 'ok', store: { mode: 'memory', writable: true } });

    storeWritable = false;
    const failing = await httpRequest(port, '/healthz');
    assert.equal(failing.status, 503);
    assert.deepEqual(JSON.parse(failing.body), { status: 'unavailable', store: { mode: 'memory', writable: false } });
    assert.equal(sampleValue(await scrape(port), 'petrel_store_writable'), 0);

    storeWritable = true;
    assert.equal((await httpRequest(port, '/healthz')).status, 200);
  });

  test('unknown paths are 404, other methods than GET 405 with Allow: GET, a query string is ignored', async () => {
    const port = management.address.port;
    for (const path of ['/', '/metric', '/metrics/extra', '/api/clients']) {
      assert.equal((await httpRequest(port, path)).status, 404, path);
    }
    for (const [method, path] of [
      ['POST', '/metrics'],
      ['DELETE', '/healthz'],
      ['PUT', '/metrics'],
    ] as const) {
      const answer = await httpRequest(port, path, method);
      assert.equal(answer.status, 405, `${method} ${path}`);
      assert.equal(answer.headers.allow, 'GET');
    }
    assert.equal((await httpRequest(port, '/metrics?name[]=petrel_sessions')).status, 200);
    assert.equal((await httpRequest(port, '/healthz?verbose=1')).status, 200);
  });
});

describe('management port in use', () => {
  test('the server is not started, the error names http.port, the broker carries on', async () => {
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    const takenPort = (squatter.address() as { port: number }).port;
    const lines: Array<{ level: number; msg: string; port?: number }> = [];
    const destination = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        for (const line of chunk.toString().split('\n')) if (line !== '') lines.push(JSON.parse(line) as { level: number; msg: string; port?: number });
        callback();
      },
    });
    const logger = pino({ level: 'info' }, destination);
    const started = await startBroker({}, { logger });
    try {
      const running = await startLocalManagement({ enabled: true, host: '127.0.0.1', port: takenPort }, started.broker, logger);
      assert.equal(running, undefined);
      const error = lines.find((line) => line.level === 50);
      assert.ok(error !== undefined, 'an error line');
      assert.match(error.msg, /http\.port/);
      assert.match(error.msg, new RegExp(`port ${takenPort} .*already in use`));
      assert.equal(error.port, takenPort);
      // The broker still serves MQTT.
      const client = await connectClient(started.url, { clientId: 'still-here' });
      await client.publishAsync('a', 'b', { qos: 1 });
      await closeClient(client);
    } finally {
      await started.stop();
      await new Promise<void>((resolve) => squatter.close(() => resolve()));
    }
  });
});
