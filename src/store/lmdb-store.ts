// The durable store on LMDB (lmdb-js).
//
// Mutations are not written one by one: each call appends to a pending list,
// and a flush writes the whole list, in order, in one LMDB transaction. Outgoing
// records and message bodies remember their pending write: a rewrite before the
// next commit updates it in place, and a delete of a record that no committed or
// committing transaction holds cancels it (a message acknowledged before its
// commit costs no write at all). One transaction is in flight at a time;
// everything issued while it commits goes into the next one, so the batch size
// grows with the load (group commit).
//
// sync mode: whenDurable callbacks run once the transaction holding every
// earlier mutation is committed and fsync'd (lmdb-js commits with
// overlappingSync, then `flushed` resolves after the fsync).
// async mode: callbacks run at once; pending writes are committed every
// `asyncFlushMs` — a crash loses at most that window.
//
// A message queued for one session is written inside its outgoing record; one
// queued for several sessions is written once: its body goes into its own
// database under a numeric id, and the records hold the id. Which of the two is
// decided when a record is encoded, at the flush, when every session the
// message was routed to has its reference. The store counts references in
// memory (rebuilt from the outgoing records on open) to delete a shared body
// with its last reference.

import { mkdir, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { open, type Database, type Key, type RootDatabase } from 'lmdb';
import type { Logger } from '../log/logger.js';
import {
  decodeBodyValue,
  decodeOutgoingInlineBody,
  decodeOutgoingValue,
  decodePairKey,
  encodeBodyValue,
  encodeOutgoingInline,
  encodeOutgoingValue,
  outgoingMessageId,
  pairKey,
  setPairKeyValue,
} from './binary-records.js';
import {
  decodeDelayedWill,
  decodeMessage,
  decodeSession,
  encodeDelayedWill,
  encodeMessage,
  encodeSession,
  type EncodedMessage,
} from './record-codec.js';
import { lockDataDirectory, type DataDirLock } from './data-dir-lock.js';
import { lmdbHeaderProblem } from './lmdb-header.js';
import { StoreError } from './store-error.js';
import { stringKey } from './store-keys.js';
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
  /**
   * undefined for an outgoing record: its key (client, seq) is laid out at the flush in the
   * client's key buffer, which lmdb-js copies when the write is issued (no Buffer per write).
   */
  key: Key | undefined;
  /** The client and seq of an outgoing record's write. */
  client: ClientEntry | undefined;
  seq: number;
  /** undefined: delete the key (unless `slot` is set). */
  value: unknown;
  /** An outgoing record, encoded at the flush from the slot's latest record. */
  slot: OutgoingSlot | undefined;
  /**
   * The key is in no committed or committing transaction (a new seq or message id): a delete
   * before the next commit cancels this put instead of writing a delete.
   */
  fresh: boolean;
  /** Skipped at the flush: a put of a fresh key deleted again. */
  cancelled: boolean;
  /** The pending list this write was appended to: only a write of the current list may be updated in place. */
  generation: number;
}

interface MessageBody {
  /** The key of the body's own copy in the messages database, once one is written; 0 while it has none (inline only). */
  id: number;
  message: StoredMessage;
  references: number;
}

interface OutgoingSlot {
  /** The latest record put for this seq (records are fresh objects from the session: never mutated). */
  record: OutgoingRecord;
  body: MessageBody;
  /** The last write of the record, while it may still be pending. */
  write: PendingWrite | undefined;
}

/** What the store keeps in memory per client with records: looked up by client id, whose hash the string caches. */
interface ClientEntry {
  key: string;
  /** The client key's bytes, the prefix of its record keys. */
  keyBytes: Buffer;
  /** A (client, number) key reused for every outgoing write of the flush (see PendingWrite.key). */
  outgoingKey: Buffer;
  outgoing: Map<number, OutgoingSlot>;
  incoming: Set<number>;
}

interface Batch {
  writes: PendingWrite[];
  /** Bodies given their own copy (and id) in this batch: a failed batch takes the ids back. */
  bodiesWritten: MessageBody[];
  callbacks: DurableCallback[];
  /** The failure count when the batch started: only a batch started after the last failure proves writes work again. */
  failuresBefore: number;
}

interface Databases {
  sessions: Database<unknown, Key>;
  messages: Database<unknown, Key>;
  outgoing: Database<unknown, Key>;
  incoming: Database<unknown, Key>;
  retained: Database<unknown, Key>;
  wills: Database<unknown, Key>;
}

export const databaseFileName = 'petrel.mdb';
/** The value of an incoming QoS 2 record: its key says everything. */
const presentValue = Buffer.from([1]);
const neverExpires = 0xffffffff;

