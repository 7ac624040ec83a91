// One worker's part of the cluster: announces its routes over the mesh and keeps everyone
// else's (RouteTable), forwards published messages only to workers with matching subscribers,
// places shared-subscription messages on one worker per group, replicates retained messages,
// and carries out the primary's takeover protocol (claim / release / discard).

import type { Logger } from 'pino';
import type { BrokerStats } from '../broker/broker.js';
import type { Counters } from '../broker/counters.js';
import type { SharedStrategy } from '../config/schema.js';
import type { RetainedMessages } from '../router/retained-messages.js';
import { RoutedMessage } from '../router/routed-message.js';
import type { Router } from '../router/router.js';
import type { SessionLink } from '../session/session-link.js';
import type { SessionRegistry } from '../session/session-registry.js';
import type { Store, StoredMessage } from '../store/store.js';
import type { SharedGroup, SubscriptionIndex, SubscriptionIndexOptions } from '../topics/subscription-index.js';
import type { BrokerCluster } from './broker-cluster.js';
import { AcknowledgementBatcher, Confirmations } from './confirmations.js';
import { decodeForwarded, encodeForwarded, type ForwardedMessage } from './forwarded-message.js';
import type { ListenerAddress, PrimaryMessage, WorkerMessage } from './ipc-messages.js';
import { FrameType, Mesh } from './mesh.js';
import { ObservedSubscriptionIndex } from './observed-index.js';
import { RouteTable } from './route-table.js';
import { decodeSnapshot, encodeSnapshot } from './retained-snapshot.js';
import { sumStats } from './cluster-stats.js';
import { restoreSession, serializeSession, type TransferredSession } from './session-transfer.js';

/**
 * A worker that cannot keep up lets this much pile up for it before QoS 0 messages to it are
 * dropped (as a slow client's QoS 0 messages are); QoS 1/2 messages are always sent.
 */
export const meshBacklogLimitBytes = 64 * 1024 * 1024;

/** The broker as the cluster node sees it (implemented by Broker). */
export interface ClusterHost {
  readonly logger: Logger;
  readonly counters: Counters;
  readonly router: Router;
  readonly sessions: SessionRegistry;
  readonly retained: RetainedMessages;
  readonly store: Store;
}

/** The IPC channel to the primary (process.send / process.on('message') in a worker). */
export interface PrimaryChannel {
  send(message: WorkerMessage): void;
  onMessage(handler: (message: PrimaryMessage) => void): void;
}

export interface ClusterNodeOptions {
  self: number;
  socketPath: string;
  channel: PrimaryChannel;
  logger: Logger;
  sharedStrategy: SharedStrategy;
  /** Closes a live connection taken over by another worker (5.0: DISCONNECT 0x8E), as a local takeover does. */
  takeOver(link: SessionLink, clean: boolean): void;
  /** Longest a CONNECT waits for the primary's answer to a claim before going on locally. */
  claimTimeoutMs?: number;
  /** Longest the retained snapshot from a peer may take at start-up. */
  snapshotTimeoutMs?: number;
  /**
   * Sync store: a QoS 1/2 message forwarded to another worker is acknowledged to its publisher
   * only once that worker's store has made its queue entries durable (as a single process does).
   */
  durableForwards?: boolean;
  /**
   * This worker's own store durability, without waiting on other workers (acknowledging a
   * forwarded message must not wait for our own forwards: two workers would wait on each other).
   */
  whenLocallyDurable?(callback: (error?: Error) => void): void;
}

interface RouteUpdate {
  /** The sender's routes are replaced by these (a full dump) rather than changed. */
  reset?: boolean;
  /** [filter, 1 = added | 0 = removed], in order. */
  ops: Array<[string, 0 | 1]>;
}

