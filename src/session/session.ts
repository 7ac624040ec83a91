// A Session is what outlives a connection: subscriptions, the outgoing queue and inflight
// window, packet identifiers, incoming QoS 2 state, and the expiry / will timers.
// It is the router's DeliveryTarget for a local client.

import type { ProtocolVersion, PublishPacket, QoS, WillMessage } from '../protocol/packets.js';
import type { DeliveryOptions, DeliveryTarget } from '../router/delivery-target.js';
import { RoutedMessage } from '../router/routed-message.js';
import type { OutgoingRecord, SessionRecord, SubscriptionRecord } from '../store/store.js';
import type { SessionContext } from './session-context.js';
import type { SessionLink } from './session-link.js';
import type { LongTimer } from './long-timer.js';

/** Session Expiry Interval meaning "never expires". */
export const NEVER_EXPIRES = 0xffffffff;

/**
 * The queue of a session that has queued nothing yet (most sessions, most of the time): shared,
 * so an idle session holds no array of its own. Frozen: a push onto it would be a bug, and throws.
 */
const EMPTY_QUEUE: OutgoingEntry[] = Object.freeze([]) as unknown as OutgoingEntry[];
const NO_ENTRIES: readonly OutgoingEntry[] = EMPTY_QUEUE;

export interface OutgoingEntry {
  seq: number;
  message: RoutedMessage;
  qos: QoS;
  retain: boolean;
  subscriptionIdentifiers?: number[];
  packetId?: number;
  state: 'queued' | 'sent' | 'released';
  /** The $share filter this came through, to hand it to another member if this client goes away. */
  sharedFilter?: string;
}

export class Session implements DeliveryTarget {
  readonly clientId: string;
  protocolVersion: ProtocolVersion;
  /** Seconds; 0 = ends with the connection; NEVER_EXPIRES = never. */
  expiryInterval: number;
  // The collections below are created on first use: an idle client (no subscription, nothing
  // in flight) does not pay ~150 bytes for each empty Map or Set.
  private subscriptionMap: Map<string, SubscriptionRecord> | undefined;
  private incomingQoS2Set: Set<number> | undefined;
  private inflightMap: Map<number, OutgoingEntry> | undefined;
  link: SessionLink | undefined;
  disconnectedAt: number | undefined;
  expiryTimer: LongTimer | undefined;
  /** A will waiting for its Will Delay Interval. */
  delayedWill: { will: WillMessage; timer: LongTimer } | undefined;

  private readonly context: SessionContext;
  private queue: OutgoingEntry[] = EMPTY_QUEUE;
  private queueHead = 0;
  private nextSeq = 1;
  private nextPacketId = 1;
  /** Re-sending the in-flight window of a resumed session waits for the store: nothing else goes first. */
  private resendPending = false;
  /** Sent entries of a persistent session waiting for the store's durability point, in order (created on first use). */
  private awaitingDurableList: OutgoingEntry[] | undefined;

  constructor(context: SessionContext, clientId: string, protocolVersion: ProtocolVersion, expiryInterval: number) {
    this.context = context;
    this.clientId = clientId;
    this.protocolVersion = protocolVersion;
    this.expiryInterval = expiryInterval;
  }

  get subscriptions(): Map<string, SubscriptionRecord> {
    return (this.subscriptionMap ??= new Map());
  }

  /** Incoming QoS 2 packet ids received (and routed) but not yet released by PUBREL. */
  get incomingQoS2(): Set<number> {
    return (this.incomingQoS2Set ??= new Set());
  }

  /** The readers below do not create the collections. */
  get incomingQoS2Count(): number {
    return this.incomingQoS2Set?.size ?? 0;
  }

  hasIncomingQoS2(packetId: number): boolean {
    return this.incomingQoS2Set?.has(packetId) ?? false;
  }

  /** Forgets every subscription; returns their topic filters (for the subscription index). */
  clearSubscriptions(): string[] {
    const filters = this.subscriptionMap === undefined ? [] : [...this.subscriptionMap.keys()];
    this.subscriptionMap = undefined;
    return filters;
  }