export class LmdbStore implements Store {
  readonly mode: 'sync' | 'async';
  private readonly options: LmdbStoreOptions;
  private readonly path: string;
  private environment: RootDatabase<unknown, Key> | undefined;
  private databases: Databases | undefined;
  private lock: DataDirLock | undefined;

  private pending: PendingWrite[] = [];
  /** Writes in `pending` that are not cancelled. */
  private pendingLive = 0;
  private generation = 0;
  private pendingCallbacks: DurableCallback[] = [];
  private inFlight: Batch | undefined;
  /** Callbacks of the last committed batch while its fsync is still running (sync mode). */
  private flushing: DurableCallback[] | undefined;
  private flushTimer: NodeJS.Timeout | NodeJS.Immediate | undefined;
  /** The flush timer is a setImmediate (sync mode, or async mode with commit waiters), not a setTimeout. */
  private flushTimerImmediate = false;
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
  /** The bodies referred to by outgoing records (a Map, not a WeakMap: each entry is deleted with its last reference). */
  private readonly bodies = new Map<StoredMessage, MessageBody>();
  /** Clients with outgoing or incoming QoS 2 records on disk (or pending), by client id. */
  private readonly clients = new Map<string, ClientEntry>();

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
      const database = (name: string, binary?: 'values' | 'keys and values'): Database<unknown, Key> => {
        // Binary keys and values are Buffers laid out by binary-records.ts, with no tuple or msgpack encoding.
        const options = binary === undefined ? {} : binary === 'values' ? { encoding: 'binary' as const } : { keyEncoding: 'binary' as const, encoding: 'binary' as const };
        return environment.openDB<unknown, Key>(name, options);
      };
      this.databases = {
        sessions: database('sessions'),
        messages: database('messages', 'values'),
        outgoing: database('outgoing', 'keys and values'),
        incoming: database('incoming', 'keys and values'),
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
    const client = this.clients.get(clientId);
    if (client !== undefined) {
      for (const [seq, slot] of client.outgoing) {
        this.removeOutgoing(slot.write, client, seq);
        this.release(slot.body);
      }
      for (const packetId of client.incoming) this.write(databases.incoming, pairKey(client.keyBytes, packetId), undefined);
      this.clients.delete(clientId);
    }
    this.write(databases.sessions, stringKey(clientId), undefined);
  }

  putOutgoing(clientId: string, record: OutgoingRecord): void {
    this.require();
    const client = this.client(clientId);
    const slot = client.outgoing.get(record.seq);
    if (slot === undefined) {
      // A seq absent from the index has no record on disk that an issued delete does not already cover.
      const created: OutgoingSlot = { record, body: this.reference(record.message), write: undefined };
      created.write = this.outgoingWrite(client, record.seq, created, true);
      client.outgoing.set(record.seq, created);
      return;
    }
    if (slot.body.message !== record.message) {
      const body = this.reference(record.message);
      this.release(slot.body);
      slot.body = body;
    }
    slot.record = record;
    // A write still pending is encoded from the slot at the flush: it already carries this record.
    if (!this.isPending(slot.write)) slot.write = this.outgoingWrite(client, record.seq, slot, false);
  }

  deleteOutgoing(clientId: string, seq: number): void {
    this.require();
    const client = this.clients.get(clientId);
    const slot = client?.outgoing.get(seq);
    if (client === undefined || slot === undefined) return;
    client.outgoing.delete(seq);
    this.removeOutgoing(slot.write, client, seq);
    this.release(slot.body);
  }

  putIncomingQoS2(clientId: string, packetId: number): void {
    const client = this.client(clientId);
    client.incoming.add(packetId);
    this.write(this.require().incoming, pairKey(client.keyBytes, packetId), presentValue);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    const client = this.clients.get(clientId);
    if (client === undefined || !client.incoming.delete(packetId)) return;
    this.write(this.require().incoming, pairKey(client.keyBytes, packetId), undefined);
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
    if (this.pendingLive > 0) this.pendingCallbacks.push(callback);
    else if (this.inFlight !== undefined) this.inFlight.callbacks.push(callback);
    else if (this.flushing !== undefined) this.flushing.push(callback);
    else callback();
  }

  whenCommitted(callback: (error?: Error) => void): void {
    if (this.mode === 'sync') {
      this.whenDurable(callback);
      return;
    }
    if (!this.isWritable) {
      callback(this.lastError);
      return;
    }
    // async mode: batch callbacks run at the commit. A waiter does not wait out asyncFlushMs.
    if (this.pendingLive > 0) {
      this.pendingCallbacks.push(callback);
      if (this.flushTimer !== undefined && !this.flushTimerImmediate) this.cancelFlushTimer();
      this.scheduleFlush();
    } else if (this.inFlight !== undefined) this.inFlight.callbacks.push(callback);
    else callback();
  }

