// The durable store on LMDB (lmdb-js).
//
// Mutations are not written one by one: each call records its final effect in
// a pending map (one entry per database key, so a put followed by a delete of
// the same key before the next commit costs nothing), and a flush writes the
// whole map in one LMDB transaction. One transaction is in flight at a time;
// everything issued while it commits goes into the next one, so the batch size
// grows with the load (group commit).
//
// sync mode: whenDurable callbacks run once the transaction holding every
// earlier mutation is committed and fsync'd (lmdb-js commits with
// overlappingSync, then `flushed` resolves after the fsync).
// async mode: callbacks run at once; pending writes are committed every
// `asyncFlushMs` — a crash loses at most that window.
//
// A message queued for many sessions is written once: message bodies have their
// own database keyed by a numeric id, outgoing records hold the id, and the
// store counts references in memory (rebuilt from the outgoing records on open)
// to delete a body with its last reference.

import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import type { Logger } from '../log/logger.js';
import {
  decodeDelayedWill,
  decodeMessage,
  decodeOutgoing,
  decodeSession,
  encodeDelayedWill,
  encodeMessage,
  encodeOutgoing,
  encodeSession,
  type EncodedMessage,
  type EncodedOutgoing,
} from './record-codec.js';
import { lockDataDirectory, type DataDirLock } from './data-dir-lock.js';
import { lmdbHeaderProblem } from './lmdb-header.js';
import { StoreError } from './store-error.js';
import { incomingKey, outgoingKey, pendingKey, stringKey } from './store-keys.js';
import type {
  DelayedWillRecord,
  OutgoingRecord,
  RecoveredState,
  SessionRecord,
  Store,
  StoreStats,
  StoredMessage,
} from './store.js';

export interface LmdbStoreOptions {
  /** The data directory; the database is the file `petrel.mdb` inside it. */
  dir: string;
  mode: 'sync' | 'async';
  /** async mode: the longest a mutation waits before it is committed. */
  asyncFlushMs: number;
  logger: Logger;
  /** How often `stats().diskBytes` is refreshed. */
  diskStatsIntervalMs?: number;
  /** After a failed write, how long to wait before trying again. */
  retryDelayMs?: number;
  /** Wall clock, for dropping what expired while the broker was down (tests move it). */
  now?: () => number;
}

type DurableCallback = (error?: Error) => void;

interface PendingWrite {
  database: Database<unknown, Key>;
  key: Key;
  /** undefined: delete the key. */
  value: unknown;
}

interface MessageBody {
  message: StoredMessage;
  references: number;
}

interface Batch {
  writes: Map<string, PendingWrite>;
  callbacks: DurableCallback[];
  /** The failure count when the batch started: only a batch started after the last failure proves writes work again. */
  failuresBefore: number;
}

interface Databases {
  /** Each database's name, to tell apart pending writes with equal keys. */
  names: Map<Database<unknown, Key>, string>;
  sessions: Database<unknown, Key>;
  messages: Database<unknown, Key>;
  outgoing: Database<unknown, Key>;
  incoming: Database<unknown, Key>;
  retained: Database<unknown, Key>;
  wills: Database<unknown, Key>;
}

export const databaseFileName = 'petrel.mdb';
const neverExpires = 0xffffffff;

export class LmdbStore implements Store {
  readonly mode: 'sync' | 'async';
  private readonly options: LmdbStoreOptions;
  private readonly path: string;
  private environment: RootDatabase<unknown, Key> | undefined;
  private databases: Databases | undefined;
  private lock: DataDirLock | undefined;

  private pending = new Map<string, PendingWrite>();
  private pendingCallbacks: DurableCallback[] = [];
  private inFlight: Batch | undefined;
  /** Callbacks of the last committed batch while its fsync is still running (sync mode). */
  private flushing: DurableCallback[] | undefined;
  private flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private diskTimer: NodeJS.Timeout | undefined;
  private isWritable = true;
  private lastError: Error | undefined;
  private diskBytes = 0;
  private closing = false;
  private failures = 0;
  /** When the oldest pending write was issued (async mode's flush deadline counts from it). */
  private pendingSince = 0;

  private nextMessageId = 1;
  private readonly messageIds = new WeakMap<StoredMessage, number>();
  private readonly bodies = new Map<number, MessageBody>();
  /** clientKey -> seq -> message id of the outgoing records on disk (or pending). */
  private readonly outgoingIndex = new Map<string, Map<number, number>>();
  /** clientKey -> incoming QoS 2 packet ids. */
  private readonly incomingIndex = new Map<string, Set<number>>();

