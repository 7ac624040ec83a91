// The broker: owns the listeners, connections, sessions, router and store, and ties
// them together. See docs/architecture-core.md for how a PUBLISH flows.

import type { Duplex } from 'node:stream';
import { pino, type Logger } from 'pino';
import type { PetrelConfig } from '../config/schema.js';
import { Connection, type ConnectionMeta } from '../connection/connection.js';
import type { ClientInfo, EnhancedAuthProvider, Hooks } from '../hooks/hooks.js';
import type { PublishPacket, WillMessage } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { builtInListenerTypes } from '../listeners/listener-types.js';
import { listenerName, type Listener, type ListenerFactory } from '../listeners/listener.js';
import { RetainedMessages } from '../router/retained-messages.js';
import { RoutedMessage } from '../router/routed-message.js';
import { Router } from '../router/router.js';
import type { SessionContext } from '../session/session-context.js';
import { NEVER_EXPIRES } from '../session/session.js';
import { SessionRegistry } from '../session/session-registry.js';
import { MemoryStore } from '../store/memory-store.js';
import type { RecoveredState, Store, StoredMessage } from '../store/store.js';
import { SysPublisher } from '../sys/sys-topics.js';
import { SubscriptionIndex } from '../topics/subscription-index.js';
import { AckBatcher } from './ack-batcher.js';
import type { BrokerContext } from './broker-context.js';
import { Counters } from './counters.js';
import { HookRunner } from './hook-runner.js';
import type { BrokerCluster } from '../cluster/broker-cluster.js';
import { brokerVersion } from './package-version.js';

export interface BrokerOptions {
  logger?: Logger;
  hooks?: Hooks[];
  store?: Store;
  enhancedAuth?: EnhancedAuthProvider[];
  /** Multi-process mode: routes, retained messages and client ids shared with the other workers. */
  cluster?: BrokerCluster;
}

export interface BrokerStats {
  clientsConnected: number;
  /** Sessions without a connection (persistent sessions of offline clients). */
  clientsDisconnected: number;
  /** Every session, online or not. */
  clientsTotal: number;
  connectionsOpen: number;
  messagesReceived: number;
  messagesSent: number;
  messagesDropped: number;
  bytesReceived: number;
  bytesSent: number;
  subscriptionsCount: number;
  retainedCount: number;
  retainedBytes: number;
  uptimeSeconds: number;
}


const listenerFactories = new Map<string, ListenerFactory>(builtInListenerTypes);

export class Broker implements BrokerContext {
  /** Makes a listener type (tls, ws, wss...) available to every broker. */
  static registerListenerType(type: string, factory: ListenerFactory): void {
    listenerFactories.set(type, factory);
  }

  readonly config: PetrelConfig;
  readonly logger: Logger;
  readonly store: Store;
  readonly hooks: HookRunner;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  readonly retained: RetainedMessages;
  readonly counters = new Counters();
  readonly acks: AckBatcher;
  readonly enhancedAuth: Map<string, EnhancedAuthProvider>;
  readonly connections = new Set<Connection>();
  readonly addresses: Array<{ name: string; type: string; host: string; port: number }> = [];
  readonly cluster: BrokerCluster | undefined;
  stopping = false;

  /** Every open socket, connected or not (to close them on stop). */
  private readonly sockets = new Set<Connection>();
  private readonly listeners: Listener[] = [];
  private readonly sys: SysPublisher;
  private startedAt = Date.now();

  constructor(config: PetrelConfig, options: BrokerOptions = {}) {
    this.config = config;
    this.logger = options.logger ?? pino({ level: 'silent' });
    this.store = options.store ?? new MemoryStore();
    this.hooks = new HookRunner(this.logger, options.hooks ?? []);
    this.enhancedAuth = new Map((options.enhancedAuth ?? []).map((provider) => [provider.method, provider]));
    this.acks = new AckBatcher(this.store);
    this.cluster = options.cluster;
    const indexOptions = { sharedStrategy: config.mqtt.sharedSubscriptionStrategy };
    const index = this.cluster?.createIndex(indexOptions) ?? new SubscriptionIndex(indexOptions);
    this.retained = new RetainedMessages(this.store, config.limits);
    const sessionContext: SessionContext = {
      store: this.store,
      maxQueuedMessages: config.limits.maxQueuedMessages,
      queueQoS0: config.mqtt.queueQoS0,
      onDropped: (clientId, packet, reason) => {
        this.counters.countDropped(reason);
        (this.sessions.get(clientId)?.link as Connection | undefined)?.countDropped(reason);
        if (this.hooks.wantsDropped) this.hooks.dropped(clientId, packet(), reason);
      },
      onDelivered: (client, packet) => {
        if (this.hooks.wantsDelivered) this.hooks.delivered(client, packet());
      },
      afterDurable: (send) => {
        this.acks.addCommitted({ send, fail: (error) => this.logger.error({ err: error }, 'store write failed: delivery step postponed to the next session resume') });
      },
    };
    this.sessions = new SessionRegistry({
      context: sessionContext,
      index,
      store: this.store,
      publishWill: (clientId, will) => this.publishWill(clientId, will),
      onEnded: (session) => this.cluster?.sessionEnded(session.clientId),
    });
    this.router = new Router({ index, resolve: (clientId) => this.sessions.get(clientId) });
    this.sys = new SysPublisher(
      config.mqtt.sysInterval,
      // In multi-process mode $SYS shows cluster totals.
      () => ({ ...(this.cluster?.clusterStats(this.stats()) ?? this.stats()), version: brokerVersion }),
      (message) => {
        this.publish(message, undefined);
      },
    );
  }