export class ClusterNode implements BrokerCluster {
  readonly routes: RouteTable;
  readonly mesh: Mesh;
  private readonly options: ClusterNodeOptions;
  private readonly logger: Logger;
  private host: ClusterHost | undefined;
  private index: ObservedSubscriptionIndex | undefined;
  private pendingRouteOps: Array<[string, 0 | 1]> = [];
  private readonly pendingClaims = new Map<number, (session: TransferredSession | undefined) => void>();
  private nextRequestId = 1;
  /** Until the broker has started: retained updates wait (restore must not overwrite them) and snapshot requests queue. */
  private started = false;
  private heldRetained: Buffer[] = [];
  private heldSnapshotRequests: number[] = [];
  private snapshotWaiter: { peer: number; resolve: (messages: StoredMessage[] | undefined) => void } | undefined;
  private peersAnswer: ((peers: Array<{ index: number; socketPath: string }>) => void) | undefined;
  /** Route and retained updates: applied by every peer (SUBACK and retained PUBACK wait for it). */
  private readonly applied = new Confirmations();
  private readonly appliedAcks: AcknowledgementBatcher;
  /** QoS 1/2 messages forwarded with a sync store: durable in the receiver's store. */
  private readonly durable = new Confirmations();
  private readonly durableAcks: AcknowledgementBatcher;
  /** The latest statistics each peer reported. */
  private readonly peerStats = new Map<number, BrokerStats>();
  private statsTimer: NodeJS.Timeout | undefined;

  constructor(options: ClusterNodeOptions) {
    this.options = options;
    this.logger = options.logger;
    this.routes = new RouteTable(options.self, options.sharedStrategy);
    this.mesh = new Mesh({
      self: options.self,
      socketPath: options.socketPath,
      logger: options.logger,
      onFrame: (peer, type, body) => {
        try {
          this.onFrame(peer, type, body);
        } catch (error) {
          // One bad message (or a failing delivery) must not cost the whole connection to that worker.
          this.logger.error({ err: error, peer, type }, 'mesh: frame from a worker could not be handled');
        }
      },
      onPeerUp: (peer) => this.onPeerUp(peer),
      onPeerDown: (peer) => this.onPeerDown(peer),
    });
    this.appliedAcks = new AcknowledgementBatcher((peer, sequence) => this.mesh.send(peer, FrameType.AppliedAck, sequenceBytes(sequence)));
    this.durableAcks = new AcknowledgementBatcher((peer, sequence) => this.mesh.send(peer, FrameType.DurableAck, sequenceBytes(sequence)));
    options.channel.onMessage((message) => this.onPrimaryMessage(message));
  }

  get self(): number {
    return this.options.self;
  }

  /** Connects the node to its broker (created with this node as its cluster). */
  attach(host: ClusterHost): void {
    this.host = host;
  }

  createIndex(options: SubscriptionIndexOptions): SubscriptionIndex {
    this.index = new ObservedSubscriptionIndex(options, (filter, present) => this.localRouteChanged(filter, present));
    return this.index;
  }

  /**
   * Joins the mesh: listens, connects to the workers already listening (each sends its routes),
   * and fetches their retained messages. Called while the store opens, before any listener.
   */
  async join(): Promise<StoredMessage[] | undefined> {
    await this.mesh.listen();
    const peers = await new Promise<Array<{ index: number; socketPath: string }>>((resolve) => {
      this.peersAnswer = resolve;
      this.options.channel.send({ kind: 'mesh-listening', socketPath: this.options.socketPath });
    });
    for (const peer of peers) {
      try {
        await this.mesh.connect(peer.index, peer.socketPath);
      } catch (error) {
        // That worker died meanwhile; it will connect to us when it is back.
        this.logger.warn({ err: error, peer: peer.index }, 'mesh: could not connect to a worker');
      }
    }
    for (const peer of this.mesh.peerIds()) {
      const snapshot = await this.requestSnapshot(peer);
      if (snapshot !== undefined) return snapshot;
    }
    return undefined;
  }

  /** The broker has started (state restored, listening): tell the primary, release what waited. */
  ready(addresses: ListenerAddress[]): void {
    const host = this.requireHost();
    this.started = true;
    for (const body of this.heldRetained) this.applyRetained(body);
    this.heldRetained = [];
    for (const peer of this.heldSnapshotRequests) this.sendSnapshot(peer);
    this.heldSnapshotRequests = [];
    this.options.channel.send({ kind: 'ready', addresses, sessions: [...host.sessions.values()].map((session) => session.clientId) });
  }

