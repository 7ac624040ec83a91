// Where the durable store lives for a worker count, and what a start with another worker count
// does with the stores an earlier run left. A single process keeps its store in `storage.dir`
// itself; a cluster keeps one per worker in `storage.dir/worker-<i>`. A store outside the current
// layout ("stray": the single-process store under a cluster, `worker-<j>` under one process or
// beyond the worker count) would otherwise be ignored with its sessions, so each is merged into
// the store of the current layout that takes it over, then deleted:
//   one process:  every worker-<j> into storage.dir;
//   N workers:    storage.dir into worker-0, worker-<j> (j >= N) into worker-<j mod N>.
// Retained messages go only to the store that keeps them (storage.dir, or worker-0 in a cluster).
// Should a client id have a session in two stores (only an older Petrel could leave that), the
// store written last wins.

import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { PetrelConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { createStore } from '../store/create-store.js';
import { databaseFileName } from '../store/lmdb-store.js';
import type { RecoveredState, Store } from '../store/store.js';

const workerDirectoryPattern = /^worker-(\d+)$/;

/** The store directory of worker `index` of a cluster (a single process uses `dataDir` itself). */
export function workerStoreDirectory(dataDir: string, index: number): string {
  return join(dataDir, `worker-${index}`);
}

function holdsStore(directory: string): boolean {
  return existsSync(join(directory, databaseFileName));
}

/** The worker-<j> store directories under `dataDir`, by j. */
function workerStores(dataDir: string): Array<{ index: number; directory: string }> {
  let names: string[];
  try {
    names = readdirSync(dataDir);
  } catch {
    return []; // no data directory yet: nothing left by an earlier run
  }
  return names
    .map((name) => ({ match: workerDirectoryPattern.exec(name), name }))
    .filter((entry) => entry.match !== null)
    .map((entry) => ({ index: Number(entry.match![1]), directory: join(dataDir, entry.name) }))
    .filter((entry) => holdsStore(entry.directory))
    .sort((left, right) => left.index - right.index);
}

/**
 * The stray stores the store of worker `index` (of `workers`; 1 = the single process, whose store
 * is `dataDir`) takes over.
 */
export function strayStores(dataDir: string, workers: number, index: number): string[] {
  const others = workerStores(dataDir);
  if (workers === 1) return others.map((entry) => entry.directory);
  const strays = index === 0 && holdsStore(dataDir) ? [dataDir] : [];
  for (const entry of others) if (entry.index >= workers && entry.index % workers === index) strays.push(entry.directory);
  return strays;
}

export interface AdoptOptions {
  storage: PetrelConfig['storage'];
  /** 1 for the single process. */
  workers: number;
  /** The worker whose store adopts (0 for the single process). */
  index: number;
  /** This store keeps the retained messages. */
  keepsRetained: boolean;
  logger: Logger;
}

export interface AdoptSummary {
  from: string;
  sessions: number;
  retained: number;
  /** Client ids with a session in this store and in the target or an earlier stray: the store written last kept its copy. */
  superseded: number;
}

function lastWritten(directory: string): number {
  return statSync(join(directory, databaseFileName)).mtimeMs;
}

/**
 * Merges the stray stores (see the header) into this worker's store and deletes them. Runs before
 * the broker opens its store; the merge is on disk (fsync) before any stray is deleted, so a crash
 * in between merges the same data again at the next start (a session already there is kept).
 */
export async function adoptStrayStores(options: AdoptOptions): Promise<AdoptSummary[]> {
  const { storage, workers, index, logger } = options;
  if (storage.mode === 'memory') return [];
  const strays = strayStores(storage.dir, workers, index);
  if (strays.length === 0) return [];
  const targetDirectory = workers === 1 ? storage.dir : workerStoreDirectory(storage.dir, index);
  // Read before opening: opening writes (the clean-up of what expired meanwhile).
  const written = new Map(strays.map((directory) => [directory, lastWritten(directory)]));
  const targetWritten = holdsStore(targetDirectory) ? lastWritten(targetDirectory) : 0;
  // Newest first: a client id found in two strays keeps the later one without being written twice.
  strays.sort((left, right) => written.get(right)! - written.get(left)!);

  // Sync whatever storage.mode says: the merge must be on disk before the strays are deleted.
  const syncStorage = { ...storage, mode: 'sync' as const };
  const target = createStore({ ...syncStorage, dir: targetDirectory }, logger);
  const targetState = await target.open();
  const merge = new Merge(target, targetState, targetWritten, options.keepsRetained);
  const summaries: AdoptSummary[] = [];
  try {
    for (const directory of strays) {
      const stray = createStore({ ...syncStorage, dir: directory }, logger);
      const state = await stray.open();
      try {
        summaries.push({ from: directory, ...merge.add(state, written.get(directory)!) });
      } finally {
        await stray.close();
      }
    }
    await new Promise<void>((resolve, reject) => target.whenDurable((error) => (error === undefined ? resolve() : reject(error))));
  } finally {
    await target.close();
  }
  for (const directory of strays) removeStore(directory, storage.dir);
  for (const summary of summaries) {
    logger.info({ ...summary, into: targetDirectory }, 'adopted the store of a run with another worker count');
  }
  return summaries;
}

/**
 * Deletes a merged stray (closed: its petrel.lock is gone already): a worker directory entirely;
 * in the data directory itself, only the database files (the worker-* directories live there).
 */
function removeStore(directory: string, dataDir: string): void {
  if (directory !== dataDir) {
    rmSync(directory, { recursive: true, force: true });
    return;
  }
  for (const name of [databaseFileName, `${databaseFileName}-lock`]) rmSync(join(directory, name), { force: true });
}

/** Writes the strays' state into the target store, remembering who owns each client id. */
class Merge {
  /** Client id -> when the store its session came from was last written. */
  private readonly owners = new Map<string, number>();
  private readonly retainedAt = new Map<string, number>();
  private readonly wills = new Set<string>();

  private readonly target: Store;
  private readonly keepsRetained: boolean;

  constructor(target: Store, state: RecoveredState, targetWritten: number, keepsRetained: boolean) {
    this.target = target;
    this.keepsRetained = keepsRetained;
    for (const session of state.sessions) this.owners.set(session.clientId, targetWritten);
    for (const message of state.retained) this.retainedAt.set(message.topic, message.receivedAt);
    for (const will of state.delayedWills) this.wills.add(will.clientId);
  }

  add(state: RecoveredState, written: number): Omit<AdoptSummary, 'from'> {
    let sessions = 0;
    let superseded = 0;
    const skipped = new Set<string>();
    for (const session of state.sessions) {
      const owner = this.owners.get(session.clientId);
      if (owner !== undefined && owner >= written) {
        skipped.add(session.clientId);
        superseded++;
        continue;
      }
      if (owner !== undefined) {
        // The target's copy is older than this stray's: replaced, records and will included.
        this.target.deleteSession(session.clientId);
        this.target.deleteDelayedWill(session.clientId);
        this.wills.delete(session.clientId);
        superseded++;
      }
      this.owners.set(session.clientId, written);
      this.target.putSession(session);
      for (const record of state.outgoing.get(session.clientId) ?? []) this.target.putOutgoing(session.clientId, record);
      for (const packetId of state.incomingQoS2.get(session.clientId) ?? []) this.target.putIncomingQoS2(session.clientId, packetId);
      sessions++;
    }
    for (const will of state.delayedWills) {
      if (skipped.has(will.clientId) || this.wills.has(will.clientId)) continue;
      this.wills.add(will.clientId);
      this.target.putDelayedWill(will);
    }
    let retained = 0;
    if (this.keepsRetained) {
      for (const message of state.retained) {
        const known = this.retainedAt.get(message.topic);
        if (known !== undefined && known >= message.receivedAt) continue;
        this.retainedAt.set(message.topic, message.receivedAt);
        this.target.putRetained(message.topic, message);
        retained++;
      }
    }
    return { sessions, retained, superseded };
  }
}
