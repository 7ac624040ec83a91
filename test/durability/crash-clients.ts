// Publishers and subscribers whose session state outlives broker crashes, as a real client's
// would: a publisher keeps its unacknowledged QoS 1/2 messages and re-sends them (PUBLISH with
// DUP, or PUBREL) when the session is still there after a reconnect; a subscriber handles QoS 2
// exactly once in one of the two ways MQTT 4.3.3 allows the receiver, and keeps that state
// across reconnects: "method A" hands the message on at PUBLISH and remembers its packet id
// until PUBREL, "method B" holds the message until PUBREL. Each records what it got.

import type { Packet } from 'mqtt-packet';
import type { SeededRandom } from './seeded-random.js';
import { WireConnection } from './wire-client.js';

/** Every topic a publisher sends on: `crash/<publisher>/q<qos>`; retained: `retained/<publisher>`. */
export interface PublisherTopic {
  topic: string;
  qos: 1 | 2;
  retain: boolean;
}

interface Outstanding {
  packetId: number;
  topic: string;
  seq: number;
  qos: 1 | 2;
  retain: boolean;
  /** publish: waiting for PUBACK / PUBREC; pubrel: PUBREL sent, waiting for PUBCOMP. */
  stage: 'publish' | 'pubrel';
}

const sessionExpiry = 3600;

export class CrashPublisher {
  readonly clientId: string;
  readonly protocolVersion: 4 | 5;
  readonly topics: PublisherTopic[];
  /** topic -> sequence numbers whose PUBACK / PUBCOMP arrived. */
  readonly acknowledged = new Map<string, Set<number>>();
  /**
   * topic -> seq -> when the broker first took the message (Date.now() at PUBACK, or at PUBREC for
   * QoS 2): the async crash test measures the window of loss from it.
   */
  readonly takenAt = new Map<string, Map<number, number>>();
  /** topic -> highest sequence number sent. */
  readonly lastSent = new Map<string, number>();
  /** Refusals (reason code >= 0x80), which never count as acknowledged. */
  refused = 0;
  /** PUBCOMP 0x92 (packet identifier not found) answering a re-sent PUBREL. */
  pubcompNotFound = 0;
  /** Reconnects that found no session although an acknowledgement had been received (a durability failure). */
  sessionLosses = 0;
  private connection: WireConnection | undefined;
  /** Insertion order is send order: the order of re-sending [MQTT-4.4.0-1]. */
  private readonly outstanding = new Map<number, Outstanding>();
  private readonly random: SeededRandom;
  private readonly window: number;
  private running = false;
  private acknowledgedAny = false;
  private idleWaiters: Array<() => void> = [];

  constructor(clientId: string, protocolVersion: 4 | 5, random: SeededRandom, window = 8) {
    this.clientId = clientId;
    this.protocolVersion = protocolVersion;
    this.random = random;
    this.window = window;
    this.topics = [
      { topic: `crash/${clientId}/q1`, qos: 1, retain: false },
      { topic: `crash/${clientId}/q2`, qos: 2, retain: false },
      { topic: `retained/${clientId}`, qos: 1, retain: true },
    ];
    for (const { topic } of this.topics) {
      this.acknowledged.set(topic, new Set());
      this.takenAt.set(topic, new Map());
    }
  }

  get outstandingCount(): number {
    return this.outstanding.size;
  }

  get connected(): boolean {
    return this.connection !== undefined && !this.connection.closed;
  }

  async connect(port: number): Promise<void> {
    const { connection, connack } = await WireConnection.open(
      { port, clientId: this.clientId, protocolVersion: this.protocolVersion, clean: false, sessionExpiry },
      (packet, connection) => this.onPacket(packet, connection),
      () => this.wakeIdle(),
    );
    this.connection = connection;
    if (connack.sessionPresent) {
      // [MQTT-4.4.0-1] re-send unacknowledged PUBLISH (DUP) and PUBREL, in the original order
      for (const entry of this.outstanding.values()) this.sendEntry(connection, entry, true);
    } else {
      if (this.acknowledgedAny) this.sessionLosses++;
      // Without the session the broker has no QoS 2 state for these ids: start afresh.
      this.outstanding.clear();
    }
    this.fill();
  }

  start(): void {
    this.running = true;
    this.fill();
  }

  /** Stops sending new messages (outstanding ones are still completed). */
  pause(): void {
    this.running = false;
  }

