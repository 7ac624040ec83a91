// One broker per data directory. LMDB itself lets several processes share an environment,
// so two brokers on the same directory would both write sessions and queues and each
// recover the other's clients. The lock is a file, `petrel.lock`, naming its owner
// (host, pid and the process start time); a lock whose owner is gone (kill -9, crash)
// is taken over, a lock held by a live process stops the second broker.
//
// The file is created complete and atomically (written under a private name, then
// hard-linked into place: link fails if the name exists), so a reader never sees a
// half-written owner. A stale lock is moved aside with rename (atomic) before it is
// deleted, and put back if what was moved turns out not to be the stale one.
// Remaining race: a third broker starting within the microseconds between such a
// rename and the put-back; starting brokers at the same instant on one directory is
// not a supported operation, a restart after a crash is.

import { closeSync, linkSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { StoreError } from './store-error.js';

export const lockFileName = 'petrel.lock';

interface LockOwner {
  pid: number;
  host: string;
  /** Start time of the process (clock ticks since boot, /proc/<pid>/stat), to tell a reused pid apart. */
  started?: number;
}

export interface DataDirLock {
  readonly path: string;
  /** Deletes the lock file if it is still ours. Idempotent. */
  release(): void;
}

/** Lock files held by this process: a second store in the same process must be refused too. */
const heldHere = new Set<string>();

/** Takes the data directory's lock (the directory must exist); throws a StoreError naming the owner if it is in use. */
export function lockDataDirectory(dir: string): DataDirLock {
  const path = join(dir, lockFileName);
  const self: LockOwner = { pid: process.pid, host: hostname(), started: processStartTime(process.pid) };
  // Each pass either takes the lock, refuses, or clears a stale one and tries again.
  for (let attempt = 0; attempt < 5; attempt++) {
    if (create(path, self)) {
      heldHere.add(path);
      return lockHandle(path, self);
    }
    const owner = readOwner(path);
    if (owner === 'missing') continue;
    if (owner !== 'unreadable' && isAlive(owner, path)) {
      if (owner.pid === process.pid && owner.host === self.host) throw new StoreError(dir, `already open in this process (lock file ${path})`);
      throw new StoreError(
        dir,
        `in use by another broker (pid ${owner.pid} on ${owner.host}, lock file ${path}); stop it first, or delete the lock file if that process is not a broker using this directory`,
      );
    }
    clearStale(path, owner);
  }
  throw new StoreError(dir, `cannot take the lock file ${path}: it keeps changing (another broker starting at the same time?)`);
}

function lockHandle(path: string, self: LockOwner): DataDirLock {
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      heldHere.delete(path);
      const owner = readOwner(path);
      // Never delete a lock that is no longer ours (taken over by someone who judged it stale).
      if (typeof owner === 'object' && sameOwner(owner, self)) unlinkIfPresent(path);
    },
  };
}

/** Writes the owner under a private name and links it into place; false if the lock file exists. */
function create(path: string, self: LockOwner): boolean {
  const privatePath = `${path}.${process.pid}.${Date.now()}.tmp`;
  const descriptor = openSync(privatePath, 'wx', 0o644);
  try {
    writeSync(descriptor, `${JSON.stringify(self)}\n`);
  } finally {
    closeSync(descriptor);
  }
  try {
    linkSync(privatePath, path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new StoreError(path, 'cannot create the lock file', error);
  } finally {
    unlinkIfPresent(privatePath);
  }
}

function readOwner(path: string): LockOwner | 'missing' | 'unreadable' {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
    throw new StoreError(path, 'cannot read the lock file', error);
  }
  try {
    const parsed = JSON.parse(text) as Partial<LockOwner>;
    if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0 || typeof parsed.host !== 'string') return 'unreadable';
    return { pid: parsed.pid, host: parsed.host, started: typeof parsed.started === 'number' ? parsed.started : undefined };
  } catch {
    return 'unreadable';
  }
}

function sameOwner(left: LockOwner, right: LockOwner): boolean {
  return left.pid === right.pid && left.host === right.host && left.started === right.started;
}

function isAlive(owner: LockOwner, path: string): boolean {
  // A pid on another host cannot be checked from here (shared file system): assume it is running.
  if (owner.host !== hostname()) return true;
  if (owner.pid === process.pid) {
    // Our own pid: either this process already holds it, or a previous process with the same
    // pid (a container's pid 1 after a restart) left it behind.
    return heldHere.has(path);
  }
  try {
    process.kill(owner.pid, 0);
  } catch (error) {
    // EPERM: the process exists but belongs to another user.
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // The pid is in use: by the owner only if it started when the owner did.
  const started = processStartTime(owner.pid);
  return owner.started === undefined || started === undefined || started === owner.started;
}

/** Moves the stale lock aside and deletes it; puts it back if it was replaced meanwhile by a live owner's. */
function clearStale(path: string, stale: LockOwner | 'unreadable'): void {
  const asidePath = `${path}.${process.pid}.${Date.now()}.stale`;
  try {
    renameSync(path, asidePath);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new StoreError(path, 'cannot remove the stale lock file', error);
  }
  const moved = readOwner(asidePath);
  const isTheStaleOne = stale === 'unreadable' ? moved === 'unreadable' : typeof moved === 'object' && sameOwner(moved, stale);
  if (!isTheStaleOne) {
    try {
      linkSync(asidePath, path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new StoreError(path, 'cannot restore the lock file', error);
    }
  }
  unlinkIfPresent(asidePath);
}

function unlinkIfPresent(path: string): void {
  try {
    unlinkSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
}

/** Field 22 of /proc/<pid>/stat (after the command name, which may hold spaces and parentheses); undefined off Linux. */
function processStartTime(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const started = Number(fields[19]);
    return Number.isFinite(started) ? started : undefined;
  } catch {
    return undefined;
  }
}
