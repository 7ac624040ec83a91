// Options and results shared by every traffic scenario (pub, sub, fanin, fanout, p2p, latency).
import type { QoS } from '../protocol/packets.js';
import type { ReasonCounts } from './bench-error.js';
import type { LatencySummary } from './latency.js';
import type { RunQueueWait } from './run-queue.js';

export interface TrafficOptions {
  host: string;
  port: number;
  protocolVersion: 4 | 5;
  qos: QoS;
  /** Payload bytes per message (at least 20: publisher id, sequence, timestamp). */
  size: number;
  /** Total messages per second over all publishers; 0 = as fast as the broker takes them. */
  rate: number;
  /** Unacknowledged QoS 1/2 messages allowed per publisher. */
  inflight: number;
  /**
   * Combined scenarios: deliveries allowed on their way at once, shared evenly between
   * publishers; a publisher whose share is in flight pauses (0 = never pause: a pure flood).
   */
  maxBacklog: number;
  durationSeconds: number;
  /**
   * Publish this long before the timed part of the run: messages sent (paced runs: due) meanwhile
   * are delivered and counted but left out of the latency figures, so JIT compilation and heap
   * growth in a freshly started broker and generator are not reported as steady-state latency.
   */
  warmupSeconds: number;
  username?: string;
  password?: string;
  keepalive: number;
  /** Client ids are `<prefix>-<role>-<index>`; unique per run by default so runs never take over each other's sessions. */
  clientIdPrefix: string;
  /** Index of the first client (for %i, client ids and publisher ids), to run several generators side by side. */
  startIndex: number;
  /** Source addresses to spread connections over; empty = let the kernel choose. */
  localAddresses: string[];
  connectTimeoutMs: number;
  /** Connections being opened at the same time. */
  connectConcurrency: number;
  /** After sending stops, wait at most this long for outstanding deliveries and acknowledgements. */
  drainSeconds: number;
  /** Broker process ids: their CPU use and memory go into the summary. */
  brokerPids: number[];
  /**
   * Subscribers connect with persistent sessions (clean session 0 / clean start 0 with a Session
   * Expiry Interval of 1 hour), so a durable broker stores what it queues for them.
   */
  persistentSubscribers: boolean;
  onProgress?: (progress: TrafficProgress) => void;
  /** Stops the run early (Ctrl-C); the summary covers what was done. */
  signal?: AbortSignal;
}

export const trafficDefaults: TrafficOptions = {
  host: '127.0.0.1',
  port: 1883,
  protocolVersion: 4,
  qos: 0,
  size: 64,
  rate: 0,
  inflight: 100,
  maxBacklog: 10_000,
  durationSeconds: 10,
  warmupSeconds: 0,
  keepalive: 60,
  clientIdPrefix: `petrel-bench-${process.pid}`,
  startIndex: 0,
  localAddresses: [],
  connectTimeoutMs: 10_000,
  connectConcurrency: 200,
  drainSeconds: 5,
  brokerPids: [],
  persistentSubscribers: false,
};

export interface TrafficProgress {
  elapsedSeconds: number;
  connected: number;
  sent: number;
  delivered: number;
  sentPerSecond: number;
  deliveredPerSecond: number;
  inflight: number;
  errors: number;
}

export interface TrafficSummary {
  scenario: string;
  target: { host: string; port: number };
  settings: {
    protocolVersion: 4 | 5;
    qos: QoS;
    payloadSize: number;
    publishers: number;
    subscribers: number;
    topic: string;
    rate: number;
    /** The in-flight window used: --inflight, lowered to the broker's MQTT 5 Receive Maximum. */
    inflight: number;
    maxBacklog: number;
    durationSeconds: number;
    warmupSeconds: number;
  };
  connections: { attempted: number; connected: number; connectSeconds: number };
  messages: {
    sent: number;
    /** QoS 1/2 flows completed (PUBACK / PUBCOMP received). */
    acknowledged: number;
    delivered: number;
    /** Deliveries the subscribers should have seen, when the scenario knows who receives what. */
    expectedDeliveries: number | null;
    lost: number;
    outOfOrder: number;
    /** Messages without this tool's payload header (not tracked). */
    foreign: number;
  };
  throughput: {
    /** Time publishers were sending (warm-up included, as are the counts and rates). */
    sendSeconds: number;
    sentPerSecond: number;
    /** From the start of sending (a lone `sub` run: the first delivery) to the last delivery. */
    deliverySeconds: number;
    deliveredPerSecond: number;
  };
  /**
   * Receipt time minus the send time stamped into the payload, read from the clock just before
   * the socket write of the message's batch. A send the generator made late is not counted.
   */
  latency: LatencySummary;
  /**
   * Paced runs: receipt time minus when the fixed-rate schedule made the message due, so a late
   * send (timer granularity, a generator stall) counts too: the measure corrected for coordinated
   * omission. Null for unpaced runs.
   */
  latencyFromSchedule: LatencySummary | null;
  errors: { total: number; reasons: ReasonCounts };
  /**
   * This process: percent of one core while sending, resident memory at the end and, over the
   * timed part of the run (after any warm-up), how far event-loop turns overran a 1 ms timer and
   * how long its main thread waited for a CPU (null where /proc/<pid>/schedstat is missing).
   */
  generator: {
    cpuPercent: number;
    rssBytes: number;
    eventLoopStallMs: { p50: number; p99: number; max: number };
    runQueueWait: RunQueueWait | null;
  };
  broker: { pids: number[]; cpuPercent: number; rssBytes: number; runQueueWait: RunQueueWait | null } | null;
}
