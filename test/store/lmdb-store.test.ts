import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';
import { open } from 'lmdb';
import { createSilentLogger } from '../../src/log/logger.js';
import { LmdbStore, databaseFileName } from '../../src/store/lmdb-store.js';
import { StoreError } from '../../src/store/store-error.js';
import { durable, message, outgoing, runStoreContract, session, temporaryDirectory } from './store-contract.js';

function lmdbStore(dir: string, mode: 'sync' | 'async', extra: { now?: () => number } = {}): LmdbStore {
  return new LmdbStore({ dir, mode, asyncFlushMs: 10, logger: createSilentLogger(), ...extra });
}

runStoreContract('lmdb sync', (dir) => lmdbStore(dir, 'sync'));
runStoreContract('lmdb async', (dir) => lmdbStore(dir, 'async'));

/** Runs a fixture script next to this file, compiled or not. */
function fixture(name: string): { command: string; args: string[] } {
  const source = import.meta.url.endsWith('.ts');
  const path = fileURLToPath(new URL(`./fixtures/${name}${source ? '.ts' : '.js'}`, import.meta.url));
  return { command: process.execPath, args: source ? ['--import', 'tsx', path] : [path] };
}

/** Counts the entries of one of the store's databases by opening the file directly. */
async function countEntries(dir: string, name: string): Promise<number> {
  const environment = open({ path: join(dir, databaseFileName), noSubdir: true, maxDbs: 8 });
  try {
    return environment.openDB(name, {}).getCount();
  } finally {
    await environment.close();
  }
}

