// `petrel start --workers N` as a command: start-up failure, signals, the mesh directory.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cleanEnvironment, runPetrel } from '../cli/petrel-process.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import { startCluster } from './cluster-process.js';

describe('petrel start --workers', () => {
  test('a port in use: the workers cannot listen, the command exits 1 and says why in one line', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const { port } = blocker.address() as AddressInfo;
    try {
      const result = await runPetrel(['start', '--workers', '2', '--host', '127.0.0.1', '--port', String(port)], {
        env: cleanEnvironment({ PETREL_STORAGE__MODE: 'memory' }),
        timeoutMs: 20_000,
      });
      assert.equal(result.code, 1);
      // The first worker's reason, through the primary; the other worker's failure adds no line.
      assert.match(result.stderr, /^petrel: cannot start: .*EADDRINUSE.*\n$/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('$SYS shows cluster totals, whichever worker the watcher is on', async () => {
    const cluster = await startCluster({ workers: 2, env: { PETREL_MQTT__SYS_INTERVAL: '1' } });
    const clients = [];
    try {
      for (let index = 0; index < 4; index++) {
        const clientId = `counted-${index}`;
        clients.push(await connectClient(cluster.url, { clientId }));
        await cluster.workerOf(clientId);
      }
      assert.ok(new Set(cluster.logs.filter((line) => line.msg === 'client connected').map((line) => line.worker)).size === 2, 'clients on one worker only');
      await delay(2200); // every worker reported its clients, and every worker published $SYS since
      for (let index = 0; index < 2; index++) {
        const watcher = await connectCollecting(cluster.url, { clientId: `sys-watcher-${index}` });
        clients.push(watcher.client);
        await watcher.client.subscribeAsync('$SYS/broker/clients/connected', { qos: 0 });
        const [message] = await watcher.inbox.wait(1);
        assert.ok(Number(message!.payload) >= 4, `worker ${await cluster.workerOf(`sys-watcher-${index}`)} reported ${message!.payload} clients`);
      }
    } finally {
      await Promise.all(clients.map((client) => closeClient(client)));
      assert.equal(await cluster.stop(), 0);
    }
  });

  test('SIGINT stops every worker gracefully and exits 0; the mesh sockets are removed', async () => {
    const cluster = await startCluster({ workers: 2 });
    const client = await connectClient(cluster.url, { clientId: 'sigint-watcher', protocolVersion: 5 });
    const disconnected = new Promise<number | undefined>((resolve) => client.once('disconnect', (packet) => resolve(packet.reasonCode)));
    const socketPaths = cluster.logs.filter((line) => line.msg === 'worker listening').map((line) => line.meshSocket as string);
    assert.equal(socketPaths.length, 2);
    assert.ok(socketPaths.every((path) => existsSync(path)));
    cluster.child.kill('SIGINT');
    assert.equal(await disconnected, 0x8b);
    assert.equal(await cluster.stop(), 0);
    assert.ok(socketPaths.every((path) => !existsSync(path)));
    await closeClient(client);
  });
});
