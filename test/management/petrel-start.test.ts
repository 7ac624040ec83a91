// The management server as `petrel start` runs it: in the primary of `--workers 2` (merging
// both workers' metrics), and a single process whose management port is taken.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { cleanEnvironment, spawnPetrel } from '../cli/petrel-process.js';
import { startCluster, type RunningCluster } from '../cluster/cluster-process.js';
import { closeClient, collect, connectClient, delay } from '../helpers/mqtt-client.js';
import { httpRequest, sampleValue, scrape, scrapeUntil } from './scrape.js';

const directory = mkdtempSync(join(tmpdir(), 'petrel-management-'));
after(() => rmSync(directory, { recursive: true, force: true }));


describe('petrel start --workers 2: one management server, in the primary, merging the workers', () => {
  let cluster: RunningCluster;
  let httpPort: number;
  const clients: MqttClient[] = [];

  before(async () => {
    cluster = await startCluster({
      workers: 2,
      env: { PETREL_HTTP__ENABLED: 'true', PETREL_HTTP__PORT: '0', PETREL_STORAGE__MODE: 'sync', PETREL_STORAGE__DIR: join(directory, 'cluster-data') },
    });
    const listening = await cluster.waitForLog((line) => line.msg.startsWith('management server listening'), 10_000, 'the management server');
    httpPort = listening.port as number;
    // The line comes from the primary, not from a worker.
    assert.equal(listening.worker, undefined);
  });

  after(async () => {
    await Promise.all(clients.map(closeClient));
    const code = await cluster.stop();
    assert.equal(code, 0);
  });

  test('connections on both workers add up; traffic and store bytes are summed', async () => {
    const workers = new Set<number>();
    for (let index = 0; index < 4; index++) {
      const clientId = `scraped-${index}`;
      clients.push(await connectClient(cluster.url, { clientId, clean: index !== 0 }));
      workers.add(await cluster.workerOf(clientId));
    }
    // node:cluster hands connections out in turn: both workers hold some, so a total of 4 can
    // only come from adding both workers' numbers.
    assert.deepEqual([...workers].sort(), [0, 1]);
    const [subscriber, publisher] = clients as [MqttClient, MqttClient];
    const inbox = collect(subscriber);
    await subscriber.subscribeAsync('cluster/metrics', { qos: 1 });
    for (let sequence = 0; sequence < 3; sequence++) await publisher.publishAsync('cluster/metrics', `m${sequence}`, { qos: 1 });
    await inbox.wait(3, 5000);

    const exposition = await scrapeUntil(httpPort, (current) => assert.ok(sampleValue(current, 'petrel_messages_sent_total') >= 3));
    assert.equal(sampleValue(exposition, 'petrel_clients_connected'), 4);
    assert.equal(sampleValue(exposition, 'petrel_sessions'), 4);
    assert.equal(sampleValue(exposition, 'petrel_subscriptions'), 1);
    assert.equal(sampleValue(exposition, 'petrel_messages_received_total'), 3);
    assert.equal(sampleValue(exposition, 'petrel_workers'), 2);
    assert.equal(sampleValue(exposition, 'petrel_workers_ready'), 2);
    assert.equal(sampleValue(exposition, 'petrel_workers_scraped'), 2);
    assert.equal(sampleValue(exposition, 'petrel_store_writable'), 1);
    assert.ok(sampleValue(exposition, 'petrel_store_disk_bytes') > 0);
    // Process metrics: one series per process, labelled.
    const cpuSeries = exposition.samples.filter((sample) => sample.name === 'process_cpu_user_seconds_total').map((sample) => sample.labels.process);
    assert.deepEqual(cpuSeries.sort(), ['primary', 'worker-0', 'worker-1']);
    assert.equal(exposition.samples.filter((sample) => sample.name === 'process_start_time_seconds').length, 3);
  });

  test('every answer is the merged one (the workers do not serve the port themselves)', async () => {
    for (let attempt = 0; attempt < 4; attempt++) {
      const exposition = await scrape(httpPort);
      assert.equal(sampleValue(exposition, 'petrel_workers_scraped'), 2);
    }
  });

  test('/healthz reports the workers; 404 and 405 as in a single process', async () => {
    const health = await httpRequest(httpPort, '/healthz');
    assert.equal(health.status, 200);
    assert.deepEqual(JSON.parse(health.body), {
      status: 'ok',
      workers: { configured: 2, ready: 2, answered: 2 },
      store: { writable: true, notWritableWorkers: [] },
    });
    assert.equal((await httpRequest(httpPort, '/nothing')).status, 404);
    assert.equal((await httpRequest(httpPort, '/metrics', 'POST')).status, 405);
  });
});

describe('petrel start with its management port taken', () => {
  let squatter: Server;
  let takenPort: number;

  before(async () => {
    squatter = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    takenPort = (squatter.address() as { port: number }).port;
  });

  after(() => new Promise<void>((resolve) => squatter.close(() => resolve())));

  test('logs an error naming http.port and serves MQTT anyway; SIGTERM still exits 0', async () => {
    const child = spawnPetrel(['start', '--workers', '1', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(directory, 'single-data')], {
      env: cleanEnvironment({ PETREL_HTTP__ENABLED: 'true', PETREL_HTTP__PORT: String(takenPort) }),
    });
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      const lines: Array<{ level: string; msg: string; [field: string]: unknown }> = [];
      let pending = '';
      const listening = new Promise<number>((resolve, reject) => {
        child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
          pending += chunk;
          for (let newline = pending.indexOf('\n'); newline !== -1; newline = pending.indexOf('\n')) {
            const line = JSON.parse(pending.slice(0, newline)) as (typeof lines)[number];
            pending = pending.slice(newline + 1);
            lines.push(line);
            if (line.msg === 'petrel listening') resolve((line.listeners as Array<{ port: number }>)[0]!.port);
          }
        });
        void exited.then((code) => reject(new Error(`petrel exited (${String(code)}): ${JSON.stringify(lines)}`)));
      });
      const mqttPort = await listening;
      // The management server starts after the listeners: wait for its verdict.
      const deadline = Date.now() + 5000;
      while (!lines.some((line) => line.level === 'error') && Date.now() < deadline) await delay(20);
      const error = lines.find((line) => line.level === 'error');
      assert.ok(error !== undefined, `no error line in ${JSON.stringify(lines)}`);
      assert.match(error.msg, new RegExp(`port ${takenPort} \\(http\\.port\\) is already in use`));
      assert.match(error.msg, /running without the management server/);
      assert.ok(!lines.some((line) => line.msg.startsWith('management server listening')));

      const client = await connectClient(`mqtt://127.0.0.1:${mqttPort}`, { clientId: 'despite-http' });
      await client.publishAsync('still/serving', 'yes', { qos: 1 });
      await closeClient(client);
    } finally {
      child.kill('SIGTERM');
    }
    assert.equal(await exited, 0);
  });
});