  constructor(options: LmdbStoreOptions) {
    this.options = options;
    this.mode = options.mode;
    this.path = join(options.dir, databaseFileName);
  }

  get writable(): boolean {
    return this.isWritable;
  }

  async open(): Promise<RecoveredState> {
    await this.prepareDirectory();
    // Before LMDB opens the file: a second broker must not even read it (its recovery would write).
    this.lock = lockDataDirectory(this.options.dir);
    try {
      this.environment = open<unknown, Key>({ path: this.path, noSubdir: true, maxDbs: 8 });
      const environment = this.environment;
      const names = new Map<Database<unknown, Key>, string>();
      const database = (name: string): Database<unknown, Key> => {
        const opened = environment.openDB<unknown, Key>(name, {});
        names.set(opened, name);
        return opened;
      };
      this.databases = {
        names,
        sessions: database('sessions'),
        messages: database('messages'),
        outgoing: database('outgoing'),
        incoming: database('incoming'),
        retained: database('retained'),
        wills: database('wills'),
      };
    } catch (error) {
      await this.environment?.close().catch(() => undefined);
      this.environment = undefined;
      this.releaseLock();
      throw new StoreError(this.path, 'cannot open the database (corrupt or unreadable)', error);
    }
    let state: RecoveredState;
    try {
      state = this.recover(this.databases);
    } catch (error) {
      await this.environment.close().catch(() => undefined);
      this.environment = undefined;
      this.releaseLock();
      throw error instanceof StoreError ? error : new StoreError(this.path, 'cannot read the database (corrupt)', error);
    }
    // Cleanup found during recovery (expired sessions, orphans) is written before the broker starts.
    await this.flushed();
    await this.refreshDiskBytes();
    this.diskTimer = setInterval(() => void this.refreshDiskBytes(), this.options.diskStatsIntervalMs ?? 5000);
    this.diskTimer.unref();
    return state;
  }

  async close(): Promise<void> {
    if (this.environment === undefined) return;
    let failure: Error | undefined;
    if (this.retryTimer !== undefined) {
      clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
    }
    try {
      await this.flushed();
    } catch (error) {
      failure = error instanceof Error ? error : new Error(String(error));
    }
    this.closing = true;
    clearInterval(this.diskTimer);
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.cancelFlushTimer();
    const environment = this.environment;
    this.environment = undefined;
    this.databases = undefined;
    await environment.close();
    this.releaseLock();
    if (failure !== undefined) throw new StoreError(this.path, 'the last writes were not stored before closing', failure);
  }

  putSession(record: SessionRecord): void {
    this.write(this.require().sessions, stringKey(record.clientId), encodeSession(record));
  }

  deleteSession(clientId: string): void {
    const databases = this.require();
    const clientKey = stringKey(clientId);
    const queue = this.outgoingIndex.get(clientKey);
    if (queue !== undefined) {
      for (const [seq, messageId] of queue) {
        this.write(databases.outgoing, outgoingKey(clientKey, seq), undefined);
        this.release(messageId);
      }
      this.outgoingIndex.delete(clientKey);
    }
    const incoming = this.incomingIndex.get(clientKey);
    if (incoming !== undefined) {
      for (const packetId of incoming) this.write(databases.incoming, incomingKey(clientKey, packetId), undefined);
      this.incomingIndex.delete(clientKey);
    }
    this.write(databases.sessions, clientKey, undefined);
  }

  putOutgoing(clientId: string, record: OutgoingRecord): void {
    const databases = this.require();
    const clientKey = stringKey(clientId);
    let messageId = this.messageIds.get(record.message);
    if (messageId === undefined) {
      messageId = this.nextMessageId++;
      this.messageIds.set(record.message, messageId);
      this.bodies.set(messageId, { message: record.message, references: 0 });
      this.write(databases.messages, messageId, encodeMessage(record.message));
    }
    let queue = this.outgoingIndex.get(clientKey);
    if (queue === undefined) {
      queue = new Map();
      this.outgoingIndex.set(clientKey, queue);
    }
    const previous = queue.get(record.seq);
    if (previous !== messageId) {
      this.retain(messageId);
      queue.set(record.seq, messageId);
      if (previous !== undefined) this.release(previous);
    }
    this.write(databases.outgoing, outgoingKey(clientKey, record.seq), encodeOutgoing(record, messageId));
  }

