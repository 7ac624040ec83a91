// Runs one traffic plan: connect subscribers, then publishers, send for the
// duration (paced or flat out), drain, disconnect, and summarise.
import { countReason, errorReason, type ReasonCounts, BenchError } from './bench-error.js';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { processCpuSeconds, totalRssBytes } from './broker-memory.js';
import { BenchClient, type ClientOptions } from './client.js';
import { delay, mapWithConcurrency } from './concurrency.js';
import { KeepaliveSweeper } from './keepalive.js';
import { DeliveryBacklog } from './delivery-backlog.js';
import { LatencyRecorder } from './latency.js';
import { isBenchPayload, nowMicros, payloadPublisher, payloadSequence, payloadTime } from './payload.js';
import { Publisher } from './publisher.js';
import { readScheduler, runQueueWait, type SchedulerSample } from './run-queue.js';
import { SequenceTracker } from './sequence-tracker.js';
import type { TrafficOptions, TrafficSummary } from './traffic-types.js';

export interface TrafficPlan {
  scenario: string;
  /** The topic pattern the user gave (reported in the summary). */
  topicPattern: string;
  publishers: { topic: string }[];
  /**
   * Each subscriber's filter and the publishers (indices into `publishers`) it
   * must receive every message from; null when unknown (e.g. a lone `sub` run).
   */
  subscribers: { filter: string; expectFrom: number[] | null }[];
}

interface SubscriberState {
  client: BenchClient;
  tracker: SequenceTracker;
  expectFrom: number[] | null;
}

interface PublisherDriver {
  index: number;
  publisher: Publisher;
  scheduled: boolean;
  waitingForDrain: boolean;
}

// Flat-out sending yields to the event loop after this many batches so subscribers get to read.
const BATCHES_PER_TURN = 8;
const STALL_MS = 1000;
// Sampling interval of the generator's event-loop monitor: a turn longer than this is a stall.
const LOOP_MONITOR_MS = 1;

function clientOptions(options: TrafficOptions, clientId: string, index: number, persistent = false): ClientOptions {
  const addresses = options.localAddresses;
  return {
    host: options.host,
    port: options.port,
    protocolVersion: options.protocolVersion,
    clientId,
    keepalive: options.keepalive,
    clean: !persistent,
    ...(persistent ? { sessionExpiry: 3600 } : {}),
    connectTimeoutMs: options.connectTimeoutMs,
    ...(options.username === undefined ? {} : { username: options.username }),
    ...(options.password === undefined ? {} : { password: options.password }),
    ...(addresses.length === 0 ? {} : { localAddress: addresses[index % addresses.length] as string }),
  };
}

async function brokerCpu(pids: number[]): Promise<number> {
  const values = await Promise.all(pids.map((pid) => processCpuSeconds(pid)));
  return values.reduce((sum, value) => sum + value, 0);
}

function schedulerSamples(pids: readonly number[]): Promise<(SchedulerSample | null)[]> {
  return Promise.all(pids.map((pid) => readScheduler(pid)));
}

