// One broker per data directory: the lock file (src/store/data-dir-lock.ts) refuses a second
// store or broker while the first is alive, is released on stop, and is taken over when its
// owner is gone (kill -9, a reused pid).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { lockDataDirectory, lockFileName } from '../../src/store/data-dir-lock.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import { StoreError } from '../../src/store/store-error.js';
import { BrokerProcess } from './broker-process.js';
import { freePort } from '../../src/bench/loopback-port.js';

const directories: string[] = [];
function directory(): string {
  const created = mkdtempSync(join(tmpdir(), 'petrel-lock-'));
  directories.push(created);
  return created;
}

function store(dir: string): LmdbStore {
  return new LmdbStore({ dir, mode: 'sync', asyncFlushMs: 50, logger: pino({ level: 'silent' }) });
}

/** The pid of a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

describe('data directory lock', () => {
  after(() => {
    for (const dir of directories) rmSync(dir, { recursive: true, force: true });
  });

  test('a second store on the same directory is refused until the first closes', async () => {
    const dir = directory();
    const first = store(dir);
    await first.open();
    const owner = JSON.parse(readFileSync(join(dir, lockFileName), 'utf8')) as { pid: number; host: string };
    assert.equal(owner.pid, process.pid);
    assert.equal(owner.host, hostname());
    await assert.rejects(store(dir).open(), (error: unknown) => {
      assert.ok(error instanceof StoreError);
      assert.match(error.message, /already open in this process/);
      return true;
    });
    await first.close();
    assert.equal(existsSync(join(dir, lockFileName)), false, 'lock file left behind after close');
    const second = store(dir);
    await second.open();
    await second.close();
  });

  test('a lock left by a dead process is taken over', async () => {
    const dir = directory();
    writeFileSync(join(dir, lockFileName), `${JSON.stringify({ pid: await deadPid(), host: hostname() })}\n`);
    const lock = lockDataDirectory(dir);
    assert.equal((JSON.parse(readFileSync(lock.path, 'utf8')) as { pid: number }).pid, process.pid);
    lock.release();
    assert.equal(existsSync(lock.path), false);
  });

  test('a lock naming this pid but not held here (a restarted container) is taken over', () => {
    const dir = directory();
    writeFileSync(join(dir, lockFileName), `${JSON.stringify({ pid: process.pid, host: hostname(), started: 1 })}\n`);
    const lock = lockDataDirectory(dir);
    assert.throws(() => lockDataDirectory(dir), /already open in this process/);
    lock.release();
  });

  test('a live pid that started at another time (reused pid) is not the owner', () => {
    const dir = directory();
    // pid 1 is alive, but it did not start at tick 1 after boot... unless it did, which /proc tells.
    const initStart = Number(readFileSync('/proc/1/stat', 'utf8').split(') ')[1]!.split(' ')[19]);
    writeFileSync(join(dir, lockFileName), `${JSON.stringify({ pid: 1, host: hostname(), started: initStart + 1 })}\n`);
    lockDataDirectory(dir).release();
    writeFileSync(join(dir, lockFileName), `${JSON.stringify({ pid: 1, host: hostname(), started: initStart })}\n`);
    assert.throws(() => lockDataDirectory(dir), /in use by another broker \(pid 1 /);
  });

  test('an unreadable lock file is treated as stale; a lock from another host is respected', () => {
    const dir = directory();
    writeFileSync(join(dir, lockFileName), 'garbage');
    lockDataDirectory(dir).release();
    writeFileSync(join(dir, lockFileName), `${JSON.stringify({ pid: process.pid, host: `not-${hostname()}` })}\n`);
    assert.throws(() => lockDataDirectory(dir), (error: unknown) => error instanceof StoreError && error.message.includes(`not-${hostname()}`));
  });

  test('a second broker on the same data directory exits with a clear message; after kill -9 of the first, it starts', { timeout: 60_000 }, async () => {
    const dir = directory();
    const first = await BrokerProcess.start({ port: await freePort(), dataDir: dir });
    try {
      const second = await BrokerProcess.start({ port: await freePort(), dataDir: dir }).then(
        (broker) => broker,
        (error: unknown) => error as Error,
      );
      assert.ok(second instanceof Error, 'the second broker started on a locked directory');
      assert.match(second.message, new RegExp(`in use by another broker \\(pid ${first.pid} `));
      await first.kill();
      const third = await BrokerProcess.start({ port: await freePort(), dataDir: dir });
      const stopped = await third.stop();
      assert.equal(stopped.code, 0, third.output);
      assert.equal(existsSync(join(dir, lockFileName)), false, 'lock file left behind after a graceful stop');
    } finally {
      await first.kill();
    }
  });
});
