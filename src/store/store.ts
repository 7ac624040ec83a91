// The store interface: what outlives the process.
//
// Memory is the broker's working state; a store only records changes and gives
// them back at start-up (recover). It is never read on the publish hot path.
// Mutations are applied in call order and may be batched (group commit);
// `whenDurable` tells when everything issued so far is safe on disk.

import type { Properties, ProtocolVersion, QoS, RetainHandling, WillMessage } from '../protocol/packets.js';

/** A message as kept for later delivery (queued, inflight or retained). */
export interface StoredMessage {
  topic: string;
  payload: Buffer;
  /** QoS the message was published with. */
  qos: QoS;
  retain: boolean;
  /** Publish properties to forward (never topicAlias or subscriptionIdentifiers: those are per hop). */
  properties?: Properties;
  /** Wall-clock ms when the message was received, to recompute the remaining expiry. */
  receivedAt: number;
  /** Wall-clock ms after which the message must not be delivered (from Message Expiry Interval). */
  expiresAt?: number;
  /** Client id of the publisher (for no-local), if any. */
  publisherId?: string;
}

export interface SubscriptionRecord {
  /** The filter exactly as subscribed, including a `$share/{group}/` prefix. */
  topicFilter: string;
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
  subscriptionIdentifier?: number;
}

export interface SessionRecord {
  clientId: string;
  protocolVersion: ProtocolVersion;
  /** Session Expiry Interval in seconds; 0xFFFFFFFF = never expires. */
  expiryInterval: number;
  subscriptions: SubscriptionRecord[];
  /** Wall-clock ms of the last disconnect; undefined while connected. */
  disconnectedAt?: number;
}

/** One entry of a session's outbound queue / inflight window, in delivery order (seq). */
export interface OutgoingRecord {
  /** Monotonic per session: the delivery order. */
  seq: number;
  message: StoredMessage;
  /** QoS of this delivery (min of published and granted QoS). */
  qos: QoS;
  /** RETAIN flag as it is to be sent to this subscriber. */
  retain: boolean;
  subscriptionIdentifiers?: number[];
  /** Assigned when first sent. */
  packetId?: number;
  /** queued: never sent; sent: PUBLISH sent, awaiting PUBACK/PUBREC; released: PUBREL sent, awaiting PUBCOMP. */
  state: 'queued' | 'sent' | 'released';
}

export interface DelayedWillRecord {
  clientId: string;
  will: WillMessage;
  /** Wall-clock ms when the will is to be published. */
  fireAt: number;
}

/** Everything a store gives back at start-up. */
export interface RecoveredState {
  sessions: SessionRecord[];
  /** Outgoing records per client id, sorted by seq. */
  outgoing: Map<string, OutgoingRecord[]>;
  /** Incoming QoS 2 packet ids awaiting PUBREL, per client id. */
  incomingQoS2: Map<string, number[]>;
  retained: StoredMessage[];
  delayedWills: DelayedWillRecord[];
}

export type DurabilityMode = 'sync' | 'async' | 'memory';

export interface StoreStats {
  /** Bytes used on disk by the data directory (0 for memory). */
  diskBytes: number;
  pendingWrites: number;
}

export interface Store {
  readonly mode: DurabilityMode;
  /** Opens the store and returns what it holds; throws a clear error on a corrupt or unreadable data directory. */
  open(): Promise<RecoveredState>;
  close(): Promise<void>;

  putSession(record: SessionRecord): void;
  /** Deletes the session with its outgoing records and incoming QoS 2 state. */
  deleteSession(clientId: string): void;
  putOutgoing(clientId: string, record: OutgoingRecord): void;
  deleteOutgoing(clientId: string, seq: number): void;
  putIncomingQoS2(clientId: string, packetId: number): void;
  deleteIncomingQoS2(clientId: string, packetId: number): void;
  /** Stores (or, with `undefined`, deletes) the retained message of a topic. */
  putRetained(topic: string, message: StoredMessage | undefined): void;
  putDelayedWill(record: DelayedWillRecord): void;
  deleteDelayedWill(clientId: string): void;

  /**
   * Calls `callback` once every mutation issued before this call is durable
   * (sync mode), or at once (async / memory). An error means the writes failed:
   * the caller must not acknowledge the work they carried.
   */
  whenDurable(callback: (error?: Error) => void): void;
  /**
   * Like whenDurable, but in async mode waits for the commit (not the fsync) of everything issued
   * so far instead of answering at once. For protocol steps whose state must never fall behind
   * what a peer was told (QoS 2 releases and deliveries, PUBCOMP): a kill -9 would otherwise
   * leave stale packet ids that swallow later messages. sync: same as whenDurable; memory: at once.
   */
  whenCommitted(callback: (error?: Error) => void): void;
  /** False after a write error (disk full...) until writes succeed again: refuse new durable work. */
  readonly writable: boolean;
  stats(): StoreStats;
}