  /** Sent and awaiting PUBACK / PUBREC / PUBCOMP, in send order (created by the first send). */
  private get inflight(): Map<number, OutgoingEntry> {
    return (this.inflightMap ??= new Map());
  }

  /** The in-flight entries, without creating the map. */
  private inflightEntries(): Iterable<OutgoingEntry> {
    return this.inflightMap?.values() ?? NO_ENTRIES;
  }

  get persistent(): boolean {
    return this.expiryInterval > 0;
  }

  get queuedCount(): number {
    return this.queue.length - this.queueHead;
  }

  get inflightCount(): number {
    return this.inflightMap?.size ?? 0;
  }

  isOnline(): boolean {
    return this.link !== undefined;
  }

  toRecord(): SessionRecord {
    return {
      clientId: this.clientId,
      protocolVersion: this.protocolVersion,
      expiryInterval: this.expiryInterval,
      subscriptions: this.subscriptionMap === undefined ? [] : [...this.subscriptionMap.values()],
      disconnectedAt: this.disconnectedAt,
    };
  }

  /**
   * Changes the Session Expiry Interval. Crossing between 0 and non-zero moves the session into
   * or out of the store: one that becomes persistent records everything it holds now (later
   * changes are recorded as they happen); one that stops being persistent is deleted from it.
   */
  setExpiryInterval(expiryInterval: number): void {
    const wasPersistent = this.persistent;
    this.expiryInterval = expiryInterval;
    if (wasPersistent === this.persistent) return;
    const store = this.context.store;
    if (!this.persistent) {
      store.deleteSession(this.clientId);
      return;
    }
    store.putSession(this.toRecord());
    for (const record of this.outgoingRecords()) store.putOutgoing(this.clientId, record);
    for (const packetId of this.incomingQoS2Set ?? []) store.putIncomingQoS2(this.clientId, packetId);
  }

  /** Records the session (subscriptions, expiry) in the store if it outlives its connection. */
  persist(): void {
    if (this.persistent) this.context.store.putSession(this.toRecord());
  }

  deliver(message: RoutedMessage, options: DeliveryOptions): void {
    if (message.isExpired(Date.now())) {
      this.context.onDropped(this.clientId, () => this.packetOf(message, options.qos, options.retain), 'expired');
      return;
    }
    const link = this.link;
    if (options.qos === 0) {
      if (link !== undefined) {
        // QoS 0 skips the queue; beyond the socket bound it is dropped, never buffered without limit.
        if (link.isWritable()) {
          this.write(link, message, 0, options.retain, false, undefined, options.subscriptionIdentifiers);
        } else {
          this.context.onDropped(this.clientId, () => this.packetOf(message, 0, options.retain), 'qos0-backpressure');
        }
        return;
      }
      if (!this.context.queueQoS0) return;
    }
    const entry: OutgoingEntry = {
      seq: this.nextSeq++,
      message,
      qos: options.qos,
      retain: options.retain,
      subscriptionIdentifiers: options.subscriptionIdentifiers,
      state: 'queued',
      sharedFilter: options.sharedFilter,
    };
    if (link !== undefined && !this.resendPending && this.queuedCount === 0 && this.inflightCount < link.sendWindow && link.isWritable()) {
      this.sendEntry(link, entry);
      return;
    }
    this.enqueue(entry);
  }

  /** Adds an entry behind the queue (bounded by limits.maxQueuedMessages). */
  private enqueue(entry: OutgoingEntry): void {
    if (this.queuedCount >= this.context.maxQueuedMessages) {
      this.context.onDropped(this.clientId, () => this.packetOf(entry.message, entry.qos, entry.retain), 'queue-full');
      return;
    }
    if (this.queue === EMPTY_QUEUE) this.queue = [];
    this.queue.push(entry);
    if (this.persistent) this.context.store.putOutgoing(this.clientId, this.recordOf(entry));
  }

