// The broker's store access pattern, LMDB (sync, async) against LevelDB (classic-level):
// a QoS 1 message is queued for N persistent sessions, acknowledged to the publisher
// once durable, then its outgoing records are deleted when the subscribers ack;
// and retained messages are set. `concurrency` messages are in flight at once, as
// from many publishers, so group commit has something to group.
//
// npm run bench:store   (rounds alternate between backends; medians are reported)

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir, cpus } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { createSilentLogger } from '../src/log/logger.js';
import { LmdbStore } from '../src/store/lmdb-store.js';
import type { OutgoingRecord, StoredMessage } from '../src/store/store.js';

/** The part of the Store interface the access pattern uses. */
interface AccessStore {
  putOutgoing(clientId: string, record: OutgoingRecord): void;
  deleteOutgoing(clientId: string, seq: number): void;
  putRetained(topic: string, message: StoredMessage | undefined): void;
  whenDurable(callback: (error?: Error) => void): void;
  close(): Promise<void>;
}

/**
 * LevelDB with the same group commit as the LMDB store: writes of a turn go into one
 * batch, one batch in flight, `sync: true` (fsync) when durable. Bodies are written once.
 */
class LevelAccessStore implements AccessStore {
  private readonly database: ClassicLevel<string, Buffer>;
  private readonly sync: boolean;
  private pending: { type: 'put' | 'del'; key: string; value?: Buffer }[] = [];
  private callbacks: ((error?: Error) => void)[] = [];
  private inFlight: ((error?: Error) => void)[] | undefined;
  private scheduled = false;
  private nextId = 1;
  private readonly ids = new WeakMap<StoredMessage, number>();
  private readonly references = new Map<number, number>();
  private readonly outgoingIds = new Map<string, number>();

  constructor(database: ClassicLevel<string, Buffer>, sync: boolean) {
    this.database = database;
    this.sync = sync;
  }

  putOutgoing(clientId: string, record: OutgoingRecord): void {
    let id = this.ids.get(record.message);
    if (id === undefined) {
      id = this.nextId++;
      this.ids.set(record.message, id);
      this.write('put', `m:${id}`, Buffer.concat([Buffer.from(record.message.topic), Buffer.from([0]), record.message.payload]));
    }
    this.references.set(id, (this.references.get(id) ?? 0) + 1);
    const key = `o:${clientId}:${String(record.seq).padStart(16, '0')}`;
    this.outgoingIds.set(key, id);
    this.write('put', key, Buffer.from(JSON.stringify({ m: id, q: record.qos, s: record.state })));
  }

  deleteOutgoing(clientId: string, seq: number): void {
    const key = `o:${clientId}:${String(seq).padStart(16, '0')}`;
    const id = this.outgoingIds.get(key);
    if (id === undefined) return;
    this.outgoingIds.delete(key);
    this.write('del', key);
    const left = (this.references.get(id) ?? 1) - 1;
    if (left > 0) this.references.set(id, left);
    else {
      this.references.delete(id);
      this.write('del', `m:${id}`);
    }
  }

  putRetained(topic: string, message: StoredMessage | undefined): void {
    if (message === undefined) this.write('del', `r:${topic}`);
    else this.write('put', `r:${topic}`, message.payload);
  }

  whenDurable(callback: (error?: Error) => void): void {
    if (!this.sync) callback();
    else if (this.pending.length > 0) this.callbacks.push(callback);
    else if (this.inFlight !== undefined) this.inFlight.push(callback);
    else callback();
  }

  async close(): Promise<void> {
    while (this.pending.length > 0 || this.inFlight !== undefined) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.database.close();
  }

