// Worker side of multi-process metrics: answers the primary's management queries with this
// worker's registry (its broker's metrics and its process metrics) and its store's writability.

import type { Registry } from 'prom-client';
import type { Store } from '../store/store.js';
import type { MetricsSource } from './broker-metrics.js';
import { isManagementQuery, type ManagementAnswer } from './management-messages.js';
import { createBrokerRegistry } from './metrics-registry.js';

/** The slice of `process` used here (tests drive it with an EventEmitter). */
export interface ParentChannel {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  send?(message: ManagementAnswer): unknown;
  readonly connected?: boolean;
}

/** Starts answering; returns the function that stops it. */
export function answerManagementQueries(registry: Registry, store: Pick<Store, 'writable'>, channel: ParentChannel = process as ParentChannel): () => void {
  const reply = (answer: ManagementAnswer): void => {
    if (channel.connected !== false) channel.send?.(answer);
  };
  const listener = (message: unknown): void => {
    if (!isManagementQuery(message)) return;
    const { requestId } = message;
    if (!message.metrics) {
      reply({ kind: 'management-answer', requestId, storeWritable: store.writable });
      return;
    }
    registry.getMetricsAsJSON().then(
      (metrics) => reply({ kind: 'management-answer', requestId, storeWritable: store.writable, metrics }),
      (error: unknown) => reply({ kind: 'management-answer', requestId, storeWritable: store.writable, error: error instanceof Error ? error.message : String(error) }),
    );
  };
  channel.on('message', listener);
  return () => channel.off('message', listener);
}

/** A worker's side in full: its registry (process metrics labelled worker-<index>) and the answers. */
export function startWorkerAnswers(source: MetricsSource, workerIndex: number): () => void {
  return answerManagementQueries(createBrokerRegistry(source, `worker-${workerIndex}`), source.store);
}