  private sendEntry(link: SessionLink, entry: OutgoingEntry): void {
    if (entry.qos === 0) {
      this.write(link, entry.message, 0, entry.retain, false, undefined, entry.subscriptionIdentifiers);
      return;
    }
    entry.packetId = this.allocatePacketId();
    entry.state = 'sent';
    this.inflight.set(entry.packetId, entry);
    if (this.persistent) {
      this.context.store.putOutgoing(this.clientId, this.recordOf(entry));
      if (entry.qos === 2 || (this.awaitingDurableList !== undefined && this.awaitingDurableList.length > 0)) {
        // Exactly once across a crash: the subscriber may see a QoS 2 message only after the
        // broker durably knows it sent it (else a restart could deliver it again under a new id).
        // A QoS 1 message behind a waiting one waits too, so the delivery order is kept.
        (this.awaitingDurableList ??= []).push(entry);
        this.context.afterDurable(() => this.releaseDurable(link, entry));
        return;
      }
    }
    this.sendNow(link, entry);
  }

  /** Sends, in order, every waiting entry up to `entry` (a later durability point covers the earlier writes). */
  private releaseDurable(link: SessionLink, entry: OutgoingEntry): void {
    const waiting = this.awaitingDurableList;
    const index = waiting === undefined ? -1 : waiting.indexOf(entry);
    if (index === -1) return; // cleared by a resume, which re-sends the window itself
    for (const ready of waiting!.splice(0, index + 1)) this.sendLater(link, ready);
  }

  private sendLater(link: SessionLink, entry: OutgoingEntry): void {
    // Still the same connection and still waiting: otherwise the resumed session re-sends it.
    if (this.link !== link || entry.state !== 'sent' || this.inflightMap?.get(entry.packetId!) !== entry) return;
    this.sendNow(link, entry);
  }

  private sendNow(link: SessionLink, entry: OutgoingEntry): void {
    if (!this.write(link, entry.message, entry.qos, entry.retain, false, entry.packetId, entry.subscriptionIdentifiers)) {
      // Too large for this client: it will never be acknowledged, so forget it now.
      this.forget(entry);
    }
  }

  private write(
    link: SessionLink,
    message: RoutedMessage,
    qos: QoS,
    retain: boolean,
    dup: boolean,
    packetId: number | undefined,
    subscriptionIdentifiers: number[] | undefined,
  ): boolean {
    const written = link.writePublish(message, { qos, retain, dup, packetId, subscriptionIdentifiers });
    if (!written) {
      this.context.onDropped(this.clientId, () => this.packetOf(message, qos, retain), 'packet-too-large');
    } else if (qos === 0) {
      this.context.onDelivered(link.client, () => this.packetOf(message, qos, retain));
    }
    return written;
  }