  deleteOutgoing(clientId: string, seq: number): void {
    const databases = this.require();
    const clientKey = stringKey(clientId);
    const queue = this.outgoingIndex.get(clientKey);
    const messageId = queue?.get(seq);
    if (queue === undefined || messageId === undefined) return;
    queue.delete(seq);
    if (queue.size === 0) this.outgoingIndex.delete(clientKey);
    this.write(databases.outgoing, outgoingKey(clientKey, seq), undefined);
    this.release(messageId);
  }

  putIncomingQoS2(clientId: string, packetId: number): void {
    const clientKey = stringKey(clientId);
    let ids = this.incomingIndex.get(clientKey);
    if (ids === undefined) {
      ids = new Set();
      this.incomingIndex.set(clientKey, ids);
    }
    ids.add(packetId);
    this.write(this.require().incoming, incomingKey(clientKey, packetId), 1);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    const clientKey = stringKey(clientId);
    const ids = this.incomingIndex.get(clientKey);
    if (ids === undefined || !ids.delete(packetId)) return;
    if (ids.size === 0) this.incomingIndex.delete(clientKey);
    this.write(this.require().incoming, incomingKey(clientKey, packetId), undefined);
  }

  putRetained(topic: string, message: StoredMessage | undefined): void {
    this.write(this.require().retained, stringKey(topic), message === undefined ? undefined : encodeMessage(message));
  }

  putDelayedWill(record: DelayedWillRecord): void {
    this.write(this.require().wills, stringKey(record.clientId), encodeDelayedWill(record));
  }

  deleteDelayedWill(clientId: string): void {
    this.write(this.require().wills, stringKey(clientId), undefined);
  }

  whenDurable(callback: (error?: Error) => void): void {
    if (!this.isWritable) {
      callback(this.lastError);
      return;
    }
    if (this.mode === 'async') {
      callback();
      return;
    }
    if (this.pending.size > 0) this.pendingCallbacks.push(callback);
    else if (this.inFlight !== undefined) this.inFlight.callbacks.push(callback);
    else if (this.flushing !== undefined) this.flushing.push(callback);
    else callback();
  }

  stats(): StoreStats {
    return { diskBytes: this.diskBytes, pendingWrites: this.pending.size + (this.inFlight?.writes.size ?? 0) };
  }