  /** Resolves when nothing is outstanding, or the connection closed, or after `timeoutMs`. */
  async settled(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.outstanding.size > 0 && this.connected && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.idleWaiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  close(): void {
    this.connection?.destroy();
    this.connection = undefined;
  }

  private wakeIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private fill(): void {
    while (this.running && this.connected && this.outstanding.size < this.window) this.publishNext();
  }

  private publishNext(): void {
    // One retained message in flight at a time: a re-sent older one never overwrites a newer acknowledged one.
    const retainedBusy = [...this.outstanding.values()].some((entry) => entry.retain);
    const choice = this.random.next();
    const topic = !retainedBusy && choice < 0.1 ? this.topics[2]! : choice < 0.55 ? this.topics[0]! : this.topics[1]!;
    const seq = (this.lastSent.get(topic.topic) ?? 0) + 1;
    this.lastSent.set(topic.topic, seq);
    const entry: Outstanding = { packetId: this.freePacketId(), topic: topic.topic, seq, qos: topic.qos, retain: topic.retain, stage: 'publish' };
    this.outstanding.set(entry.packetId, entry);
    this.sendEntry(this.connection!, entry, false);
  }

  /** The lowest free id: ids are reused as soon as allowed, which is what finds stale QoS 2 state. */
  private freePacketId(): number {
    for (let packetId = 1; packetId <= 65535; packetId++) if (!this.outstanding.has(packetId)) return packetId;
    throw new Error('no free packet id');
  }

  private sendEntry(connection: WireConnection, entry: Outstanding, dup: boolean): void {
    if (entry.stage === 'pubrel') {
      connection.send({ cmd: 'pubrel', messageId: entry.packetId });
      return;
    }
    connection.send({ cmd: 'publish', topic: entry.topic, payload: Buffer.from(String(entry.seq)), qos: entry.qos, retain: entry.retain, dup, messageId: entry.packetId });
  }

  private markTaken(entry: Outstanding): void {
    const times = this.takenAt.get(entry.topic)!;
    if (!times.has(entry.seq)) times.set(entry.seq, Date.now());
  }

  private onPacket(packet: Packet, connection: WireConnection): void {
    if (packet.cmd !== 'puback' && packet.cmd !== 'pubrec' && packet.cmd !== 'pubcomp') return;
    const entry = packet.messageId === undefined ? undefined : this.outstanding.get(packet.messageId);
    if (entry === undefined) return;
    const reasonCode = packet.reasonCode ?? 0;
    if (packet.cmd === 'pubcomp' && entry.stage === 'pubrel') {
      // Any PUBCOMP ends the exchange. 0x92 (id not found) answers a PUBREL re-sent after a crash
      // that came after the broker completed its side: the PUBREC before it made the message ours.
      if (reasonCode === 0x92) this.pubcompNotFound++;
      this.outstanding.delete(entry.packetId);
      this.acknowledged.get(entry.topic)!.add(entry.seq);
      this.acknowledgedAny = true;
    } else if (reasonCode >= 0x80) {
      this.refused++;
      this.outstanding.delete(entry.packetId);
    } else if (packet.cmd === 'pubrec' && entry.qos === 2 && entry.stage === 'publish') {
      this.markTaken(entry);
      entry.stage = 'pubrel';
      this.sendEntry(connection, entry, false);
      return;
    } else if (packet.cmd === 'puback' && entry.qos === 1) {
      this.markTaken(entry);
      this.outstanding.delete(entry.packetId);
      this.acknowledged.get(entry.topic)!.add(entry.seq);
      this.acknowledgedAny = true;
    } else {
      return;
    }
    this.wakeIdle();
    this.fill();
  }
}

export class CrashSubscriber {
  readonly clientId: string;
  readonly protocolVersion: 4 | 5;
  /** topic -> sequence numbers in the order they were handed to the application. */
  readonly received = new Map<string, number[]>();
  /** Reconnects that found no session after it was known to be durable. */
  sessionLosses = 0;
  /**
   * QoS 2 PUBLISH packets carrying a packet id still held (PUBREC sent, no PUBREL yet) for another
   * message: the broker reused an id it had not released, having lost that exchange. Method A
   * takes such a message for a re-send of the held one and drops it.
   */
  reusedPacketIds = 0;
  private connection: WireConnection | undefined;
  /** When a QoS 2 message is handed to the application: at PUBLISH (method A) or at PUBREL (method B). */
  readonly qos2Method: 'A' | 'B';
  /** QoS 2 PUBLISH received, waiting for PUBREL: packet id -> message (method A has handed it on already). */
  private readonly heldQoS2 = new Map<number, { topic: string; seq: number; handedOn: boolean }>();
  private subscribed = false;
  private durable = false;

  private readonly filter: string;

  constructor(clientId: string, protocolVersion: 4 | 5, qos2Method: 'A' | 'B', filter = 'crash/#') {
    this.clientId = clientId;
    this.protocolVersion = protocolVersion;
    this.qos2Method = qos2Method;
    this.filter = filter;
  }

