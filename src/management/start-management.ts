// Starting the management server from `petrel start` (src/cli/start.ts). It is an extra: when
// its address cannot be bound (port in use...) the broker logs why, naming the setting to
// change, and carries on without it rather than refusing MQTT clients over a metrics port.

import type { PetrelConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import type { MetricsSource } from './broker-metrics.js';
import { ClusterEndpoints, type WorkerDirectory } from './cluster-endpoints.js';
import { localEndpoints } from './local-endpoints.js';
import { ManagementServer, type ManagementEndpoints } from './management-server.js';

export type HttpConfig = PetrelConfig['http'];

export interface RunningManagement {
  readonly address: { host: string; port: number };
  stop(): Promise<void>;
}

/** Single-process broker: the server reads the broker in this process. */
export function startLocalManagement(http: HttpConfig, source: MetricsSource, logger: Logger): Promise<RunningManagement | undefined> {
  return startManagement(http, localEndpoints(source), logger, () => undefined);
}

/** Primary of a multi-process broker: the server asks the workers (it is never bound by a worker). */
export function startClusterManagement(http: HttpConfig, directory: WorkerDirectory, logger: Logger): Promise<RunningManagement | undefined> {
  const endpoints = new ClusterEndpoints({ directory, logger });
  return startManagement(http, endpoints, logger, () => endpoints.close());
}

async function startManagement(http: HttpConfig, endpoints: ManagementEndpoints, logger: Logger, release: () => void): Promise<RunningManagement | undefined> {
  const server = new ManagementServer({ host: http.host, port: http.port, endpoints, logger });
  let address: { host: string; port: number };
  try {
    address = await server.start();
  } catch (error) {
    release();
    logger.error({ err: error, host: http.host, port: http.port }, bindFailureMessage(error, http));
    return undefined;
  }
  logger.info({ host: address.host, port: address.port, paths: ['/metrics', '/healthz'] }, `management server listening on http://${hostForUrl(address.host)}:${address.port}`);
  return {
    address,
    stop: async () => {
      release();
      await server.stop();
    },
  };
}

/** The log line of a failed bind: what happened, which setting, and that the broker goes on. */
export function bindFailureMessage(error: unknown, http: HttpConfig): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const consequence = 'running without the management server (/metrics, /healthz)';
  const where = `${hostForUrl(http.host)}:${http.port}`;
  switch (code) {
    case 'EADDRINUSE':
      return `management server not started: port ${http.port} (http.port) is already in use on ${http.host} (http.host); ${consequence}. Set http.port to a free port, or http.enabled to false`;
    case 'EACCES':
      return `management server not started: not permitted to listen on ${where} (http.port); ${consequence}`;
    case 'EADDRNOTAVAIL':
      return `management server not started: address ${http.host} (http.host) is not on this machine; ${consequence}`;
    default:
      return `management server not started: cannot listen on ${where} (http.host, http.port): ${error instanceof Error ? error.message : String(error)}; ${consequence}`;
  }
}

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}