  /** Resolves once everything issued so far is committed (and, in sync mode, on disk), whatever the mode. */
  private flushed(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done: DurableCallback = (error) => (error === undefined ? resolve() : reject(error));
      if (this.pending.size > 0) {
        this.pendingCallbacks.push(done);
        this.cancelFlushTimer();
        if (this.retryTimer === undefined) this.flush();
      } else if (this.inFlight !== undefined) this.inFlight.callbacks.push(done);
      else if (this.flushing !== undefined) this.flushing.push(done);
      else resolve();
    });
  }

  private releaseLock(): void {
    this.lock?.release();
    this.lock = undefined;
  }

  private require(): Databases {
    if (this.databases === undefined) throw new Error('store is not open');
    return this.databases;
  }

  private retain(messageId: number): void {
    const body = this.bodies.get(messageId);
    if (body !== undefined) body.references += 1;
  }

  private release(messageId: number): void {
    const body = this.bodies.get(messageId);
    if (body === undefined) return;
    body.references -= 1;
    if (body.references > 0) return;
    // Last reference gone: the body goes, and the object gets a new id if it is queued again.
    this.bodies.delete(messageId);
    this.messageIds.delete(body.message);
    this.write(this.require().messages, messageId, undefined);
  }

  private write(database: Database<unknown, Key>, key: Key, value: unknown): void {
    if (this.pending.size === 0) this.pendingSince = performance.now();
    this.pending.set(pendingKey(this.require().names.get(database) ?? '', key as string | number | [string, number]), { database, key, value });
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.inFlight !== undefined || this.retryTimer !== undefined || this.closing) return;
    if (this.mode === 'sync') this.flushTimer = setImmediate(() => this.flush());
    else {
      const waited = performance.now() - this.pendingSince;
      this.flushTimer = setTimeout(() => this.flush(), Math.max(0, this.options.asyncFlushMs - waited));
    }
  }

  private cancelFlushTimer(): void {
    if (this.flushTimer === undefined) return;
    if (this.mode === 'sync') clearImmediate(this.flushTimer as NodeJS.Immediate);
    else clearTimeout(this.flushTimer as NodeJS.Timeout);
    this.flushTimer = undefined;
  }

  private flush(): void {
    this.flushTimer = undefined;
    this.retryTimer = undefined;
    const environment = this.environment;
    if (this.inFlight !== undefined || environment === undefined) return;
    const batch: Batch = { writes: this.pending, callbacks: this.pendingCallbacks, failuresBefore: this.failures };
    this.pending = new Map();
    this.pendingCallbacks = [];
    if (batch.writes.size === 0) {
      for (const callback of batch.callbacks) callback();
      return;
    }
    this.inFlight = batch;
    let committed: Promise<boolean>;
    try {
      // One LMDB transaction for the whole batch; inside it lmdb-js returns no per-write promises.
      committed = environment.batch(() => {
        for (const write of batch.writes.values()) {
          if (write.value === undefined) void write.database.remove(write.key);
          else void write.database.put(write.key, write.value);
        }
      });
    } catch (error) {
      void this.failed(batch, error);
      return;
    }
    committed.then(
      () => this.committed(batch, environment),
      (error: unknown) => this.failed(batch, error),
    );
  }

  /**
   * lmdb-js commits with overlappingSync: a commit is visible before its fsync, and `flushed`
   * resolves after it. The next batch is committed while this one is being flushed; this one's
   * callbacks wait for the flush (sync mode).
   */
  private committed(batch: Batch, environment: RootDatabase<unknown, Key>): void {
    this.inFlight = undefined;
    if (this.mode === 'async') {
      this.succeeded(batch.callbacks, batch.failuresBefore);
      return;
    }
    const callbacks = batch.callbacks;
    this.flushing = callbacks;
    environment.flushed.then(
      () => {
        if (this.flushing === callbacks) this.flushing = undefined;
        this.succeeded(callbacks, batch.failuresBefore);
      },
      (error: unknown) => {
        if (this.flushing === callbacks) this.flushing = undefined;
        this.flushFailed(callbacks, error);
      },
    );
    if (this.pending.size > 0 || this.pendingCallbacks.length > 0) this.scheduleFlush();
  }

  private flushFailed(callbacks: DurableCallback[], error: unknown): void {
    // Committed but maybe not on disk: the work it carried must not be acknowledged.
    this.failures += 1;
    const failure = new StoreError(this.path, 'flush to disk failed', error);
    this.lastError = failure;
    if (this.isWritable) {
      this.isWritable = false;
      this.options.logger.error({ err: error, path: this.path }, 'store flush failed; refusing durable work until a write succeeds');
    }
    for (const callback of callbacks) callback(failure);
  }

  private succeeded(callbacks: DurableCallback[], failuresBefore: number): void {
    if (!this.isWritable && failuresBefore === this.failures) {
      this.isWritable = true;
      this.lastError = undefined;
      this.options.logger.info({ path: this.path }, 'store writes succeed again; accepting durable work');
    }
    for (const callback of callbacks) callback();
    if (this.pending.size > 0 || this.pendingCallbacks.length > 0) this.scheduleFlush();
  }

  private async failed(batch: Batch, error: unknown): Promise<void> {
    // lmdb-js also rejects its own promise for the event-turn transaction; handle it before it counts as unhandled.
    this.environment?.committed.then(undefined, () => undefined);
    this.failures += 1;
    const cause = await commitCause(error);
    this.inFlight = undefined;
    // Keep the failed writes, under any newer write of the same key, so the disk catches up once writes succeed.
    const merged = new Map(batch.writes);
    for (const [key, write] of this.pending) merged.set(key, write);
    this.pending = merged;
    const failure = new StoreError(this.path, 'write failed', cause);
    this.lastError = failure;
    if (this.isWritable) {
      this.isWritable = false;
      this.options.logger.error({ err: cause, path: this.path }, 'store write failed; refusing durable work until a write succeeds');
    }
    const callbacks = [...batch.callbacks, ...this.pendingCallbacks];
    this.pendingCallbacks = [];
    for (const callback of callbacks) callback(failure);
    if (this.closing || this.environment === undefined) return;
    this.cancelFlushTimer();
    this.retryTimer = setTimeout(() => this.flush(), this.options.retryDelayMs ?? 1000);
    this.retryTimer.unref();
  }

  private async prepareDirectory(): Promise<void> {
    try {
      await mkdir(this.options.dir, { recursive: true });
      const directory = await stat(this.options.dir);
      if (!directory.isDirectory()) throw new Error('not a directory');
      const file = await stat(this.path).catch((error: NodeJS.ErrnoException) => {
        if (error.code === 'ENOENT') return undefined;
        throw error;
      });
      if (file !== undefined && !file.isFile()) throw new Error(`${databaseFileName} is not a regular file`);
      const problem = file === undefined ? undefined : await lmdbHeaderProblem(this.path);
      if (problem !== undefined) throw new StoreError(this.path, `corrupt database: ${problem}`);
    } catch (error) {
      if (error instanceof StoreError) throw error;
      throw new StoreError(this.options.dir, 'unusable data directory', error);
    }
  }

  private recover(databases: Databases): RecoveredState {
    const now = (this.options.now ?? Date.now)();
    const state: RecoveredState = { sessions: [], outgoing: new Map(), incomingQoS2: new Map(), retained: [], delayedWills: [] };

    // Sessions first: they name the clients whose records are kept.
    const clients = new Map<string, string>();
    for (const { key, value } of databases.sessions.getRange()) {
      const session = decodeSession(value as SessionRecord);
      const expired =
        session.disconnectedAt !== undefined &&
        session.expiryInterval !== neverExpires &&
        session.disconnectedAt + session.expiryInterval * 1000 <= now;
      if (expired) {
        this.write(databases.sessions, key, undefined);
        continue;
      }
      clients.set(key as string, session.clientId);
      state.sessions.push(session);
    }

    for (const { key, value } of databases.messages.getRange()) {
      const messageId = key as number;
      const message = decodeMessage(value as EncodedMessage);
      this.bodies.set(messageId, { message, references: 0 });
      this.messageIds.set(message, messageId);
      this.nextMessageId = Math.max(this.nextMessageId, messageId + 1);
    }

    // Key order is (client, seq): each client's queue comes back sorted.
    for (const { key, value } of databases.outgoing.getRange()) {
      const [clientKey, seq] = key as [string, number];
      const clientId = clients.get(clientKey);
      const encoded = value as EncodedOutgoing;
      if (clientId === undefined) {
        // No session (expired or deleted): the record goes with it.
        this.write(databases.outgoing, key, undefined);
        continue;
      }
      const body = this.bodies.get(encoded.m);
      if (body === undefined) throw new StoreError(this.path, `outgoing record ${seq} of ${clientId} refers to missing message ${encoded.m} (corrupt)`);
      body.references += 1;
      let queue = this.outgoingIndex.get(clientKey);
      if (queue === undefined) {
        queue = new Map();
        this.outgoingIndex.set(clientKey, queue);
      }
      queue.set(seq, encoded.m);
      let records = state.outgoing.get(clientId);
      if (records === undefined) {
        records = [];
        state.outgoing.set(clientId, records);
      }
      records.push(decodeOutgoing(seq, encoded, body.message));
    }
    for (const [messageId, body] of this.bodies) {
      if (body.references > 0) continue;
      this.bodies.delete(messageId);
      this.messageIds.delete(body.message);
      this.write(databases.messages, messageId, undefined);
    }

    for (const { key } of databases.incoming.getRange()) {
      const [clientKey, packetId] = key as [string, number];
      const clientId = clients.get(clientKey);
      if (clientId === undefined) {
        this.write(databases.incoming, key, undefined);
        continue;
      }
      let ids = this.incomingIndex.get(clientKey);
      if (ids === undefined) {
        ids = new Set();
        this.incomingIndex.set(clientKey, ids);
      }
      ids.add(packetId);
      let list = state.incomingQoS2.get(clientId);
      if (list === undefined) {
        list = [];
        state.incomingQoS2.set(clientId, list);
      }
      list.push(packetId);
    }

    for (const { key, value } of databases.retained.getRange()) {
      const message = decodeMessage(value as EncodedMessage);
      if (message.expiresAt !== undefined && message.expiresAt <= now) {
        this.write(databases.retained, key, undefined);
        continue;
      }
      state.retained.push(message);
    }

    for (const { value } of databases.wills.getRange()) state.delayedWills.push(decodeDelayedWill(value as DelayedWillRecord));
    return state;
  }

  private async refreshDiskBytes(): Promise<void> {
    try {
      let total = 0;
      for (const name of await readdir(this.options.dir)) {
        const file = await stat(join(this.options.dir, name));
        if (file.isFile()) total += file.size;
      }
      this.diskBytes = total;
    } catch (error) {
      this.options.logger.warn({ err: error, dir: this.options.dir }, 'cannot measure the data directory');
    }
  }
}

/** lmdb-js rejects a failed commit with a generic error whose `commitError` promise holds the cause. */
async function commitCause(error: unknown): Promise<unknown> {
  if (error instanceof Error && 'commitError' in error && error.commitError instanceof Promise) {
    return error.commitError.then(
      () => error,
      (cause: unknown) => cause,
    );
  }
  return error;
}
