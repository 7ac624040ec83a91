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