  get connected(): boolean {
    return this.connection !== undefined && !this.connection.closed;
  }

  /** From now on the session must exist on every reconnect. */
  markDurable(): void {
    this.durable = true;
  }

  async connect(port: number): Promise<void> {
    let onSuback: (() => void) | undefined;
    const { connection, connack } = await WireConnection.open(
      { port, clientId: this.clientId, protocolVersion: this.protocolVersion, clean: false, sessionExpiry },
      (packet, connection) => {
        if (packet.cmd === 'suback') onSuback?.();
        else this.onPacket(packet, connection);
      },
      () => undefined,
    );
    this.connection = connection;
    if (!connack.sessionPresent) {
      if (this.durable) this.sessionLosses++;
      this.heldQoS2.clear();
      this.subscribed = false;
    }
    if (!this.subscribed) {
      const subacked = new Promise<void>((resolve) => (onSuback = resolve));
      connection.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: this.filter, qos: 2 }] });
      await subacked;
      this.subscribed = true;
    }
  }

  close(): void {
    this.connection?.destroy();
    this.connection = undefined;
  }

  private deliver(topic: string, seq: number): void {
    let list = this.received.get(topic);
    if (list === undefined) {
      list = [];
      this.received.set(topic, list);
    }
    list.push(seq);
  }

  private onPacket(packet: Packet, connection: WireConnection): void {
    if (packet.cmd === 'publish') {
      // The payload starts with the sequence number (what follows it, if anything, is padding).
      const seq = Number.parseInt(packet.payload.toString().slice(0, 16), 10);
      if (packet.qos === 1) {
        this.deliver(packet.topic, seq);
        connection.send({ cmd: 'puback', messageId: packet.messageId });
      } else if (packet.qos === 2) {
        const packetId = packet.messageId!;
        const held = this.heldQoS2.get(packetId);
        if (held !== undefined && (held.topic !== packet.topic || held.seq !== seq)) this.reusedPacketIds++;
        if (this.qos2Method === 'B') {
          // Hold it until PUBREL; a re-sent PUBLISH (DUP) with the same id replaces it.
          this.heldQoS2.set(packetId, { topic: packet.topic, seq, handedOn: false });
        } else if (held === undefined) {
          // Hand it on now; until PUBREL a PUBLISH with this id is the same message again.
          this.heldQoS2.set(packetId, { topic: packet.topic, seq, handedOn: true });
          this.deliver(packet.topic, seq);
        }
        connection.send({ cmd: 'pubrec', messageId: packetId });
      }
    } else if (packet.cmd === 'pubrel') {
      const held = packet.messageId === undefined ? undefined : this.heldQoS2.get(packet.messageId);
      this.heldQoS2.delete(packet.messageId!);
      if (held !== undefined && !held.handedOn) this.deliver(held.topic, held.seq);
      connection.send({ cmd: 'pubcomp', messageId: packet.messageId });
    }
  }
}

/**
 * Sets up the clients for one crash round: the first subscriber always online, the middle ones
 * by chance, the last always offline (its persistent session queues); every publisher connected
 * and sending.
 */
export async function startRound(port: number, random: SeededRandom, subscribers: CrashSubscriber[], publishers: CrashPublisher[]): Promise<void> {
  for (const [index, subscriber] of subscribers.entries()) {
    const online = index === 0 || (index < subscribers.length - 1 && random.chance(0.5));
    if (online && !subscriber.connected) await subscriber.connect(port);
    if (!online && subscriber.connected) subscriber.close();
  }
  for (const publisher of publishers) if (!publisher.connected) await publisher.connect(port);
  for (const publisher of publishers) publisher.start();
}

/** Connects a clean client, subscribes to `retained/#` and collects the retained messages (topic -> seq). */
export async function readRetained(port: number, expectedTopics: string[], timeoutMs: number): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  let wake: (() => void) | undefined;
  const { connection } = await WireConnection.open(
    { port, clientId: `retained-reader-${process.pid}-${Date.now()}`, protocolVersion: 5, clean: true },
    (packet, current) => {
      if (packet.cmd === 'publish' && packet.retain) {
        found.set(packet.topic, Number(packet.payload.toString()));
        if (packet.qos === 1) current.send({ cmd: 'puback', messageId: packet.messageId });
        wake?.();
      }
    },
    () => wake?.(),
  );
  connection.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'retained/#', qos: 1 }] });
  const deadline = Date.now() + timeoutMs;
  while (expectedTopics.some((topic) => !found.has(topic)) && !connection.closed && Date.now() < deadline) {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, 50);
      wake = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }
  connection.end();
  return found;
}