  /** Reports this worker's statistics to the others every `intervalMs` (for cluster-wide $SYS). */
  startStatsExchange(intervalMs: number, local: () => BrokerStats): void {
    clearInterval(this.statsTimer);
    this.statsTimer = setInterval(() => this.mesh.broadcast(FrameType.Stats, Buffer.from(JSON.stringify(local()))), intervalMs);
    this.statsTimer.unref();
  }

  clusterStats(local: BrokerStats): BrokerStats {
    return sumStats(local, this.peerStats.values());
  }

  async stop(): Promise<void> {
    clearInterval(this.statsTimer);
    for (const resolve of this.pendingClaims.values()) resolve(undefined);
    this.pendingClaims.clear();
    await this.mesh.close();
  }

  forward(message: RoutedMessage): number {
    const { workers, groups } = this.routes.match(message.stored.topic);
    let deliveries = 0;
    if (workers.length > 0) {
      const body = encodeForwarded({ message: message.stored });
      const durable = this.options.durableForwards === true && message.stored.qos > 0;
      for (const worker of workers) {
        if (message.stored.qos === 0 && this.mesh.bufferedBytes(worker) > meshBacklogLimitBytes) {
          this.requireHost().counters.messagesDropped++;
          continue;
        }
        const sent = durable ? this.sendSequenced(this.durable, worker, FrameType.PublishDurable, body) : this.mesh.send(worker, FrameType.Publish, body);
        if (sent) deliveries++;
      }
    }
    for (const group of groups) {
      if (this.deliverToGroup(group, message, [])) deliveries++;
    }
    return deliveries;
  }

  retainedChanged(message: RoutedMessage): void {
    const body = encodeForwarded({ message: message.stored });
    // Flushed now: the publisher's acknowledgement, written next, must not overtake it.
    for (const peer of this.mesh.peerIds()) this.sendSequenced(this.applied, peer, FrameType.Retain, body, true);
  }

  /** Resolves once every worker knows this worker's routes as they are now (undefined: already so). */
  routesPropagated(): Promise<void> | undefined {
    if (this.pendingRouteOps.length === 0 && !this.applied.pending) return undefined;
    return new Promise((resolve) => {
      const wait = (): void => this.applied.whenConfirmed(() => resolve());
      // Route changes of this tick are sent at its end: wait from there.
      if (this.pendingRouteOps.length > 0) process.nextTick(wait);
      else wait();
    });
  }