  stats(): StoreStats {
    return { diskBytes: this.diskBytes, pendingWrites: this.pendingLive + (this.inFlight?.writes.length ?? 0) };
  }

  /** Resolves once everything issued so far is committed (and, in sync mode, on disk), whatever the mode. */
  private flushed(): Promise<void> {
    return new Promise((resolve, reject) => {
      const done: DurableCallback = (error) => (error === undefined ? resolve() : reject(error));
      if (this.pendingLive > 0) {
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

  private client(clientId: string): ClientEntry {
    let client = this.clients.get(clientId);
    if (client === undefined) {
      const key = stringKey(clientId);
      const keyBytes = Buffer.from(key);
      client = { key, keyBytes, outgoingKey: pairKey(keyBytes, 0), outgoing: new Map(), incoming: new Set() };
      this.clients.set(clientId, client);
    }
    return client;
  }

  /** The body of a message, with one more reference. */
  private reference(message: StoredMessage): MessageBody {
    let body = this.bodies.get(message);
    if (body === undefined) {
      body = { id: 0, message, references: 0 };
      this.bodies.set(message, body);
    }
    body.references += 1;
    return body;
  }

  private release(body: MessageBody): void {
    body.references -= 1;
    if (body.references > 0) return;
    // Last reference gone: a shared copy goes (an inline one goes with its record), and the
    // message gets a new body if it is queued again.
    this.bodies.delete(body.message);
    if (body.id !== 0) this.write(this.require().messages, body.id, undefined);
  }

  /** Encodes an outgoing record at the flush: inline if its body is referred to once and has no copy of its own. */
  private encodeRecord(slot: OutgoingSlot, batch: Batch, messages: Database<unknown, Key>): Buffer {
    const body = slot.body;
    if (body.id === 0 && body.references <= 1) return encodeOutgoingInline(slot.record);
    if (body.id === 0) {
      body.id = this.nextMessageId++;
      batch.bodiesWritten.push(body);
      void messages.put(body.id, encodeBodyValue(body.message));
    }
    return encodeOutgoingValue(slot.record, body.id);
  }

  private isPending(write: PendingWrite | undefined): write is PendingWrite {
    return write !== undefined && write.generation === this.generation && !write.cancelled;
  }

  /** Appends a write to the pending list; `fresh`: the key is in no committed or committing transaction. */
  private write(database: Database<unknown, Key>, key: Key, value: unknown): PendingWrite {
    return this.append({ database, key, client: undefined, seq: 0, value, slot: undefined, fresh: false, cancelled: false, generation: this.generation });
  }

  /** A put (from `slot`, encoded at the flush) or, without a slot, a delete of the outgoing record (client, seq). */
  private outgoingWrite(client: ClientEntry, seq: number, slot: OutgoingSlot | undefined, fresh: boolean): PendingWrite {
    const outgoing = this.require().outgoing;
    return this.append({ database: outgoing, key: undefined, client, seq, value: undefined, slot, fresh, cancelled: false, generation: this.generation });
  }

  private append(write: PendingWrite): PendingWrite {
    if (this.pendingLive === 0) this.pendingSince = performance.now();
    this.pending.push(write);
    this.pendingLive += 1;
    this.scheduleFlush();
    return write;
  }

  /**
   * Deletes the outgoing record last written by `previous`: turns `previous` into the delete while
   * it is still pending, or cancels it if its key is fresh; else appends the delete.
   */
  private removeOutgoing(previous: PendingWrite | undefined, client: ClientEntry, seq: number): void {
    if (!this.isPending(previous)) {
      this.outgoingWrite(client, seq, undefined, false);
      return;
    }
    if (previous.fresh) {
      previous.cancelled = true;
      this.pendingLive -= 1;
      return;
    }
    previous.slot = undefined;
  }

  private scheduleFlush(): void {
    if (this.flushTimer !== undefined || this.inFlight !== undefined || this.retryTimer !== undefined || this.closing) return;
    this.flushTimerImmediate = this.mode === 'sync' || this.pendingCallbacks.length > 0;
    if (this.flushTimerImmediate) this.flushTimer = setImmediate(() => this.flush());
    else {
      const waited = performance.now() - this.pendingSince;
      this.flushTimer = setTimeout(() => this.flush(), Math.max(0, this.options.asyncFlushMs - waited));
    }
  }

  private cancelFlushTimer(): void {
    if (this.flushTimer === undefined) return;
    if (this.flushTimerImmediate) clearImmediate(this.flushTimer as NodeJS.Immediate);
    else clearTimeout(this.flushTimer as NodeJS.Timeout);
    this.flushTimer = undefined;
  }

  private flush(): void {
    this.flushTimer = undefined;
    this.retryTimer = undefined;
    const environment = this.environment;
    if (this.inFlight !== undefined || environment === undefined) return;
    const batch: Batch = { writes: this.pending, bodiesWritten: [], callbacks: this.pendingCallbacks, failuresBefore: this.failures };
    const live = this.pendingLive;
    this.pending = [];
    this.pendingLive = 0;
    this.pendingCallbacks = [];
    // Writes of the batch are no longer updated in place: lmdb-js encodes them when they are issued below.
    this.generation += 1;
    if (live === 0) {
      // Nothing left to write (all cancelled): the callbacks still wait for the fsync of the last commit.
      if (this.flushing !== undefined) this.flushing.push(...batch.callbacks);
      else for (const callback of batch.callbacks) callback();
      return;
    }
    this.inFlight = batch;
    let committed: Promise<boolean>;
    const messages = this.require().messages;
    try {
      // One LMDB transaction for the whole batch; inside it lmdb-js returns no per-write promises.
      committed = environment.batch(() => {
        for (const write of batch.writes) {
          if (write.cancelled) continue;
          const key = write.key ?? setPairKeyValue(write.client!.outgoingKey, write.seq);
          if (write.slot !== undefined) void write.database.put(key, this.encodeRecord(write.slot, batch, messages));
          else if (write.value === undefined) void write.database.remove(key);
          else void write.database.put(key, write.value);
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
    if (this.pendingLive > 0 || this.pendingCallbacks.length > 0) this.scheduleFlush();
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
    if (this.pendingLive > 0 || this.pendingCallbacks.length > 0) this.scheduleFlush();
  }

  private async failed(batch: Batch, error: unknown): Promise<void> {
    // lmdb-js also rejects its own promise for the event-turn transaction; handle it before it counts as unhandled.
    this.environment?.committed.then(undefined, () => undefined);
    this.failures += 1;
    const cause = await commitCause(error);
    this.inFlight = undefined;
    // The shared copies written by the failed batch are not on disk: the retry decides and writes them again.
    for (const body of batch.bodiesWritten) body.id = 0;
    // Keep the failed writes, before the newer ones (order decides), so the disk catches up once writes succeed.
    // Their generation is past: they are never updated in place or cancelled, so a later delete is always written.
    const failedWrites = batch.writes.filter((write) => !write.cancelled);
    this.pending = [...failedWrites, ...this.pending];
    this.pendingLive += failedWrites.length;
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

    const bodies = new Map<number, MessageBody>();
    for (const { key, value } of databases.messages.getRange()) {
      const id = key as number;
      bodies.set(id, { id, message: decodeBodyValue(value as Buffer), references: 0 });
      this.nextMessageId = Math.max(this.nextMessageId, id + 1);
    }

    // Key order is (client, seq): each client's queue comes back sorted.
    for (const { key, value } of databases.outgoing.getRange()) {
      const { clientKey, value: seq } = decodePairKey(key as Buffer);
      const clientId = clients.get(clientKey);
      const encoded = value as Buffer;
      if (clientId === undefined) {
        // No session (expired or deleted): the record goes with it.
        this.write(databases.outgoing, Buffer.from(key as Buffer), undefined);
        continue;
      }
      const messageId = outgoingMessageId(encoded);
      let body: MessageBody | undefined;
      if (messageId === undefined) body = { id: 0, message: decodeOutgoingInlineBody(encoded), references: 0 };
      else {
        body = bodies.get(messageId);
        if (body === undefined) throw new StoreError(this.path, `outgoing record ${seq} of ${clientId} refers to missing message ${messageId} (corrupt)`);
      }
      body.references += 1;
      // Recovered message objects are registered again, so re-queuing one does not duplicate its body.
      this.bodies.set(body.message, body);
      const record = decodeOutgoingValue(seq, encoded, body.message);
      this.client(clientId).outgoing.set(seq, { record, body, write: undefined });
      let records = state.outgoing.get(clientId);
      if (records === undefined) {
        records = [];
        state.outgoing.set(clientId, records);
      }
      records.push(record);
    }
    for (const body of bodies.values()) {
      if (body.references === 0) this.write(databases.messages, body.id, undefined);
    }

    for (const { key } of databases.incoming.getRange()) {
      const { clientKey, value: packetId } = decodePairKey(key as Buffer);
      const clientId = clients.get(clientKey);
      if (clientId === undefined) {
        this.write(databases.incoming, Buffer.from(key as Buffer), undefined);
        continue;
      }
      this.client(clientId).incoming.add(packetId);
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
