// The broker's Prometheus metrics. Every metric reads live values in its collect() callback at
// scrape time: nothing is added to the publish path beyond the plain counters the broker keeps
// for $SYS anyway (src/broker/counters.ts).
//
// In multi-process mode each worker has these metrics in its own registry and the primary merges
// them (cluster-metrics.ts) with each metric's `aggregator`: a worker's clients, sessions,
// subscriptions, traffic and store are its own, so they are summed; retained messages are
// replicated on every worker, so the maximum is taken (not a sum that counts each one N times);
// store writability is the minimum (0 as soon as one worker's store refuses writes).

import { Counter, Gauge, type Registry } from 'prom-client';
import type { BrokerStats } from '../broker/broker.js';
import type { Counters } from '../broker/counters.js';
import { brokerVersion } from '../broker/package-version.js';
import type { DropReason } from '../hooks/hooks.js';
import type { Store } from '../store/store.js';

/** What the metrics read: the Broker satisfies it. */
export interface MetricsSource {
  stats(): BrokerStats;
  readonly counters: Counters;
  readonly store: Store;
}

// A Record (not an array) so that a new DropReason fails to compile until it is listed here.
const dropReasons: Record<DropReason, true> = {
  'queue-full': true,
  'qos0-backpressure': true,
  expired: true,
  'packet-too-large': true,
  'not-authorized': true,
  'no-subscribers': true,
};
/** Drops without a session-level reason: refused publishes, QoS 0 shed on a congested worker link. */
const otherDropReason = 'other';

type Aggregator = 'sum' | 'max' | 'min' | 'first';

interface GaugeDefinition {
  name: string;
  help: string;
  aggregator: Aggregator;
  read(source: MetricsSource): number;
}

const gauges: GaugeDefinition[] = [
  {
    name: 'petrel_clients_connected',
    help: 'MQTT clients connected (CONNACK sent, not yet disconnected)',
    aggregator: 'sum',
    read: (source) => source.stats().clientsConnected,
  },
  {
    name: 'petrel_connections_open',
    help: 'Open network connections, including those that have not sent CONNECT yet',
    aggregator: 'sum',
    read: (source) => source.stats().connectionsOpen,
  },
  {
    name: 'petrel_sessions',
    help: 'Sessions held: connected clients plus persistent sessions of disconnected clients',
    aggregator: 'sum',
    read: (source) => source.stats().clientsTotal,
  },
  {
    name: 'petrel_subscriptions',
    help: 'Subscriptions of all sessions (shared subscriptions included)',
    aggregator: 'sum',
    read: (source) => source.stats().subscriptionsCount,
  },
  {
    name: 'petrel_retained_messages',
    help: 'Retained messages held',
    // Every worker holds every retained message.
    aggregator: 'max',
    read: (source) => source.stats().retainedCount,
  },
  {
    name: 'petrel_retained_bytes',
    help: 'Bytes of the retained messages held (topic and payload, as counted against limits.maxRetainedBytes)',
    aggregator: 'max',
    read: (source) => source.stats().retainedBytes,
  },
  {
    name: 'petrel_store_disk_bytes',
    help: 'Bytes used by the store data directory (0 with storage.mode memory); refreshed every few seconds',
    // Each worker has its own directory (<dataDir>/worker-<i>).
    aggregator: 'sum',
    read: (source) => source.store.stats().diskBytes,
  },
  {
    name: 'petrel_store_pending_writes',
    help: 'Store mutations issued but not yet committed to disk',
    aggregator: 'sum',
    read: (source) => source.store.stats().pendingWrites,
  },
  {
    name: 'petrel_store_writable',
    help: '1 while the store accepts writes, 0 after a write error (disk full...) until writes succeed again',
    aggregator: 'min',
    read: (source) => (source.store.writable ? 1 : 0),
  },
];

interface CounterDefinition {
  name: string;
  help: string;
  read(counters: Counters): number;
}

const counters: CounterDefinition[] = [
  {
    name: 'petrel_messages_received_total',
    help: 'PUBLISH packets received from clients',
    read: (values) => values.messagesReceived,
  },
  {
    name: 'petrel_messages_sent_total',
    help: 'PUBLISH packets sent to clients',
    read: (values) => values.messagesSent,
  },
  {
    name: 'petrel_bytes_received_total',
    help: 'Bytes received from clients (all packets, all listeners)',
    read: (values) => values.bytesReceived,
  },
  {
    name: 'petrel_bytes_sent_total',
    help: 'Bytes sent to clients (all packets, all listeners)',
    read: (values) => values.bytesSent,
  },
  {
    name: 'petrel_connections_accepted_total',
    help: 'Network connections accepted',
    read: (values) => values.connectionsAccepted,
  },
];

/** Registers the broker's metrics (names prefixed petrel_) on `registry`. */
export function registerBrokerMetrics(registry: Registry, source: MetricsSource): void {
  for (const definition of gauges) {
    new Gauge({
      name: definition.name,
      help: definition.help,
      registers: [registry],
      aggregator: definition.aggregator,
      collect() {
        this.set(definition.read(source));
      },
    });
  }
  for (const definition of counters) {
    new Counter({
      name: definition.name,
      help: definition.help,
      registers: [registry],
      // The broker's counter is the truth: the metric is reset and set to it at each scrape.
      collect() {
        this.reset();
        this.inc(definition.read(source.counters));
      },
    });
  }
  new Counter({
    name: 'petrel_messages_dropped_total',
    help: 'Messages not delivered, by reason (other: publishes the broker refused, QoS 0 messages shed on a congested worker link)',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      this.reset();
      const values = source.counters;
      let withReason = 0;
      for (const reason of Object.keys(dropReasons) as DropReason[]) {
        const count = values.droppedByReason.get(reason) ?? 0;
        withReason += count;
        this.inc({ reason }, count);
      }
      this.inc({ reason: otherDropReason }, Math.max(0, values.messagesDropped - withReason));
    },
  });
  new Gauge({
    name: 'petrel_info',
    help: 'Always 1; the labels say which Petrel this is',
    labelNames: ['version', 'store_mode'],
    registers: [registry],
    aggregator: 'first',
    collect() {
      this.reset();
      this.set({ version: brokerVersion, store_mode: source.store.mode }, 1);
    },
  });
}
