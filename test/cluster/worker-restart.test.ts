// A worker killed with SIGKILL is restarted by the primary; its client reconnects (to any
// worker) and resumes its persistent session from the dead worker's store; clients of other
// workers do not notice. Runs with the durable store (one LMDB environment per worker).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { closeClient, connectCollecting } from '../helpers/mqtt-client.js';
import { startCluster, type RunningCluster } from './cluster-process.js';

const directory = mkdtempSync(join(tmpdir(), 'petrel-cluster-restart-'));

describe('petrel start --workers 3 with the durable store: a worker dies', () => {
  let cluster: RunningCluster;
  const clients: MqttClient[] = [];

  before(async () => {
    cluster = await startCluster({ workers: 3, env: { PETREL_STORAGE__MODE: 'sync', PETREL_DATA_DIR: directory } });
  });

  after(async () => {
    await Promise.all(clients.map((client) => closeClient(client)));
    assert.equal(await cluster.stop(), 0);
    rmSync(directory, { recursive: true, force: true });
  });

  async function open(clientId: string, options: Parameters<typeof connectCollecting>[1] = {}): Promise<{ client: MqttClient; worker: number; inbox: Awaited<ReturnType<typeof connectCollecting>>['inbox'] }> {
    const { client, inbox } = await connectCollecting(cluster.url, { clientId, ...options });
    clients.push(client);
    return { client, inbox, worker: await cluster.workerOf(clientId) };
  }

  test('one LMDB environment per worker', () => {
    for (let index = 0; index < 3; index++) assert.ok(existsSync(join(directory, `worker-${index}`)), `worker-${index}`);
  });

  test('the restarted worker gives back the persistent session; other workers keep their clients', async () => {
    const persistent = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
    const victim = await open('phoenix', persistent);
    await victim.client.subscribeAsync('phoenix/inbox', { qos: 1 });
    await closeClient(victim.client);

    // A bystander on another worker, connected through the whole episode.
    let bystander = await open('bystander-0');
    for (let index = 1; index < 6 && bystander.worker === victim.worker; index++) bystander = await open(`bystander-${index}`);
    assert.notEqual(bystander.worker, victim.worker);
    let bystanderClosed = false;
    bystander.client.on('close', () => (bystanderClosed = true));
    await bystander.client.subscribeAsync('bystander/topic', { qos: 1 });

    // The publisher on another worker: its PUBACK waits until the victim's worker has the queue entry on disk.
    let mailer = await open('mailer-0');
    for (let index = 1; index < 6 && mailer.worker === victim.worker; index++) mailer = await open(`mailer-${index}`);
    assert.notEqual(mailer.worker, victim.worker);
    const publisher = mailer.client;
    for (let index = 0; index < 3; index++) await publisher.publishAsync('phoenix/inbox', `kept-${index}`, { qos: 1 });

    const deadPid = cluster.pids[victim.worker]!;
    process.kill(deadPid, 'SIGKILL');
    await cluster.waitForLog((line) => line.msg === 'worker died; restarting it' && line.worker === victim.worker, 5000, 'the restart');

    // Reconnecting at once: the claim waits for the restarted worker to recover its sessions.
    const back = await open('phoenix', persistent);
    assert.equal((back.client as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent, true);
    assert.deepEqual((await back.inbox.wait(3, 5000)).map((message) => message.payload), ['kept-0', 'kept-1', 'kept-2']);
    const ready = await cluster.waitForLog((line) => line.msg === 'worker ready' && line.worker === victim.worker && line.workerPid !== deadPid, 10_000, 'the new worker ready');
    assert.notEqual(ready.workerPid, deadPid);

    await publisher.publishAsync('bystander/topic', 'still here', { qos: 1 });
    assert.equal((await bystander.inbox.wait(1)).at(-1)!.payload, 'still here');
    assert.equal(bystanderClosed, false, 'a client of another worker was disconnected');
  });
});

describe('petrel start --workers 3 with the durable store: a full restart', () => {
  const dataDirectory = mkdtempSync(join(tmpdir(), 'petrel-cluster-full-restart-'));
  after(() => rmSync(dataDirectory, { recursive: true, force: true }));

  test('retained messages (kept by worker 0) and persistent sessions (in each worker store) come back', async () => {
    const env = { PETREL_STORAGE__MODE: 'sync', PETREL_DATA_DIR: dataDirectory };
    const persistent = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
    const first = await startCluster({ workers: 3, env });
    const sessions: Array<{ clientId: string; worker: number }> = [];
    try {
      for (let index = 0; index < 4; index++) {
        const clientId = `sleeper-${index}`;
        const { client } = await connectCollecting(first.url, { clientId, ...persistent });
        sessions.push({ clientId, worker: await first.workerOf(clientId) });
        await client.subscribeAsync(`sleepers/${index}`, { qos: 1 });
        await closeClient(client);
      }
      assert.ok(new Set(sessions.map((session) => session.worker)).size >= 2, 'sessions all on one worker');
      const { client: publisher } = await connectCollecting(first.url, { clientId: 'restart-publisher' });
      // Retained messages published through different workers; worker 0 writes them all.
      await publisher.publishAsync('kept/a', 'A', { qos: 1, retain: true });
      for (let index = 0; index < 4; index++) await publisher.publishAsync(`sleepers/${index}`, `queued-${index}`, { qos: 1 });
      const { client: second } = await connectCollecting(first.url, { clientId: 'restart-publisher-2' });
      await second.publishAsync('kept/b', 'B', { qos: 1, retain: true });
      await Promise.all([closeClient(publisher), closeClient(second)]);
    } finally {
      assert.equal(await first.stop(), 0);
    }

    const again = await startCluster({ workers: 3, env });
    try {
      for (const { clientId } of sessions) {
        const back = await connectCollecting(again.url, { clientId, ...persistent });
        assert.equal((back.client as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent, true, clientId);
        const index = clientId.split('-')[1];
        assert.deepEqual((await back.inbox.wait(1, 5000)).map((message) => message.payload), [`queued-${index}`]);
        await closeClient(back.client);
      }
      for (let index = 0; index < 3; index++) {
        const reader = await connectCollecting(again.url, { clientId: `retained-reader-${index}` });
        await reader.client.subscribeAsync('kept/+', { qos: 1 });
        const messages = await reader.inbox.wait(2);
        assert.deepEqual(messages.map((message) => message.payload).sort(), ['A', 'B']);
        await closeClient(reader.client);
      }
    } finally {
      assert.equal(await again.stop(), 0);
    }
  });
});