  addHooks(hooks: Hooks): void {
    this.hooks.add(hooks);
  }

  async start(): Promise<void> {
    this.startedAt = Date.now();
    const recovered = await this.store.open();
    this.restore(recovered);
    try {
      for (const listenerConfig of this.config.listeners) {
        const factory = listenerFactories.get(listenerConfig.type);
        if (factory === undefined) throw new Error(`listener type "${listenerConfig.type}" is not available in this build`);
        const name = listenerName(listenerConfig);
        const listener = factory(listenerConfig, name, (stream, meta) => this.handleConnection(stream, meta), { logger: this.logger, limits: this.config.limits });
        const address = await listener.start();
        this.listeners.push(listener);
        this.addresses.push({ name, type: listener.type, host: address.host, port: address.port });
        this.logger.info({ listener: name, host: address.host, port: address.port }, `listening on ${listener.type}://${address.host}:${address.port}`);
      }
    } catch (error) {
      await Promise.all(this.listeners.map((listener) => listener.stop()));
      this.listeners.length = 0;
      await this.store.close();
      throw error;
    }
    this.sys.start();
  }

  /** Graceful stop: stop accepting, DISCONNECT 0x8B to 5.0 clients, flush, close the store. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    this.sys.stop();
    await Promise.all(this.listeners.map((listener) => listener.stop()));
    const closed: Array<Promise<void>> = [];
    for (const connection of this.sockets) {
      closed.push(new Promise((resolve) => connection.socket.once('close', () => resolve())));
      // A shutdown is not the client's failure: no will is published for it.
      connection.will = undefined;
      if (connection.state === 'connected') connection.disconnect(ReasonCode.ServerShuttingDown);
      else connection.destroy();
    }
    const timeout = new Promise<void>((resolve) => setTimeout(resolve, 2000).unref());
    await Promise.race([Promise.all(closed), timeout]);
    for (const connection of this.sockets) connection.destroy();
    this.sessions.stopTimers();
    this.acks.flush();
    await new Promise<void>((resolve) => this.store.whenDurable(() => resolve()));
    await this.store.close();
    this.logger.info('broker stopped');
  }

  handleConnection(stream: Duplex, meta: ConnectionMeta): void {
    if (this.stopping) {
      stream.destroy();
      return;
    }
    this.counters.connectionsAccepted++;
    // The connection tells socketClosed() when its stream closes: no listener of our own per socket.
    this.sockets.add(new Connection(this, stream, meta));
  }

  socketClosed(connection: Connection): void {
    this.sockets.delete(connection);
  }

  allowAnonymous(listener: string): boolean {
    const config = this.config.listeners.find((candidate) => listenerName(candidate) === listener);
    return config?.allowAnonymous ?? this.config.auth.anonymous;
  }

  publish(stored: StoredMessage, publisher: ClientInfo | undefined): number {
    const message = new RoutedMessage(stored);
    if (stored.retain && this.config.mqtt.retainAvailable) {
      // $SYS values are rebuilt at start-up (and per worker): not worth a disk write every interval.
      const shared = publisher !== undefined || !stored.topic.startsWith('$SYS/');
      const outcome = this.retained.retain(message, shared);
      if (outcome === 'limit') this.logger.warn({ topic: stored.topic }, 'retained message limit reached: not retained');
      else if (shared) this.cluster?.retainedChanged(message);
    }
    // In multi-process mode shared groups are chosen cluster-wide by the cluster.
    let deliveries = this.router.publish(message, this.cluster === undefined);
    if (this.cluster !== undefined) deliveries += this.cluster.forward(message);
    if (this.hooks.hasPublishedListener) this.hooks.published(publisher, toPacket(stored));
    return deliveries;
  }

  publishWill(clientId: string, will: WillMessage): void {
    const now = Date.now();
    let properties = will.properties;
    let expiresAt: number | undefined;
    if (properties !== undefined) {
      const { willDelayInterval: _delay, messageExpiryInterval, ...rest } = properties;
      if (messageExpiryInterval !== undefined) expiresAt = now + messageExpiryInterval * 1000;
      properties = rest;
    }
    this.logger.debug({ clientId, topic: will.topic }, 'publishing will');
    this.publish({ topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties, receivedAt: now, expiresAt, publisherId: clientId }, undefined);
  }

  connectionLost(connection: Connection, will: WillMessage | undefined): void {
    const session = connection.session!;
    connection.session = undefined;
    if (session.link !== connection) return;
    const moved = session.detach();
    // Shared-subscription messages go to another member; with none left they stay here.
    const stranded = moved.filter((entry) => !this.reroute(entry.message, entry.sharedFilter!, session.clientId));
    if (stranded.length > 0) session.putBack(stranded);
    if (will !== undefined) {
      const delay = will.properties?.willDelayInterval ?? 0;
      // [MQTT-3.1.3-9] the will waits for its delay, or the end of the session if that comes first
      if (delay > 0 && session.expiryInterval > 0) this.sessions.scheduleWill(session, will, Math.min(delay, session.expiryInterval));
      else this.publishWill(session.clientId, will);
    }
    session.persist();
    this.sessions.scheduleExpiry(session);
  }

  reroute(message: RoutedMessage, sharedFilter: string, excludeClientId: string): boolean {
    const withoutPrefix = sharedFilter.slice('$share/'.length);
    const slash = withoutPrefix.indexOf('/');
    const groupName = withoutPrefix.slice(0, slash);
    const filter = withoutPrefix.slice(slash + 1);
    const group = this.router.index.getSharedGroup(groupName, filter);
    if (group !== undefined && this.router.deliverToGroup(group, message, excludeClientId)) return true;
    return this.cluster?.reroute(message, groupName, filter) ?? false;
  }

  stats(): BrokerStats {
    const clientsTotal = this.sessions.size;
    return {
      clientsConnected: this.connections.size,
      clientsDisconnected: Math.max(0, clientsTotal - this.connections.size),
      clientsTotal,
      connectionsOpen: this.sockets.size,
      messagesReceived: this.counters.messagesReceived,
      messagesSent: this.counters.messagesSent,
      messagesDropped: this.counters.messagesDropped,
      bytesReceived: this.counters.bytesReceived,
      bytesSent: this.counters.bytesSent,
      subscriptionsCount: this.router.index.subscriptionCount,
      retainedCount: this.retained.count,
      retainedBytes: this.retained.totalBytes,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
    };
  }

  /** Rebuilds sessions, queues, QoS 2 state, retained messages and delayed wills from the store. */
  private restore(recovered: RecoveredState): void {
    const now = Date.now();
    for (const record of recovered.sessions) {
      const disconnectedAt = record.disconnectedAt ?? now;
      if (record.expiryInterval !== NEVER_EXPIRES && disconnectedAt + record.expiryInterval * 1000 <= now) {
        this.store.deleteSession(record.clientId); // expired while the broker was down
        continue;
      }
      const session = this.sessions.create(record.clientId, record.protocolVersion, record.expiryInterval);
      session.disconnectedAt = disconnectedAt;
      for (const subscription of record.subscriptions) {
        session.subscriptions.set(subscription.topicFilter, subscription);
        this.router.index.subscribe(record.clientId, subscription.topicFilter, subscription);
      }
      session.restoreOutgoing(recovered.outgoing.get(record.clientId) ?? []);
      for (const packetId of recovered.incomingQoS2.get(record.clientId) ?? []) session.incomingQoS2.add(packetId);
      this.sessions.scheduleExpiry(session);
    }
    for (const stored of recovered.retained) {
      const message = new RoutedMessage(stored);
      if (message.isExpired(now)) this.store.putRetained(stored.topic, undefined);
      else this.retained.restore(message);
    }
    for (const delayed of recovered.delayedWills) {
      const session = this.sessions.get(delayed.clientId);
      if (session === undefined || delayed.fireAt <= now) {
        this.store.deleteDelayedWill(delayed.clientId);
        this.publishWill(delayed.clientId, delayed.will);
      } else {
        this.sessions.scheduleWill(session, delayed.will, 0, delayed.fireAt);
      }
    }
    if (recovered.sessions.length > 0 || recovered.retained.length > 0) {
      this.logger.info({ sessions: this.sessions.size, retained: this.retained.count }, 'state recovered from the store');
    }
  }
}

function toPacket(stored: StoredMessage): PublishPacket {
  return { type: 'publish', topic: stored.topic, payload: stored.payload, qos: stored.qos, retain: stored.retain, dup: false, properties: stored.properties };
}
