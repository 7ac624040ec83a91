// /metrics and /healthz of a single-process broker: read from the broker in this process.

import type { Registry } from 'prom-client';
import type { MetricsSource } from './broker-metrics.js';
import type { ManagementEndpoints } from './management-server.js';
import { createBrokerRegistry } from './metrics-registry.js';

export function localEndpoints(source: MetricsSource, registry: Registry = createBrokerRegistry(source)): ManagementEndpoints {
  return {
    metrics: async () => ({ contentType: registry.contentType, body: await registry.metrics() }),
    health: () => {
      const { writable, mode } = source.store;
      // Not writable: durable work (QoS > 0 to persistent sessions, retained messages) is refused.
      return Promise.resolve({ healthy: writable, details: { store: { mode, writable } } });
    },
  };
}
