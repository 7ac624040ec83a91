// The primary's questions to a worker for /metrics and /healthz in multi-process mode, over the
// node:cluster IPC channel (listed with the other messages in src/cluster/ipc-messages.ts).
// prom-client's own AggregatorRegistry.clusterMetrics() is not used: it asks every connected
// worker, including one still starting (which cannot answer yet), and fails the whole scrape
// after 5 s if one worker is silent. Here the primary asks only ready workers, waits a bounded
// time, and serves what came back.

import type { MetricObjectWithValues, MetricValue } from 'prom-client';

/** prom-client's Registry.getMetricsAsJSON() output (plain data: it crosses the IPC channel). */
export type MetricsJson = Array<MetricObjectWithValues<MetricValue<string>>>;

/** Primary to worker. `metrics: false` is a health check only (the store's writability). */
export interface ManagementQuery {
  kind: 'management-query';
  requestId: number;
  metrics: boolean;
}

/** Worker to primary. */
export interface ManagementAnswer {
  kind: 'management-answer';
  requestId: number;
  storeWritable: boolean;
  metrics?: MetricsJson;
  /** Why the metrics could not be read, if they could not. */
  error?: string;
}

export function isManagementQuery(value: unknown): value is ManagementQuery {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'management-query';
}

export function isManagementAnswer(value: unknown): value is ManagementAnswer {
  return typeof value === 'object' && value !== null && (value as { kind?: unknown }).kind === 'management-answer';
}