  /** Sends queued entries while the window and the socket allow. */
  pump(): void {
    const link = this.link;
    if (link === undefined || this.resendPending) return;
    const now = Date.now();
    while (this.queueHead < this.queue.length && this.inflightCount < link.sendWindow && link.isWritable()) {
      const entry = this.queue[this.queueHead]!;
      this.queue[this.queueHead] = undefined as unknown as OutgoingEntry; // release the reference for GC
      this.queueHead++;
      if (entry.message.isExpired(now)) {
        this.forget(entry);
        this.context.onDropped(this.clientId, () => this.packetOf(entry.message, entry.qos, entry.retain), 'expired');
        continue;
      }
      if (entry.qos === 0) {
        this.write(link, entry.message, 0, entry.retain, false, undefined, entry.subscriptionIdentifiers);
        this.forget(entry);
        continue;
      }
      this.sendEntry(link, entry);
    }
    if (this.queueHead === this.queue.length) {
      // Drained: give the array back (an idle session should not keep the size of its last burst).
      this.queue = EMPTY_QUEUE;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
  }

  /** Attaches a connection and re-sends what was in flight, in the original order [MQTT-4.4.0-1]. */
  attach(link: SessionLink): void {
    this.link = link;
    // Entries still waiting for durability are in the inflight window: the resume re-sends them.
    this.awaitingDurableList = undefined;
    this.protocolVersion = link.protocolVersion;
    this.disconnectedAt = undefined;
    if (this.persistent && this.hasInflightQoS2()) {
      // Exactly once across a crash: a QoS 2 PUBLISH's 'sent' record (or a PUBREL's 'released'
      // one) may still be unwritten if the previous connection dropped before its durability
      // point; the wait was then skipped. Re-sending it before that record is durable would let a
      // restart send the PUBLISH again under a new packet id (or after the client completed it).
      // One wait covers the whole window; the window and the queue go after it, in order.
      this.resendPending = true;
      this.context.afterDurable(() => {
        if (this.link !== link) return;
        this.resendPending = false;
        this.resendInflight(link);
        this.pump();
      });
      return;
    }
    this.resendInflight(link);
    this.pump();
  }

  private hasInflightQoS2(): boolean {
    for (const entry of this.inflightEntries()) if (entry.qos === 2) return true;
    return false;
  }

  private resendInflight(link: SessionLink): void {
    for (const entry of this.inflightEntries()) {
      if (entry.state === 'released') {
        link.writePubrel(entry.packetId!); // [MQTT-4.4.0-1] re-send PUBREL with its original packet id
      } else {
        // Onward delivery has started: it completes even if the Message Expiry passed meanwhile
        // [MQTT-3.3.2-5] [MQTT-4.3.3-7].
        // [MQTT-3.3.1-1] DUP set on re-delivery
        if (!link.writePublish(entry.message, { qos: entry.qos, retain: entry.retain, dup: true, packetId: entry.packetId, subscriptionIdentifiers: entry.subscriptionIdentifiers })) {
          this.forget(entry);
        }
      }
    }
  }

  /**
   * Detaches the connection. Entries that came through a shared subscription and are not
   * yet released are taken out and returned, to be given to another member of the group.
   */
  detach(): OutgoingEntry[] {
    this.link = undefined;
    this.resendPending = false;
    this.disconnectedAt = Date.now();
    const moved: OutgoingEntry[] = [];
    for (const entry of this.inflightEntries()) {
      // QoS 1 may go to another member; QoS 2 must complete with this client [MQTT-4.8.2-4] [MQTT-4.8.2-5].
      if (entry.sharedFilter !== undefined && entry.state === 'sent' && entry.qos === 1) moved.push(entry);
    }
    for (let index = this.queueHead; index < this.queue.length; index++) {
      const entry = this.queue[index]!;
      if (entry.sharedFilter !== undefined) moved.push(entry);
    }
    if (moved.length > 0) {
      for (const entry of moved) this.forget(entry);
      this.queue = this.queue.slice(this.queueHead).filter((entry) => entry.sharedFilter === undefined);
      this.queueHead = 0;
    }
    return moved;
  }

  /**
   * Takes back entries that could not go to another shared-group member. They were sent or
   * queued before what is still queued, so they go back at the front: ordered by sequence
   * number, the original order, which is also the order the store restores after a restart.
   */
  putBack(entries: OutgoingEntry[]): void {
    for (const entry of entries) {
      entry.packetId = undefined;
      entry.state = 'queued';
      entry.sharedFilter = undefined;
      if (this.persistent) this.context.store.putOutgoing(this.clientId, this.recordOf(entry));
    }
    this.queue = [...entries, ...this.queue.slice(this.queueHead)].sort((first, second) => first.seq - second.seq);
    this.queueHead = 0;
  }

  /** PUBACK from the client. False if no QoS 1 message had that packet id. */
  acknowledge(packetId: number): boolean {
    const entry = this.inflightMap?.get(packetId);
    if (entry === undefined || entry.qos !== 1) return false;
    this.forget(entry);
    if (this.link !== undefined) this.context.onDelivered(this.link.client, () => this.packetOf(entry.message, 1, entry.retain));
    this.pump();
    return true;
  }

  /** PUBREC from the client: false if unknown (PUBREL 0x92 is then due). */
  received(packetId: number, reasonCode: number): boolean {
    const entry = this.inflightMap?.get(packetId);
    if (entry === undefined || entry.qos !== 2) return false;
    if (reasonCode >= 0x80) {
      // 5.0 §4.3.3: a PUBREC with a failure reason code ends the exchange; the packet id is free again.
      this.forget(entry);
      this.pump();
      return true;
    }
    entry.state = 'released';
    const link = this.link;
    if (this.persistent) {
      this.context.store.putOutgoing(this.clientId, this.recordOf(entry));
      // PUBREL only once 'released' is durable: after a crash the PUBLISH must not be re-sent
      // to a client that already completed it.
      this.context.afterDurable(() => {
        if (this.link === link && link !== undefined && this.inflightMap?.get(packetId) === entry) link.writePubrel(packetId);
      });
    } else {
      link?.writePubrel(packetId);
    }
    return true;
  }

  /** PUBCOMP from the client. */
  completed(packetId: number): boolean {
    const entry = this.inflightMap?.get(packetId);
    if (entry === undefined || entry.state !== 'released') return false;
    this.forget(entry);
    if (this.link !== undefined) this.context.onDelivered(this.link.client, () => this.packetOf(entry.message, 2, entry.retain));
    this.pump();
    return true;
  }

  /** Drops an entry from the inflight window and from the store. */
  private forget(entry: OutgoingEntry): void {
    if (entry.packetId !== undefined && this.inflightMap?.get(entry.packetId) === entry) this.inflightMap.delete(entry.packetId);
    if (this.persistent) this.context.store.deleteOutgoing(this.clientId, entry.seq);
  }

  /** Every queued and inflight entry (for the store and for tests), in order. */
  outgoingRecords(): OutgoingRecord[] {
    const records: OutgoingRecord[] = [];
    for (const entry of this.inflightEntries()) records.push(this.recordOf(entry));
    for (let index = this.queueHead; index < this.queue.length; index++) records.push(this.recordOf(this.queue[index]!));
    return records;
  }

  /** Restores outgoing state recovered from the store (records sorted by seq). */
  restoreOutgoing(records: OutgoingRecord[]): void {
    const now = Date.now();
    for (const record of records) {
      const message = new RoutedMessage(record.message);
      if (record.state === 'queued' && message.isExpired(now)) {
        this.context.store.deleteOutgoing(this.clientId, record.seq);
        continue;
      }
      const entry: OutgoingEntry = {
        seq: record.seq,
        message,
        qos: record.qos,
        retain: record.retain,
        subscriptionIdentifiers: record.subscriptionIdentifiers,
        packetId: record.packetId,
        state: record.state,
      };
      if (entry.state !== 'queued' && entry.packetId !== undefined) {
        this.inflight.set(entry.packetId, entry);
      } else {
        if (this.queue === EMPTY_QUEUE) this.queue = [];
        this.queue.push(entry);
      }
      if (record.seq >= this.nextSeq) this.nextSeq = record.seq + 1;
    }
  }

  /** Drops every queued and inflight message (clean start, or the session ends). */
  clearOutgoing(): void {
    this.inflightMap = undefined;
    this.queue = EMPTY_QUEUE;
    this.queueHead = 0;
  }

  private allocatePacketId(): number {
    // [MQTT-2.2.1-3] a non-zero id not in use by another unacknowledged PUBLISH of this session
    for (let attempts = 0; attempts < 65535; attempts++) {
      const packetId = this.nextPacketId;
      this.nextPacketId = packetId === 65535 ? 1 : packetId + 1;
      if (this.inflightMap?.has(packetId) !== true) return packetId;
    }
    throw new Error('no free packet identifier');
  }

  private recordOf(entry: OutgoingEntry): OutgoingRecord {
    return {
      seq: entry.seq,
      message: entry.message.stored,
      qos: entry.qos,
      retain: entry.retain,
      subscriptionIdentifiers: entry.subscriptionIdentifiers,
      packetId: entry.packetId,
      state: entry.state,
    };
  }

  private packetOf(message: RoutedMessage, qos: QoS, retain: boolean): PublishPacket {
    const { topic, payload, properties } = message.stored;
    return { type: 'publish', topic, payload, qos, retain, dup: false, properties };
  }
}