async function withDirectory(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await temporaryDirectory();
  try {
    await body(dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('lmdb store', () => {
  test('a message fanned out to 1,000 sessions is written once and deleted with its last reference', () =>
    withDirectory(async (dir) => {
      const store = lmdbStore(dir, 'sync');
      await store.open();
      const shared = message('fan', 'x'.repeat(1000));
      for (let index = 0; index < 1000; index += 1) {
        store.putSession(session(`s${index}`));
        store.putOutgoing(`s${index}`, outgoing(1, shared));
      }
      await durable(store);
      await store.close();
      assert.equal(await countEntries(dir, 'messages'), 1);
      assert.equal(await countEntries(dir, 'outgoing'), 1000);

      const reopened = lmdbStore(dir, 'sync');
      const state = await reopened.open();
      assert.equal(state.outgoing.size, 1000);
      for (let index = 0; index < 1000; index += 1) reopened.deleteOutgoing(`s${index}`, 1);
      await durable(reopened);
      await reopened.close();
      assert.equal(await countEntries(dir, 'messages'), 0);
      assert.equal(await countEntries(dir, 'outgoing'), 0);
    }));

  test('a message queued for one session is stored inside its record, with no body of its own', () =>
    withDirectory(async (dir) => {
      const store = lmdbStore(dir, 'sync');
      await store.open();
      store.putSession(session('solo'));
      const single = message('one/topic', 'payload', { qos: 1, publisherId: 'pub', properties: { contentType: 'text/plain' } });
      store.putOutgoing('solo', outgoing(1, single));
      await durable(store);
      store.putOutgoing('solo', outgoing(1, single, { state: 'sent', packetId: 7 }));
      await durable(store);
      await store.close();
      assert.equal(await countEntries(dir, 'messages'), 0);
      assert.equal(await countEntries(dir, 'outgoing'), 1);

      const reopened = lmdbStore(dir, 'sync');
      const state = await reopened.open();
      assert.deepEqual(state.outgoing.get('solo'), [outgoing(1, single, { state: 'sent', packetId: 7 })]);
      reopened.deleteOutgoing('solo', 1);
      await durable(reopened);
      await reopened.close();
      assert.equal(await countEntries(dir, 'outgoing'), 0);
    }));

  test('a message stored inline and later queued for a second session gets one shared body; each record survives the other', () =>
    withDirectory(async (dir) => {
      const store = lmdbStore(dir, 'sync');
      await store.open();
      store.putSession(session('first'));
      store.putSession(session('second'));
      const moved = message('shared/later', 'body');
      store.putOutgoing('first', outgoing(1, moved));
      await durable(store);
      // Queued again after the inline record was committed (a shared-subscription re-delivery does this).
      store.putOutgoing('second', outgoing(1, moved));
      await durable(store);
      store.putOutgoing('first', outgoing(1, moved, { state: 'sent', packetId: 3 }));
      await durable(store);
      await store.close();
      assert.equal(await countEntries(dir, 'messages'), 1);

      const reopened = lmdbStore(dir, 'sync');
      const state = await reopened.open();
      assert.deepEqual(state.outgoing.get('first'), [outgoing(1, moved, { state: 'sent', packetId: 3 })]);
      assert.deepEqual(state.outgoing.get('second'), [outgoing(1, moved)]);
      reopened.deleteOutgoing('first', 1);
      await durable(reopened);
      await reopened.close();

      const again = lmdbStore(dir, 'sync');
      const rest = await again.open();
      assert.equal(rest.outgoing.get('first'), undefined);
      assert.deepEqual(rest.outgoing.get('second'), [outgoing(1, moved)]);
      again.deleteOutgoing('second', 1);
      await durable(again);
      await again.close();
      assert.equal(await countEntries(dir, 'messages'), 0);
      assert.equal(await countEntries(dir, 'outgoing'), 0);
    }));

  test('a message routed to two sessions, one of which acknowledges before the commit, is stored inline for the other', () =>
    withDirectory(async (dir) => {
      const store = lmdbStore(dir, 'sync');
      await store.open();
      store.putSession(session('fast'));
      store.putSession(session('slow'));
      await durable(store);
      const routed = message('two/subscribers', 'x');
      store.putOutgoing('fast', outgoing(1, routed));
      store.putOutgoing('slow', outgoing(1, routed));
      store.deleteOutgoing('fast', 1);
      assert.equal(store.stats().pendingWrites, 1);
      await durable(store);
      await store.close();
      assert.equal(await countEntries(dir, 'messages'), 0);
      assert.equal(await countEntries(dir, 'outgoing'), 1);
      const reopened = lmdbStore(dir, 'sync');
      const state = await reopened.open();
      await reopened.close();
      assert.deepEqual(state.outgoing.get('slow'), [outgoing(1, routed)]);
    }));

  test('async mode commits pending writes within asyncFlushMs, without a whenDurable call', () =>
    withDirectory(async (dir) => {
      const store = new LmdbStore({ dir, mode: 'async', asyncFlushMs: 30, logger: createSilentLogger() });
      await store.open();
      try {
        store.putSession(session('async'));
        assert.equal(store.stats().pendingWrites, 1);
        // Nobody asks for durability: the flush timer alone must commit it (polled: the machine may be slow).
        const deadline = Date.now() + 3000;
        while (store.stats().pendingWrites > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
        assert.equal(store.stats().pendingWrites, 0);
      } finally {
        await store.close();
      }
    }));

  test('churning sessions and messages does not grow the data file without bound', () =>
    withDirectory(async (dir) => {
      const store = lmdbStore(dir, 'sync');
      await store.open();
      const sizes: number[] = [];
      try {
        for (let cycle = 0; cycle < 30; cycle += 1) {
          for (let client = 0; client < 100; client += 1) {
            const clientId = `churn-${cycle}-${client}`;
            store.putSession(session(clientId));
            for (let seq = 1; seq <= 10; seq += 1) store.putOutgoing(clientId, outgoing(seq, message(`t/${seq}`, `${cycle}:${seq}:${'p'.repeat(1000)}`)));
          }
          for (let topic = 0; topic < 50; topic += 1) store.putRetained(`r/${topic}`, message(`r/${topic}`, `${cycle}${'r'.repeat(500)}`, { retain: true }));
          await durable(store);
          for (let client = 0; client < 100; client += 1) {
            for (let seq = 1; seq <= 5; seq += 1) store.deleteOutgoing(`churn-${cycle}-${client}`, seq);
            store.deleteSession(`churn-${cycle}-${client}`);
          }
          await durable(store);
          sizes.push((await stat(join(dir, databaseFileName))).size);
        }
      } finally {
        await store.close();
      }
      const early = sizes[4] ?? 0;
      const last = sizes[sizes.length - 1] ?? 0;
      assert.ok(last <= early * 1.5, `data file grew from ${early} to ${last} bytes: ${sizes.join(', ')}`);
    }));

  test('open drops sessions and retained messages that expired while down, with their records', () =>
    withDirectory(async (dir) => {
      const start = 1_700_000_000_000;
      const store = lmdbStore(dir, 'sync', { now: () => start });
      await store.open();
      store.putSession(session('short', { expiryInterval: 60, disconnectedAt: start }));
      store.putSession(session('long', { expiryInterval: 3600, disconnectedAt: start }));
      store.putSession(session('connected', { expiryInterval: 60 }));
      store.putOutgoing('short', outgoing(1, message('t', 'only short')));
      store.putIncomingQoS2('short', 1);
      store.putRetained('old', message('old', 'x', { retain: true, expiresAt: start + 1000 }));
      store.putRetained('new', message('new', 'y', { retain: true, expiresAt: start + 3_600_000 }));
      await durable(store);
      await store.close();

      const later = lmdbStore(dir, 'sync', { now: () => start + 120_000 });
      const state = await later.open();
      assert.deepEqual(state.sessions.map((record) => record.clientId).sort(), ['connected', 'long']);
      assert.equal(state.outgoing.size, 0);
      assert.equal(state.incomingQoS2.size, 0);
      assert.deepEqual(state.retained.map((stored) => stored.topic), ['new']);
      await later.close();
      assert.equal(await countEntries(dir, 'messages'), 0);
      assert.equal(await countEntries(dir, 'outgoing'), 0);
    }));

  test('a data file overwritten with garbage stops open with a StoreError naming the file', () =>
    withDirectory(async (dir) => {
      const store = lmdbStore(dir, 'sync');
      await store.open();
      store.putSession(session('a'));
      await durable(store);
      await store.close();
      await writeFile(join(dir, databaseFileName), randomBytes(256 * 1024));
      const broken = lmdbStore(dir, 'sync');
      await assert.rejects(broken.open(), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.ok(error.message.includes(join(dir, databaseFileName)), error.message);
        return true;
      });
    }));

  test('a data directory that is a file stops open with a StoreError', () =>
    withDirectory(async (dir) => {
      const notDirectory = join(dir, 'plain-file');
      await writeFile(notDirectory, 'not a directory');
      await assert.rejects(lmdbStore(notDirectory, 'sync').open(), (error: unknown) => {
        assert.ok(error instanceof StoreError);
        assert.ok(error.message.includes(notDirectory), error.message);
        return true;
      });
    }));

  test('a data file that is a directory stops open with a StoreError', () =>
    withDirectory(async (dir) => {
      await mkdir(join(dir, databaseFileName));
      await assert.rejects(lmdbStore(dir, 'sync').open(), StoreError);
    }));

  test('records acknowledged by whenDurable survive SIGKILL of the writer', async () => {
    for (const killAfter of [1, 25, 120]) {
      await withDirectory(async (dir) => {
        const { command, args } = fixture('crash-writer');
        const child = spawn(command, [...args, dir], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        const acknowledged = await new Promise<number>((resolve, reject) => {
          let buffered = '';
          let highest = 0;
          child.stdout.on('data', (chunk: Buffer) => {
            buffered += chunk.toString();
            const lines = buffered.split('\n');
            buffered = lines.pop() ?? '';
            for (const line of lines) highest = Math.max(highest, Number(line.split(' ')[1]));
            if (highest >= killAfter && child.exitCode === null && child.signalCode === null) {
              child.kill('SIGKILL');
              resolve(highest);
            }
          });
          child.on('exit', (code, signal) => {
            if (signal !== 'SIGKILL') reject(new Error(`writer exited early (${String(code)}): ${stderr}`));
          });
        });
        await new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(undefined) : child.on('exit', resolve)));

        const store = lmdbStore(dir, 'sync');
        const state = await store.open();
        try {
          const sessions = new Set(state.sessions.map((record) => record.clientId));
          const retained = new Set(state.retained.map((stored) => stored.topic));
          for (let round = 1; round <= acknowledged; round += 1) {
            assert.ok(sessions.has(`client-${round}`), `session of round ${round} lost (acknowledged ${acknowledged})`);
            assert.deepEqual(state.outgoing.get(`client-${round}`)?.map((record) => record.seq), [1, 2, 3]);
            assert.ok(retained.has(`r/${round}`), `retained of round ${round} lost`);
          }
        } finally {
          await store.close();
        }
      });
    }
  });

  test('a write error (file size limit) makes the store unwritable, fails callbacks, and recovers', () =>
    withDirectory(async (dir) => {
      const { command, args } = fixture('write-failure');
      const quoted = [command, ...args, dir].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
      // ulimit -f counts 512-byte blocks in dash: 1 MiB.
      const child = spawn('/bin/sh', ['-c', `ulimit -f 2048 && exec ${quoted}`], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      assert.equal(code, 0, stderr);
      const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
      assert.equal(result.failed, true, stdout);
      assert.match(String(result.message), /write failed/);
      assert.equal(result.writableAfterFailure, false);
      assert.equal(result.refusedWhileFailing, true);
      assert.equal(result.restored, true, stdout);
      assert.equal(result.afterRestoreError, undefined);

      const store = lmdbStore(dir, 'sync');
      const state = await store.open();
      await store.close();
      assert.equal(state.outgoing.size, 0);
      assert.deepEqual(state.retained.map((stored) => stored.topic), ['after']);
    }));
});
