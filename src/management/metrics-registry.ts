// Registries for /metrics: the broker's metrics plus prom-client's default process metrics
// (CPU, memory, heap, event loop lag, GC, file descriptors) for this process.

import { collectDefaultMetrics, Registry } from 'prom-client';
import { registerBrokerMetrics, type MetricsSource } from './broker-metrics.js';

/** The label that tells the processes of a multi-process broker apart in the process metrics. */
export const processLabel = 'process';

/**
 * Adds the default process metrics to `registry`. `processName` (multi-process mode: "primary",
 * "worker-0"...) labels every series, so the primary's merge keeps one series per process
 * instead of adding up values such as file descriptor limits or event loop lag.
 */
export function collectProcessMetrics(registry: Registry, processName?: string): void {
  collectDefaultMetrics(processName === undefined ? { register: registry } : { register: registry, labels: { [processLabel]: processName } });
}

/** A registry with the broker's metrics and this process's metrics. */
export function createBrokerRegistry(source: MetricsSource, processName?: string): Registry {
  const registry = new Registry();
  registerBrokerMetrics(registry, source);
  collectProcessMetrics(registry, processName);
  return registry;
}
