// Human-readable progress lines and summaries (the JSON form is the summary object itself).
import type { ConnProgress, ConnSummary } from './conn.js';
import type { RunQueueWait } from './run-queue.js';
import type { TrafficProgress, TrafficSummary } from './traffic-types.js';

const integer = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

function number(value: number): string {
  return integer.format(value);
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

function reasons(counts: Record<string, number>): string {
  const entries = Object.entries(counts);
  return entries.length === 0 ? 'none' : entries.map(([reason, count]) => `${reason} x${number(count)}`).join(', ');
}

function waitText(wait: RunQueueWait | null): string {
  return wait === null ? '' : `, waited ${wait.waitMs} ms for a CPU (${wait.waitPercent}%)`;
}

export function trafficProgressLine(progress: TrafficProgress): string {
  return (
    `[${progress.elapsedSeconds.toFixed(1)}s] connected ${number(progress.connected)}` +
    ` | sent ${number(progress.sentPerSecond)}/s | recv ${number(progress.deliveredPerSecond)}/s` +
    ` | inflight ${number(progress.inflight)} | errors ${number(progress.errors)}`
  );
}

export function connProgressLine(progress: ConnProgress): string {
  return (
    `[${progress.elapsedSeconds.toFixed(1)}s] ${progress.phase} | connected ${number(progress.connected)}` +
    ` (${number(progress.connectsPerSecond)}/s) | open ${number(progress.open)} | failed ${number(progress.failed)}`
  );
}

export function formatTrafficSummary(summary: TrafficSummary): string {
  const settings = summary.settings;
  const messages = summary.messages;
  const latency = summary.latency;
  const lines = [
    `scenario ${summary.scenario} against ${summary.target.host}:${summary.target.port} (MQTT ${settings.protocolVersion === 5 ? '5.0' : '3.1.1'}, QoS ${settings.qos}, ${settings.payloadSize}-byte payloads, topic ${settings.topic})`,
    `clients      ${number(settings.publishers)} publishers, ${number(settings.subscribers)} subscribers, connected in ${summary.connections.connectSeconds}s`,
  ];
  if (settings.publishers > 0) {
    lines.push(
      `rate         ${settings.rate === 0 ? 'unlimited' : `${number(settings.rate)} msg/s`}${settings.qos > 0 ? `, in-flight window ${settings.inflight}` : ''}` +
        (settings.maxBacklog > 0 ? `, at most ${number(settings.maxBacklog)} deliveries in flight` : ''),
      `sent         ${number(messages.sent)} in ${summary.throughput.sendSeconds}s = ${number(summary.throughput.sentPerSecond)} msg/s` +
        (settings.warmupSeconds > 0 ? ` (the first ${settings.warmupSeconds}s a warm-up, not in the latency figures)` : '') +
        (settings.qos > 0 ? ` (${number(messages.acknowledged)} acknowledged)` : ''),
    );
  }
  if (settings.subscribers > 0) {
    lines.push(
      `delivered    ${number(messages.delivered)} in ${summary.throughput.deliverySeconds}s = ${number(summary.throughput.deliveredPerSecond)} msg/s` +
        (messages.expectedDeliveries === null ? '' : ` (expected ${number(messages.expectedDeliveries)})`),
      `lost         ${number(messages.lost)}   out of order ${number(messages.outOfOrder)}` + (messages.foreign > 0 ? `   foreign ${number(messages.foreign)}` : ''),
      `latency ms   p50 ${latency.p50Ms}  p90 ${latency.p90Ms}  p99 ${latency.p99Ms}  p99.9 ${latency.p999Ms}  max ${latency.maxMs}  (min ${latency.minMs}, mean ${latency.meanMs}, n=${number(latency.count)}; from the stamped send time)`,
    );
    const scheduled = summary.latencyFromSchedule;
    if (scheduled !== null) {
      lines.push(
        `  scheduled  p50 ${scheduled.p50Ms}  p90 ${scheduled.p90Ms}  p99 ${scheduled.p99Ms}  p99.9 ${scheduled.p999Ms}  max ${scheduled.maxMs}  (from when the fixed rate made each message due)`,
      );
    }
  }
  lines.push(
    `errors       ${number(summary.errors.total)}: ${reasons(summary.errors.reasons)}`,
    `generator    ${summary.generator.cpuPercent}% of a core, ${megabytes(summary.generator.rssBytes)} RSS, ` +
      `event-loop stalls p99 ${summary.generator.eventLoopStallMs.p99} ms max ${summary.generator.eventLoopStallMs.max} ms${waitText(summary.generator.runQueueWait)}`,
  );
  if (summary.broker !== null) {
    lines.push(
      `broker       ${summary.broker.cpuPercent}% of a core, ${megabytes(summary.broker.rssBytes)} RSS${waitText(summary.broker.runQueueWait)} (pid ${summary.broker.pids.join(',')})`,
    );
  }
  return lines.join('\n');
}

export function formatConnSummary(summary: ConnSummary): string {
  const connections = summary.connections;
  const lines = [
    `scenario conn against ${summary.target.host}:${summary.target.port} (MQTT ${summary.settings.protocolVersion === 5 ? '5.0' : '3.1.1'})`,
    `setup        ${number(summary.settings.clients)} connections at ${summary.settings.rate === 0 ? 'unlimited' : `${number(summary.settings.rate)}/s`}, ` +
      `${summary.settings.processes} process(es), source addresses ${summary.settings.localAddresses.length === 0 ? 'kernel default' : summary.settings.localAddresses.join(',')}`,
    `connected    ${number(connections.connected)} of ${number(connections.attempted)} in ${connections.connectSeconds}s = ${number(connections.connectsPerSecond)} conn/s`,
    `failed       ${number(connections.failed)}: ${reasons(connections.failureReasons)}`,
    `held         ${summary.settings.holdSeconds}s, ${number(connections.openAfterHold)} still open; dropped ${number(connections.dropped)}: ${reasons(connections.dropReasons)}`,
    `generator    ${megabytes(summary.generator.rssBytes)} RSS over ${summary.generator.processes} process(es)`,
  ];
  if (summary.broker !== null) {
    lines.push(
      `broker       RSS ${megabytes(summary.broker.rssBeforeBytes)} before, ${megabytes(summary.broker.rssHeldBytes)} holding = ` +
        `${number(summary.broker.bytesPerConnection)} bytes per connection (pid ${summary.broker.pids.join(',')})`,
    );
  }
  if (summary.brokerError !== undefined) lines.push(`broker       ${summary.brokerError}`);
  return lines.join('\n');
}
