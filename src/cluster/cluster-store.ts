// A worker's store in multi-process mode: its own store (one LMDB environment per worker,
// `<dataDir>/worker-<i>`) for sessions, queues and wills, while retained messages, which every
// worker holds in full, are written by one worker only (the keeper, worker 0) so that a retained
// topic has a single writer. Opening the store also joins the worker mesh, and the retained
// messages the broker restores are the live cluster's (a snapshot from a peer) when there is one.

import type {
  DelayedWillRecord,
  DurabilityMode,
  OutgoingRecord,
  RecoveredState,
  SessionRecord,
  Store,
  StoreStats,
  StoredMessage,
} from '../store/store.js';

/** Joins the mesh; resolves with a peer's retained messages, or undefined when no peer is up. */
export type JoinCluster = () => Promise<StoredMessage[] | undefined>;

/** Calls back once what this worker sent to the others so far is applied (and, sync store, durable) there. */
export type RemoteDurability = (callback: (error?: Error) => void) => void;

export interface ClusterStoreOptions {
  inner: Store;
  /** This worker writes the retained messages (worker 0). */
  keepsRetained: boolean;
  join: JoinCluster;
  remoteDurability: RemoteDurability;
}

export class ClusterStore implements Store {
  private readonly inner: Store;
  private readonly keepsRetained: boolean;
  private readonly join: JoinCluster;
  private readonly remoteDurability: RemoteDurability;

  constructor(options: ClusterStoreOptions) {
    this.inner = options.inner;
    this.keepsRetained = options.keepsRetained;
    this.join = options.join;
    this.remoteDurability = options.remoteDurability;
  }

  get mode(): DurabilityMode {
    return this.inner.mode;
  }

  get writable(): boolean {
    return this.inner.writable;
  }

  async open(): Promise<RecoveredState> {
    const recovered = await this.inner.open();
    const snapshot = await this.join();
    if (snapshot === undefined) return this.keepsRetained ? recovered : { ...recovered, retained: [] };
    if (this.keepsRetained) {
      // The running workers know better than our disk (we were down): make the disk match them.
      const live = new Set(snapshot.map((message) => message.topic));
      for (const message of recovered.retained) if (!live.has(message.topic)) this.inner.putRetained(message.topic, undefined);
      for (const message of snapshot) this.inner.putRetained(message.topic, message);
    }
    return { ...recovered, retained: snapshot };
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  putSession(record: SessionRecord): void {
    this.inner.putSession(record);
  }

  deleteSession(clientId: string): void {
    this.inner.deleteSession(clientId);
  }

  putOutgoing(clientId: string, record: OutgoingRecord): void {
    this.inner.putOutgoing(clientId, record);
  }

  deleteOutgoing(clientId: string, seq: number): void {
    this.inner.deleteOutgoing(clientId, seq);
  }

  putIncomingQoS2(clientId: string, packetId: number): void {
    this.inner.putIncomingQoS2(clientId, packetId);
  }

  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.inner.deleteIncomingQoS2(clientId, packetId);
  }

  putRetained(topic: string, message: StoredMessage | undefined): void {
    if (this.keepsRetained) this.inner.putRetained(topic, message);
  }

  putDelayedWill(record: DelayedWillRecord): void {
    this.inner.putDelayedWill(record);
  }

  deleteDelayedWill(clientId: string): void {
    this.inner.deleteDelayedWill(clientId);
  }

  /**
   * Durable here, and settled in the other workers (retained changes applied, sync forwards
   * durable). Over the memory store acknowledgements do not wait for whenDurable at all.
   */
  whenDurable(callback: (error?: Error) => void): void {
    this.inner.whenDurable((error) => {
      if (error !== undefined) callback(error);
      else this.remoteDurability(callback);
    });
  }

  /** This worker's own commit: the steps that wait for it change only local state. */
  whenCommitted(callback: (error?: Error) => void): void {
    this.inner.whenCommitted(callback);
  }

  stats(): StoreStats {
    return this.inner.stats();
  }
}