export async function runTraffic(plan: TrafficPlan, options: TrafficOptions): Promise<TrafficSummary> {
  const latency = new LatencyRecorder();
  // Paced runs also time each message from when the schedule said to send it, so a late send
  // (a generator stall, a coarse timer) counts as latency instead of being hidden (coordinated omission).
  const paced = options.rate > 0 && plan.publishers.length > 0;
  const scheduleLatency = paced ? new LatencyRecorder() : undefined;
  let scheduleStartMicros = 0;
  const microsPerMessage = paced ? (1e6 * plan.publishers.length) / options.rate : 0;
  // Messages sent (paced: due) before this time are the warm-up: delivered and counted, not timed.
  let measureFromMicros = 0;
  const errors: ReasonCounts = {};
  let errorTotal = 0;
  let delivered = 0;
  let foreign = 0;
  let firstDeliveryAt = 0;
  let lastDeliveryAt = 0;
  const subscribers: SubscriberState[] = [];
  const drivers: PublisherDriver[] = [];
  const allClients: BenchClient[] = [];
  const countFromZero = plan.publishers.length > 0;

  const publisherCount = plan.publishers.length;
  const receivers = new Array<number>(publisherCount).fill(0);
  for (const subscriber of plan.subscribers) for (const index of subscriber.expectFrom ?? []) receivers[index] = (receivers[index] as number) + 1;
  // Flow control needs to know who receives what; a lone `sub` or `pub` run has no backlog limit.
  const backlog = new DeliveryBacklog(receivers, plan.subscribers.length > 0 && plan.subscribers.every((subscriber) => subscriber.expectFrom !== null) ? options.maxBacklog : 0);
  let resume: (index: number) => void = () => undefined;
  let sentBy: (index: number) => number = () => 0;

  const onClose = (reason: string | undefined): void => {
    if (reason === undefined) return;
    errorTotal++;
    countReason(errors, reason);
  };

  const connectStartedAt = performance.now();
  const connectFailures: ReasonCounts = {};
  const attempted = plan.subscribers.length + plan.publishers.length;

  const subscriberResults = await mapWithConcurrency(plan.subscribers.length, options.connectConcurrency, async (index) => {
    const spec = plan.subscribers[index] as TrafficPlan['subscribers'][number];
    const tracker = new SequenceTracker(countFromZero);
    const client = await BenchClient.connect(
      clientOptions(options, `${options.clientIdPrefix}-sub-${options.startIndex + index}`, index, options.persistentSubscribers),
      {
        onPublish: (packet, receivedAt) => {
          delivered++;
          const payload = packet.payload;
          if (isBenchPayload(payload)) {
            const publisherId = payloadPublisher(payload);
            tracker.record(publisherId, payloadSequence(payload));
            const publisherIndex = publisherId - options.startIndex;
            if (publisherIndex >= 0 && publisherIndex < publisherCount) {
              if (backlog.recordDelivery(publisherIndex, sentBy(publisherIndex))) resume(publisherIndex);
            }
            const sentAt = payloadTime(payload);
            // The pacer sends message n (from 0) once (n + 1) messages are due.
            const dueAt =
              scheduleLatency !== undefined && publisherIndex >= 0 && publisherIndex < publisherCount
                ? scheduleStartMicros + (payloadSequence(payload) + 1) * microsPerMessage
                : sentAt;
            if (dueAt >= measureFromMicros) {
              latency.record(receivedAt - sentAt);
              scheduleLatency?.record(receivedAt - dueAt);
            }
            if (firstDeliveryAt === 0) firstDeliveryAt = receivedAt;
            lastDeliveryAt = receivedAt;
          } else {
            foreign++;
          }
        },
        onClose,
      },
    );
    allClients.push(client);
    const codes = await client.subscribe([spec.filter], options.qos);
    if (codes.some((code) => code >= 0x80)) {
      throw new BenchError(`suback-0x${(codes[0] as number).toString(16)}`, `subscription to '${spec.filter}' refused`);
    }
    const state: SubscriberState = { client, tracker, expectFrom: spec.expectFrom };
    subscribers.push(state);
    return state;
  });

  const publisherResults = await mapWithConcurrency(plan.publishers.length, options.connectConcurrency, async (index) => {
    const spec = plan.publishers[index] as TrafficPlan['publishers'][number];
    const publisherId = options.startIndex + index;
    // Acknowledgements can only arrive after the first PUBLISH, by which time the publisher exists.
    const owner: { publisher?: Publisher } = {};
    const client = await BenchClient.connect(
      clientOptions(options, `${options.clientIdPrefix}-pub-${publisherId}`, plan.subscribers.length + index),
      { onAck: (packetId) => owner.publisher?.acknowledge(packetId), onClose },
    );
    allClients.push(client);
    const publisher = new Publisher(client, {
      topic: spec.topic,
      qos: options.qos,
      size: options.size,
      publisherId,
      inflight: options.inflight,
    });
    owner.publisher = publisher;
    return publisher;
  });
  const publishers: Publisher[] = [];
  for (const result of [...subscriberResults, ...publisherResults]) {
    if (result.status === 'rejected') countReason(connectFailures, errorReason(result.reason));
  }
  for (const result of publisherResults) if (result.status === 'fulfilled') publishers.push(result.value);
  const connectSeconds = (performance.now() - connectStartedAt) / 1000;

  if (Object.keys(connectFailures).length > 0) {
    await Promise.all(allClients.map((client) => client.close()));
    latency.destroy();
    const reasons = Object.entries(connectFailures)
      .map(([reason, count]) => `${reason} x${count}`)
      .join(', ');
    throw new BenchError('connect-failed', `could not set up all ${attempted} clients: ${reasons}`);
  }

  const keepalive = new KeepaliveSweeper(allClients, options.keepalive);
  let running = true;
  const brokerCpuStart = options.brokerPids.length > 0 ? await brokerCpu(options.brokerPids) : 0;
  const cpuStart = process.cpuUsage();
  const startedAt = performance.now();
  const startedAtMicros = (performance.timeOrigin + startedAt) * 1000;
  scheduleStartMicros = startedAtMicros;
  measureFromMicros = startedAtMicros + options.warmupSeconds * 1e6;

  // Flat-out sending: each publisher writes batches until the socket pushes back
  // or the in-flight window is full, then waits for 'drain' or an acknowledgement.
  const pump = (driver: PublisherDriver): void => {
    driver.scheduled = false;
    if (!running) return;
    const publisher = driver.publisher;
    const time = nowMicros();
    for (let batch = 0; batch < BATCHES_PER_TURN; batch++) {
      if (!publisher.writable) {
        if (!driver.waitingForDrain && !publisher.client.closed) {
          driver.waitingForDrain = true;
          publisher.client.socket.once('drain', () => {
            driver.waitingForDrain = false;
            schedule(driver);
          });
        }
        return;
      }
      let count = publisher.maxBatch;
      if (backlog.enabled) {
        const allowed = backlog.allowance(driver.index, publisher.sent);
        if (allowed <= 0) {
          backlog.wait(driver.index, performance.now()); // the next delivery from this publisher reschedules
          return;
        }
        if (allowed < count) count = allowed;
      }
      if (publisher.send(count, time) === 0) return; // window full: the next ack reschedules
    }
    schedule(driver);
  };
  const schedule = (driver: PublisherDriver): void => {
    if (driver.scheduled || !running) return;
    driver.scheduled = true;
    setImmediate(pump, driver);
  };

  publishers.forEach((publisher, index) => {
    const driver: PublisherDriver = { index, publisher, scheduled: false, waitingForDrain: false };
    drivers.push(driver);
    if (options.rate === 0) publisher.onWindowOpen = () => schedule(driver);
  });
  sentBy = (index) => (drivers[index] as PublisherDriver).publisher.sent;
  resume = (index) => {
    if (options.rate === 0) schedule(drivers[index] as PublisherDriver);
  };
  // Messages the broker dropped never arrive: a publisher waiting this long writes its backlog off and goes on.
  const backlogWatch = setInterval(() => {
    for (const index of backlog.writeOffStalled(performance.now(), STALL_MS, sentBy)) resume(index);
  }, 100);

  let pacer: NodeJS.Timeout | undefined;
  if (options.rate > 0 && publishers.length > 0) {
    // Paced sending: every tick each publisher catches up with its share of the rate.
    const perPublisherPerMs = options.rate / publishers.length / 1000;
    const tickMs = publishers.length <= 100 ? 1 : 10;
    pacer = setInterval(() => {
      const due = (performance.now() - startedAt) * perPublisherPerMs;
      const time = nowMicros();
      for (let index = 0; index < publishers.length; index++) {
        const publisher = publishers[index] as Publisher;
        let owed = Math.floor(due) - publisher.sent;
        if (backlog.enabled) {
          const allowed = backlog.allowance(index, publisher.sent);
          if (allowed <= 0) backlog.wait(index, performance.now());
          owed = Math.min(owed, allowed);
        }
        while (owed > 0 && publisher.writable) {
          const written = publisher.send(owed, time);
          if (written === 0) break;
          owed -= written;
        }
      }
    }, tickMs);
  } else {
    for (const driver of drivers) schedule(driver);
  }

  const totals = (): { sent: number; acked: number; inflight: number } => {
    let sent = 0;
    let acked = 0;
    let inflight = 0;
    for (const publisher of publishers) {
      sent += publisher.sent;
      acked += publisher.acked;
      inflight += publisher.inflight;
    }
    return { sent, acked, inflight };
  };

  let lastProgress = { at: startedAt, sent: 0, delivered: 0 };
  const progressTimer = setInterval(() => {
    const now = performance.now();
    const current = totals();
    const seconds = (now - lastProgress.at) / 1000;
    options.onProgress?.({
      elapsedSeconds: Math.round((now - startedAt) / 100) / 10,
      connected: allClients.reduce((count, client) => count + (client.closed ? 0 : 1), 0),
      sent: current.sent,
      delivered,
      sentPerSecond: Math.round((current.sent - lastProgress.sent) / seconds),
      deliveredPerSecond: Math.round((delivered - lastProgress.delivered) / seconds),
      inflight: current.inflight,
      errors: errorTotal,
    });
    lastProgress = { at: now, sent: current.sent, delivered };
  }, 1000);

  if (options.warmupSeconds > 0) await delay(options.warmupSeconds * 1000, options.signal);
  // The generator's stalls and CPU waits are measured over the timed part of the run.
  const schedulerPids = [process.pid, ...options.brokerPids];
  const schedulerStart = await schedulerSamples(schedulerPids);
  const loopDelay = monitorEventLoopDelay({ resolution: LOOP_MONITOR_MS });
  loopDelay.enable();
  const measuredAt = performance.now();
  await delay(options.durationSeconds * 1000, options.signal);
  running = false;
  if (pacer !== undefined) clearInterval(pacer);
  clearInterval(backlogWatch);
  const sendSeconds = (performance.now() - startedAt) / 1000;
  const measuredSeconds = (performance.now() - measuredAt) / 1000;
  const cpu = process.cpuUsage(cpuStart);
  loopDelay.disable();
  const schedulerEnd = await schedulerSamples(schedulerPids);
  const brokerCpuEnd = options.brokerPids.length > 0 ? await brokerCpu(options.brokerPids) : 0;

  const expectedDeliveries = (): number | null => {
    let expected = 0;
    for (const subscriber of subscribers) {
      if (subscriber.expectFrom === null) return null;
      for (const index of subscriber.expectFrom) expected += (publishers[index] as Publisher).sent;
    }
    return expected;
  };

  // Drain: wait for in-flight acknowledgements and deliveries still on their way.
  if (publishers.length > 0) {
    const drainUntil = performance.now() + options.drainSeconds * 1000;
    let lastChange = performance.now();
    let lastSeen = -1;
    // Runs after Ctrl-C too, so an early stop still accounts for messages in flight (a second Ctrl-C exits).
    while (performance.now() < drainUntil) {
      const current = totals();
      const expected = expectedDeliveries();
      if (current.inflight === 0 && (expected === null ? subscribers.length === 0 : delivered >= expected)) break;
      const seen = current.acked + delivered;
      if (seen !== lastSeen) {
        lastSeen = seen;
        lastChange = performance.now();
      } else if (performance.now() - lastChange > STALL_MS) {
        break;
      }
      await delay(20);
    }
  }
  clearInterval(progressTimer);
  keepalive.stop();

  const expected = expectedDeliveries();
  let lost = 0;
  let outOfOrder = 0;
  for (const subscriber of subscribers) {
    outOfOrder += subscriber.tracker.outOfOrder;
    if (subscriber.expectFrom === null) {
      lost += subscriber.tracker.gaps;
      continue;
    }
    for (const index of subscriber.expectFrom) {
      const publisher = publishers[index] as Publisher;
      const missing = publisher.sent - subscriber.tracker.receivedFrom(publisher.publisherId);
      if (missing > 0) lost += missing;
    }
  }

  const brokerRss = options.brokerPids.length > 0 ? await totalRssBytes(options.brokerPids) : 0;
  const final = totals();
  const connected = allClients.reduce((count, client) => count + (client.closed ? 0 : 1), 0);
  await Promise.all(allClients.map((client) => client.close()));
  const latencySummary = latency.summary();
  latency.destroy();
  const scheduleSummary = scheduleLatency?.summary() ?? null;
  scheduleLatency?.destroy();
  // The monitor records whole intervals between its 1 ms timer's runs; what exceeds the interval is the stall.
  const stallMs = (nanoseconds: number): number => round(Math.max(0, nanoseconds / 1e6 - LOOP_MONITOR_MS), 3);

  // With our own publishers, deliveries are timed from the start of sending; a lone
  // subscriber cannot know when sending started, so it times first to last delivery.
  const deliveryStart = publishers.length > 0 ? startedAtMicros : firstDeliveryAt;
  const deliverySeconds = lastDeliveryAt > deliveryStart ? (lastDeliveryAt - deliveryStart) / 1e6 : sendSeconds;
  return {
    scenario: plan.scenario,
    target: { host: options.host, port: options.port },
    settings: {
      protocolVersion: options.protocolVersion,
      qos: options.qos,
      payloadSize: options.size,
      publishers: plan.publishers.length,
      subscribers: plan.subscribers.length,
      topic: plan.topicPattern,
      rate: options.rate,
      inflight: publishers.length > 0 ? Math.min(...publishers.map((publisher) => publisher.inflightLimit)) : options.inflight,
      maxBacklog: backlog.limit,
      durationSeconds: options.durationSeconds,
      warmupSeconds: options.warmupSeconds,
    },
    connections: { attempted, connected, connectSeconds: round(connectSeconds, 3) },
    messages: {
      sent: final.sent,
      acknowledged: final.acked,
      delivered,
      expectedDeliveries: expected,
      lost,
      outOfOrder,
      foreign,
    },
    throughput: {
      sendSeconds: round(sendSeconds, 3),
      sentPerSecond: Math.round(final.sent / sendSeconds),
      deliverySeconds: round(deliverySeconds, 3),
      deliveredPerSecond: Math.round(delivered / deliverySeconds),
    },
    latency: latencySummary,
    latencyFromSchedule: scheduleSummary,
    errors: { total: errorTotal, reasons: errors },
    generator: {
      cpuPercent: round(((cpu.user + cpu.system) / 1e6 / sendSeconds) * 100, 1),
      rssBytes: process.memoryUsage.rss(),
      eventLoopStallMs: { p50: stallMs(loopDelay.percentile(50)), p99: stallMs(loopDelay.percentile(99)), max: stallMs(loopDelay.max) },
      runQueueWait: runQueueWait(schedulerStart.slice(0, 1), schedulerEnd.slice(0, 1), measuredSeconds),
    },
    broker:
      options.brokerPids.length > 0
        ? {
            pids: options.brokerPids,
            cpuPercent: round(((brokerCpuEnd - brokerCpuStart) / sendSeconds) * 100, 1),
            rssBytes: brokerRss,
            runQueueWait: runQueueWait(schedulerStart.slice(1), schedulerEnd.slice(1), measuredSeconds),
          }
        : null,
  };
}

function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