  private write(type: 'put' | 'del', key: string, value?: Buffer): void {
    this.pending.push(value === undefined ? { type, key } : { type, key, value });
    if (!this.scheduled && this.inFlight === undefined) {
      this.scheduled = true;
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.scheduled = false;
    if (this.inFlight !== undefined || this.pending.length === 0) return;
    const operations = this.pending;
    const callbacks = this.callbacks;
    this.pending = [];
    this.callbacks = [];
    this.inFlight = callbacks;
    const batch = operations.map((operation) =>
      operation.type === 'put' ? { type: 'put' as const, key: operation.key, value: operation.value ?? Buffer.alloc(0) } : { type: 'del' as const, key: operation.key },
    );
    this.database.batch(batch, { sync: this.sync }).then(
      () => this.done(callbacks),
      (error: unknown) => this.done(callbacks, error instanceof Error ? error : new Error(String(error))),
    );
  }

  private done(callbacks: ((error?: Error) => void)[], error?: Error): void {
    this.inFlight = undefined;
    for (const callback of callbacks) callback(error);
    if (this.pending.length > 0) this.flush();
  }
}

type BackendName = 'lmdb-sync' | 'lmdb-async' | 'level-sync' | 'level-async';

async function openBackend(name: BackendName, dir: string): Promise<AccessStore> {
  if (name === 'lmdb-sync' || name === 'lmdb-async') {
    const store = new LmdbStore({ dir, mode: name === 'lmdb-sync' ? 'sync' : 'async', asyncFlushMs: 50, logger: createSilentLogger() });
    await store.open();
    return store;
  }
  const database = new ClassicLevel<string, Buffer>(dir, { valueEncoding: 'buffer' });
  await database.open();
  return new LevelAccessStore(database, name === 'level-sync');
}

interface Workload {
  name: string;
  /** Sessions each message is queued for (0: a retained set instead). */
  fanOut: number;
  payloadBytes: number;
}

/** Runs the workload for `durationMs`; returns messages per second whose durable callback came back. */
async function run(store: AccessStore, workload: Workload, durationMs: number, concurrency: number): Promise<number> {
  const payload = Buffer.alloc(workload.payloadBytes, 7);
  let completed = 0;
  let sequence = 0;
  let stopping = false;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    let active = 0;
    const next = (lane: number): void => {
      if (stopping || performance.now() - started >= durationMs) {
        stopping = true;
        if (--active === 0) resolve();
        return;
      }
      sequence += 1;
      const seq = sequence;
      const message: StoredMessage = { topic: `bench/${lane}`, payload, qos: 1, retain: workload.fanOut === 0, receivedAt: Date.now() };
      if (workload.fanOut === 0) store.putRetained(`retained/${seq % 10_000}`, message);
      for (let session = 0; session < workload.fanOut; session += 1) {
        store.putOutgoing(`session-${lane}-${session}`, { seq, message, qos: 1, retain: false, state: 'queued' });
      }
      store.whenDurable((error) => {
        if (error !== undefined) {
          reject(error);
          return;
        }
        // PUBACK to the publisher would go here; then the subscribers' PUBACKs delete the queue entries.
        completed += 1;
        for (let session = 0; session < workload.fanOut; session += 1) store.deleteOutgoing(`session-${lane}-${session}`, seq);
        setImmediate(() => next(lane));
      });
    };
    for (let lane = 0; lane < concurrency; lane += 1) {
      active += 1;
      next(lane);
    }
  });
  return (completed * 1000) / (performance.now() - started);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] ?? 0) : ((sorted[middle - 1] ?? 0) + (sorted[middle] ?? 0)) / 2;
}

async function main(): Promise<void> {
  const rounds = Number(process.env.ROUNDS ?? 3);
  const durationMs = Number(process.env.DURATION_MS ?? 1500);
  const concurrency = Number(process.env.CONCURRENCY ?? 64);
  const backends: BackendName[] = ['lmdb-sync', 'level-sync', 'lmdb-async', 'level-async'];
  const workloads: Workload[] = [
    { name: 'QoS 1 to 1 session, 256 B', fanOut: 1, payloadBytes: 256 },
    { name: 'QoS 1 to 10 sessions, 256 B', fanOut: 10, payloadBytes: 256 },
    { name: 'retained set, 256 B', fanOut: 0, payloadBytes: 256 },
  ];
  console.log(`store access benchmark: node ${process.version}, ${cpus().length} CPUs, ${rounds} rounds x ${durationMs} ms, ${concurrency} messages in flight`);
  const root = await mkdtemp(join(tmpdir(), 'petrel-bench-store-'));
  try {
    for (const workload of workloads) {
      const results = new Map<BackendName, number[]>(backends.map((backend) => [backend, []]));
      for (let round = 0; round < rounds; round += 1) {
        // Alternate the order so no backend always runs first (warm caches, disk state).
        const order = round % 2 === 0 ? backends : [...backends].reverse();
        for (const backend of order) {
          const dir = join(root, `${backend}-${round}-${workload.fanOut}`);
          const store = await openBackend(backend, dir);
          const rate = await run(store, workload, durationMs, concurrency);
          await store.close();
          await rm(dir, { recursive: true, force: true });
          results.get(backend)?.push(rate);
        }
      }
      const medians = new Map(backends.map((backend) => [backend, median(results.get(backend) ?? [])]));
      console.log(`\n${workload.name} (messages/s, median of ${rounds})`);
      for (const backend of backends) {
        const rates = (results.get(backend) ?? []).map((rate) => Math.round(rate)).join(', ');
        console.log(`  ${backend.padEnd(12)} ${Math.round(medians.get(backend) ?? 0).toString().padStart(8)}   [${rates}]`);
      }
      const ratio = (a: BackendName, b: BackendName): string => ((medians.get(a) ?? 0) / (medians.get(b) || 1)).toFixed(2);
      console.log(`  lmdb-sync / level-sync = ${ratio('lmdb-sync', 'level-sync')}   lmdb-async / level-async = ${ratio('lmdb-async', 'level-async')}`);
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

await main();