  claim(clientId: string, clean: boolean): Promise<void> {
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingClaims.delete(requestId);
        this.logger.warn({ clientId }, 'no answer from the primary to a claim: continuing with the local state');
        resolve();
      }, this.options.claimTimeoutMs ?? 20_000);
      this.pendingClaims.set(requestId, (session) => {
        clearTimeout(timer);
        if (session === undefined) {
          resolve();
          return;
        }
        this.adopt(session);
        // CONNACK once every worker routes the session's subscriptions here.
        const propagated = this.routesPropagated();
        if (propagated === undefined) resolve();
        else void propagated.then(resolve);
      });
      this.options.channel.send({ kind: 'claim', requestId, clientId, clean });
    });
  }

  sessionEnded(clientId: string): void {
    // A clean start ends a session and creates its successor in the same tick: report only a real end.
    process.nextTick(() => {
      if (this.host?.sessions.get(clientId) === undefined) this.options.channel.send({ kind: 'ended', clientId });
    });
  }

  reroute(message: RoutedMessage, group: string, filter: string): boolean {
    const clusterGroup = this.routes.group(group, filter);
    // Never back to this worker (its only candidate is the member that left: the message then
    // stays with it, in order). Other workers' members, online or not, may take it, in one round.
    return clusterGroup !== undefined && this.deliverToGroup(clusterGroup, message, [this.self], true);
  }

  /**
   * Calls back once what this worker sent so far is settled elsewhere: retained changes applied
   * by every worker, and (sync store) forwarded QoS 1/2 messages durable in their receivers'
   * stores; with an error if such a receiver went away first (the publisher must not get its
   * acknowledgement, so it sends the message again).
   */
  whenSettledElsewhere(callback: (error?: Error) => void): void {
    this.applied.whenConfirmed(() => this.durable.whenConfirmed(callback));
  }

  /** Sends a frame whose body is prefixed by the next sequence number of `confirmations` for that peer. */
  private sendSequenced(confirmations: Confirmations, peer: number, type: number, body: Buffer, flush = false): boolean {
    const sequence = confirmations.next(peer);
    const framed = Buffer.allocUnsafe(4 + body.length);
    framed.writeUInt32BE(sequence, 0);
    body.copy(framed, 4);
    if (!this.mesh.send(peer, type, framed, flush)) return false;
    confirmations.record(peer, sequence);
    return true;
  }

  private receiveDurable(peer: number, body: Buffer): void {
    const sequence = body.readUInt32BE(0);
    this.receivePublish(decodeForwarded(body.subarray(4)));
    const whenDurable = this.options.whenLocallyDurable ?? ((callback: (error?: Error) => void) => this.requireHost().store.whenDurable(callback));
    whenDurable((error) => {
      if (error !== undefined) {
        // Not durable here: no acknowledgement; the publisher's wait ends when its worker sees us go.
        this.logger.error({ err: error, peer }, 'store failed on a forwarded message');
        return;
      }
      this.durableAcks.handled(peer, sequence);
    });
  }

  /**
   * Gives a message to one worker with members of the group (by the group's strategy at worker
   * granularity), never one in `tried`; this worker delivers to a local member itself. As in one
   * process, online members come first: a first round looks for a worker with an online member,
   * and only if there is none does a second round accept offline (persistent) members.
   */
  private deliverToGroup(group: SharedGroup, message: RoutedMessage, tried: number[], allowOffline = false): boolean {
    const stored = message.stored;
    const shared = { group: group.name, filter: group.filter };
    for (;;) {
      const picked = group.pick(stored.publisherId, stored.topic, (key) => {
        const worker = Number(key);
        return !tried.includes(worker) && (worker === this.self || this.mesh.hasPeer(worker));
      });
      if (picked === undefined) {
        if (allowOffline) return false;
        allowOffline = true;
        tried = [];
        continue;
      }
      const worker = Number(picked);
      if (worker !== this.self) {
        const body = encodeForwarded({ message: stored, shared, tried, allowOffline });
        const durable = this.options.durableForwards === true && stored.qos > 0;
        if (durable ? this.sendSequenced(this.durable, worker, FrameType.PublishDurable, body) : this.mesh.send(worker, FrameType.Publish, body)) return true;
      } else if (this.deliverToLocalGroup(group.name, group.filter, message, allowOffline)) {
        return true;
      }
      tried = [...tried, worker];
    }
  }

  private deliverToLocalGroup(name: string, filter: string, message: RoutedMessage, allowOffline: boolean): boolean {
    const host = this.requireHost();
    const local = host.router.index.getSharedGroup(name, filter);
    if (local === undefined) return false;
    if (!allowOffline && !someOnline(local, host.sessions)) return false;
    // The router itself prefers an online member when there is one.
    return host.router.deliverToGroup(local, message, undefined);
  }

  private localRouteChanged(filter: string, present: boolean): void {
    if (present) this.routes.add(this.self, filter);
    else this.routes.remove(this.self, filter);
    if (this.pendingRouteOps.length === 0) process.nextTick(() => this.flushRouteOps());
    this.pendingRouteOps.push([filter, present ? 1 : 0]);
  }

  private flushRouteOps(): void {
    const ops = this.pendingRouteOps;
    this.pendingRouteOps = [];
    if (ops.length === 0) return;
    const body = Buffer.from(JSON.stringify({ ops } satisfies RouteUpdate));
    for (const peer of this.mesh.peerIds()) this.sendSequenced(this.applied, peer, FrameType.Routes, body);
  }

  private onPeerUp(peer: number): void {
    this.logger.debug({ peer }, 'mesh: worker connected');
    const ops: Array<[string, 0 | 1]> = [];
    if (this.index !== undefined) for (const filter of this.index.filters()) ops.push([filter, 1]);
    this.sendSequenced(this.applied, peer, FrameType.Routes, Buffer.from(JSON.stringify({ reset: true, ops } satisfies RouteUpdate)));
  }

  private onPeerDown(peer: number): void {
    this.logger.debug({ peer }, 'mesh: worker disconnected');
    this.routes.removeWorker(peer);
    this.peerStats.delete(peer);
    if (this.snapshotWaiter?.peer === peer) this.snapshotWaiter.resolve(undefined);
    // A restarted peer numbers its frames from 1 again.
    this.appliedAcks.peerGone(peer);
    this.durableAcks.peerGone(peer);
    this.applied.peerGone(peer, undefined);
    this.durable.peerGone(peer, new Error(`worker ${peer} went away before making forwarded messages durable`));
  }

  private onFrame(peer: number, type: number, body: Buffer): void {
    switch (type) {
      case FrameType.Routes:
        this.applyRoutes(peer, JSON.parse(body.toString('utf8', 4)) as RouteUpdate);
        this.appliedAcks.handled(peer, body.readUInt32BE(0));
        return;
      case FrameType.Publish:
        this.receivePublish(decodeForwarded(body));
        return;
      case FrameType.PublishDurable:
        this.receiveDurable(peer, body);
        return;
      case FrameType.DurableAck:
        this.durable.acknowledge(peer, body.readUInt32BE(0));
        return;
      case FrameType.AppliedAck:
        this.applied.acknowledge(peer, body.readUInt32BE(0));
        return;
      case FrameType.Stats:
        this.peerStats.set(peer, JSON.parse(body.toString('utf8')) as BrokerStats);
        return;
      case FrameType.Retain:
        // Before start-up ends no client can look, so it is acknowledged at once and applied later.
        if (this.started) this.applyRetained(body.subarray(4));
        else this.heldRetained.push(Buffer.from(body.subarray(4)));
        this.appliedAcks.handled(peer, body.readUInt32BE(0));
        return;
      case FrameType.SnapshotRequest:
        if (this.started) this.sendSnapshot(peer);
        else this.heldSnapshotRequests.push(peer);
        return;
      case FrameType.Snapshot:
        if (this.snapshotWaiter?.peer === peer) this.snapshotWaiter.resolve(decodeSnapshot(body));
        return;
      default:
        this.logger.warn({ peer, type }, 'mesh: unknown frame type ignored');
    }
  }

  private applyRoutes(peer: number, update: RouteUpdate): void {
    if (update.reset === true) this.routes.removeWorker(peer);
    for (const [filter, present] of update.ops) {
      if (present === 1) this.routes.add(peer, filter);
      else this.routes.remove(peer, filter);
    }
  }

  /** A message from another worker: local subscribers only, never forwarded again (except a shared fallback). */
  private receivePublish(forwarded: ForwardedMessage): void {
    const host = this.requireHost();
    const message = new RoutedMessage(forwarded.message);
    const shared = forwarded.shared;
    if (shared === undefined) {
      // Local non-shared subscribers only: the sender already placed the shared groups.
      host.router.publish(message, false);
      return;
    }
    const allowOffline = forwarded.allowOffline === true;
    if (this.deliverToLocalGroup(shared.group, shared.filter, message, allowOffline)) return;
    // No eligible member here (any more): another worker of the group, if one is left.
    const group = this.routes.group(shared.group, shared.filter);
    if (group !== undefined) this.deliverToGroup(group, message, [...(forwarded.tried ?? []), this.self], allowOffline);
  }

  private applyRetained(body: Buffer): void {
    const { message } = decodeForwarded(body);
    const outcome = this.requireHost().retained.retain(new RoutedMessage(message));
    if (outcome === 'limit') this.logger.warn({ topic: message.topic }, 'retained message from another worker over the limit: not retained here');
  }

  private requestSnapshot(peer: number): Promise<StoredMessage[] | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => finish(undefined), this.options.snapshotTimeoutMs ?? 10_000);
      const finish = (messages: StoredMessage[] | undefined): void => {
        clearTimeout(timer);
        if (this.snapshotWaiter?.resolve === finish) this.snapshotWaiter = undefined;
        resolve(messages);
      };
      this.snapshotWaiter = { peer, resolve: finish };
      if (!this.mesh.send(peer, FrameType.SnapshotRequest, Buffer.alloc(0))) finish(undefined);
    });
  }

  private sendSnapshot(peer: number): void {
    const messages: StoredMessage[] = [];
    this.requireHost().retained.match('#', (message) => messages.push(message.stored));
    this.mesh.send(peer, FrameType.Snapshot, encodeSnapshot(messages));
  }

  private onPrimaryMessage(message: PrimaryMessage): void {
    switch (message.kind) {
      case 'mesh-peers':
        this.peersAnswer?.(message.peers);
        this.peersAnswer = undefined;
        return;
      case 'claimed': {
        const resolve = this.pendingClaims.get(message.requestId);
        if (resolve !== undefined) {
          this.pendingClaims.delete(message.requestId);
          resolve(message.session);
        }
        return;
      }
      case 'release':
        this.release(message.requestId, message.clientId, message.clean);
        return;
      case 'discard':
        this.discard(message.clientIds);
        return;
      case 'stop':
      case 'reload':
      case 'management-query':
        // Handled by the worker process (worker.ts, src/management/worker-answers.ts).
        return;
    }
  }

  /** Another worker takes this client id: close its connection, hand the session over, forget it. */
  private release(requestId: number, clientId: string, clean: boolean): void {
    const host = this.requireHost();
    const session = host.sessions.get(clientId);
    let transferred: TransferredSession | undefined;
    if (session !== undefined) {
      if (session.link !== undefined) this.options.takeOver(session.link, clean);
      if (!clean) transferred = serializeSession(session);
      // The client is back (elsewhere): no delayed will, and this worker no longer has the session.
      host.sessions.cancelWill(session);
      host.sessions.end(session);
    }
    this.options.channel.send({ kind: 'released', requestId, session: transferred });
  }

  /** The session arrives from its previous owner: recreate it here before CONNACK. */
  private adopt(transferred: TransferredSession): void {
    const host = this.requireHost();
    const existing = host.sessions.get(transferred.record.clientId);
    if (existing !== undefined && existing.link === undefined) {
      host.sessions.cancelWill(existing);
      host.sessions.end(existing);
    } else if (existing !== undefined) {
      return; // a live local connection holds it: the local takeover applies
    }
    restoreSession({ sessions: host.sessions, index: host.router.index, store: host.store }, transferred);
  }

  /** Recovered sessions that moved to another worker while this one was down. */
  private discard(clientIds: string[]): void {
    const host = this.requireHost();
    for (const clientId of clientIds) {
      const session = host.sessions.get(clientId);
      if (session === undefined || session.link !== undefined) continue;
      host.sessions.cancelWill(session);
      host.sessions.end(session);
    }
    this.logger.info({ sessions: clientIds.length }, 'discarded recovered sessions now owned by another worker');
  }

  private requireHost(): ClusterHost {
    if (this.host === undefined) throw new Error('cluster node used before attach()');
    return this.host;
  }
}

function sequenceBytes(sequence: number): Buffer {
  const bytes = Buffer.allocUnsafe(4);
  bytes.writeUInt32BE(sequence, 0);
  return bytes;
}

function someOnline(group: SharedGroup, sessions: SessionRegistry): boolean {
  for (const clientId of group.members.keys()) {
    if (sessions.get(clientId)?.isOnline() === true) return true;
  }
  return false;
}
