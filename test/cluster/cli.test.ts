// `petrel start --workers N` as a command: start-up failure, signals, the mesh directory.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { cleanEnvironment, runPetrel } from '../cli/petrel-process.js';
import { closeClient, connectClient } from '../helpers/mqtt-client.js';
import { startCluster } from './cluster-process.js';

describe('petrel start --workers', () => {
  test('a port in use: the workers cannot listen, the command exits 1 and says why', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', () => resolve()));
    const { port } = blocker.address() as AddressInfo;
    try {
      const result = await runPetrel(['start', '--workers', '2', '--host', '127.0.0.1', '--port', String(port)], {
        env: cleanEnvironment({ PETREL_STORAGE__MODE: 'memory' }),
        timeoutMs: 20_000,
      });
      assert.equal(result.code, 1);
      assert.match(result.stderr, /EADDRINUSE/);
      assert.match(result.stderr, /a worker failed to start/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
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
