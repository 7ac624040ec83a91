// `petrel bench conn`: open N idle connections at a given rate, spread over
// loopback source addresses and worker processes, hold them, and report the
// connect rate, failures and the broker's memory per connection.
import { fork, type ChildProcess } from 'node:child_process';
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mergeReasons, type ReasonCounts } from './bench-error.js';
import { totalRssBytes } from './broker-memory.js';
import { delay } from './concurrency.js';
import { ConnectionSet, emptyConnectionStats, type ConnectionSetOptions, type ConnectionStats } from './connection-set.js';
import type { WorkerReport, WorkerRequest } from './conn-worker-protocol.js';
import { automaticLocalAddresses } from './local-addresses.js';

/** A process may hold 20,000 open files here (`ulimit -Hn`); leave room for everything else it opens. */
export const CONNECTIONS_PER_PROCESS = 18_000;

export interface ConnOptions {
  host: string;
  port: number;
  protocolVersion: 4 | 5;
  username?: string;
  password?: string;
  /** Seconds; held connections are pinged twice per period. */
  keepalive: number;
  clients: number;
  /** Total connection attempts per second; 0 = as fast as possible. */
  rate: number;
  holdSeconds: number;
  /** Worker processes; undefined = as few as the per-process limit allows (1 = in this process). */
  processes?: number;
  /** Source addresses; undefined = automatic (several 127.x addresses when needed on loopback). */
  localAddresses?: string[];
  brokerPids: number[];
  connectTimeoutMs: number;
  clientIdPrefix: string;
  /** Attempts in progress at once, per process. */
  maxPending: number;
  onProgress?: (progress: ConnProgress) => void;
  signal?: AbortSignal;
}

export const connDefaults: Omit<ConnOptions, 'clients'> = {
  host: '127.0.0.1',
  port: 1883,
  protocolVersion: 4,
  keepalive: 300,
  rate: 1000,
  holdSeconds: 10,
  brokerPids: [],
  connectTimeoutMs: 30_000,
  clientIdPrefix: `petrel-bench-${process.pid}`,
  maxPending: 500,
};

export interface ConnProgress {
  phase: 'connecting' | 'holding';
  elapsedSeconds: number;
  attempted: number;
  connected: number;
  open: number;
  failed: number;
  connectsPerSecond: number;
}

export interface ConnSummary {
  scenario: 'conn';
  target: { host: string; port: number };
  settings: { clients: number; rate: number; holdSeconds: number; processes: number; localAddresses: string[]; protocolVersion: 4 | 5 };
  connections: {
    attempted: number;
    connected: number;
    failed: number;
    failureReasons: ReasonCounts;
    connectSeconds: number;
    connectsPerSecond: number;
    /** Still open at the end of the hold. */
    openAfterHold: number;
    dropped: number;
    dropReasons: ReasonCounts;
  };
  broker: { pids: number[]; rssBeforeBytes: number; rssHeldBytes: number; bytesPerConnection: number } | null;
  /** Why the broker's memory could not be read at the end of the hold (a broker process exited). */
  brokerError?: string;
  generator: { processes: number; rssBytes: number };
}

/** One share of the connections, held in this process or in a forked worker. */
interface ConnectionGroup {
  open(): Promise<ConnectionStats>;
  latest(): ConnectionStats;
  close(): Promise<{ stats: ConnectionStats; rssBytes: number }>;
}

class InProcessGroup implements ConnectionGroup {
  private readonly set: ConnectionSet;
  constructor(options: ConnectionSetOptions) {
    this.set = new ConnectionSet(options);
  }
  open(): Promise<ConnectionStats> {
    return this.set.open();
  }
  latest(): ConnectionStats {
    return this.set.stats();
  }
  async close(): Promise<{ stats: ConnectionStats; rssBytes: number }> {
    await this.set.close();
    return { stats: this.set.stats(), rssBytes: process.memoryUsage.rss() };
  }
}

function workerModulePath(): string {
  // Same extension as this module: .js when compiled, .ts under tsx (fork inherits tsx's loader via execArgv).
  const self = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./conn-worker${extname(self)}`, import.meta.url));
}

class ForkedGroup implements ConnectionGroup {
  private readonly child: ChildProcess;
  private stats = emptyConnectionStats();
  private readonly listeners = new Set<(report: WorkerReport) => void>();
  private exited = false;

  constructor(private readonly options: ConnectionSetOptions) {
    this.child = fork(workerModulePath(), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.child.on('message', (report: WorkerReport) => {
      if (report.type !== 'failed') this.stats = report.stats;
      for (const listener of this.listeners) listener(report);
    });
    this.child.on('exit', (code, signal) => {
      this.exited = true;
      const fail = (): void => {
        for (const listener of this.listeners) listener({ type: 'failed', message: `worker exited with ${signal ?? `code ${String(code)}`}` });
      };
      // 'exit' can come before the worker's last messages ('closed') are read from the IPC
      // channel: fail the waiters only once the channel is done.
      if (this.child.connected) this.child.once('disconnect', () => setImmediate(fail));
      else setImmediate(fail);
    });
    // IPC errors (EPIPE once a worker has gone) are reported by the exit above, not thrown.
    this.child.on('error', () => undefined);
  }

  private waitFor<T extends WorkerReport['type']>(type: T): Promise<Extract<WorkerReport, { type: T }>> {
    return new Promise((resolve, reject) => {
      const listener = (report: WorkerReport): void => {
        if (report.type === type) {
          this.listeners.delete(listener);
          resolve(report as Extract<WorkerReport, { type: T }>);
        } else if (report.type === 'failed') {
          this.listeners.delete(listener);
          reject(new Error(report.message));
        }
      };
      this.listeners.add(listener);
    });
  }

  open(): Promise<ConnectionStats> {
    const opened = this.waitFor('opened');
    this.send({ type: 'open', options: this.options });
    return opened.then((report) => report.stats);
  }

  latest(): ConnectionStats {
    return this.stats;
  }

  async close(): Promise<{ stats: ConnectionStats; rssBytes: number }> {
    if (this.exited) return { stats: this.stats, rssBytes: 0 };
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    if (!this.child.connected) {
      // Already closing or gone: its last stats are all there is.
      await exited;
      return { stats: this.stats, rssBytes: 0 };
    }
    const closed = this.waitFor('closed');
    this.send({ type: 'close' });
    const report = await closed;
    await exited;
    return { stats: report.stats, rssBytes: report.rssBytes };
  }

  private send(request: WorkerRequest): void {
    // A send to a worker that has just gone fails with EPIPE: its exit reports that.
    if (this.child.connected) this.child.send(request, () => undefined);
  }
}

function sumStats(all: ConnectionStats[]): ConnectionStats {
  const total = emptyConnectionStats();
  for (const stats of all) {
    total.attempted += stats.attempted;
    total.connected += stats.connected;
    total.failed += stats.failed;
    total.dropped += stats.dropped;
    total.connectSeconds = Math.max(total.connectSeconds, stats.connectSeconds);
    mergeReasons(total.failureReasons, stats.failureReasons);
    mergeReasons(total.dropReasons, stats.dropReasons);
  }
  return total;
}

export async function runConn(input: Partial<ConnOptions> & { clients: number }): Promise<ConnSummary> {
  const options: ConnOptions = { ...connDefaults, ...Object.fromEntries(Object.entries(input).filter(([, value]) => value !== undefined)) } as ConnOptions;
  if (!Number.isInteger(options.clients) || options.clients < 1) throw new RangeError('--clients must be a positive integer');
  const processes = Math.max(options.processes ?? 1, Math.ceil(options.clients / CONNECTIONS_PER_PROCESS));
  const localAddresses = options.localAddresses ?? automaticLocalAddresses(options.host, options.clients);

  const rssBeforeBytes = options.brokerPids.length > 0 ? await totalRssBytes(options.brokerPids) : 0;
  const groups: ConnectionGroup[] = [];
  const perProcess = Math.floor(options.clients / processes);
  let startIndex = 0;
  for (let index = 0; index < processes; index++) {
    const count = index === processes - 1 ? options.clients - startIndex : perProcess;
    const setOptions: ConnectionSetOptions = {
      host: options.host,
      port: options.port,
      protocolVersion: options.protocolVersion,
      keepalive: options.keepalive,
      clientIdPrefix: options.clientIdPrefix,
      startIndex,
      count,
      rate: options.rate / processes,
      localAddresses,
      connectTimeoutMs: options.connectTimeoutMs,
      maxPending: options.maxPending,
      ...(options.username === undefined ? {} : { username: options.username }),
      ...(options.password === undefined ? {} : { password: options.password }),
    };
    groups.push(processes === 1 ? new InProcessGroup(setOptions) : new ForkedGroup(setOptions));
    startIndex += count;
  }

  const startedAt = performance.now();
  let phase: ConnProgress['phase'] = 'connecting';
  let previous = { at: startedAt, connected: 0 };
  const progressTimer = setInterval(() => {
    const now = performance.now();
    const total = sumStats(groups.map((group) => group.latest()));
    options.onProgress?.({
      phase,
      elapsedSeconds: Math.round((now - startedAt) / 100) / 10,
      attempted: total.attempted,
      connected: total.connected,
      open: total.connected - total.dropped,
      failed: total.failed,
      connectsPerSecond: Math.round((total.connected - previous.connected) / ((now - previous.at) / 1000)),
    });
    previous = { at: now, connected: total.connected };
  }, 1000);

  try {
    const opened = sumStats(await Promise.all(groups.map((group) => group.open())));
    phase = 'holding';
    await delay(options.holdSeconds * 1000, options.signal);
    // A broker process that exited (crashed, restarted worker) leaves no memory figure, but the
    // connection figures still stand: report them rather than fail the run.
    let brokerError: string | undefined;
    const rssHeldBytes =
      options.brokerPids.length > 0
        ? await totalRssBytes(options.brokerPids).catch((error: unknown) => {
            brokerError = `cannot read the broker's memory (a broker process exited?): ${error instanceof Error ? error.message : String(error)}`;
            return 0;
          })
        : 0;
    const held = sumStats(groups.map((group) => group.latest()));
    clearInterval(progressTimer);
    const closed = await Promise.all(groups.map((group) => group.close()));
    const finalStats = sumStats(closed.map((result) => result.stats));
    const connectSeconds = opened.connectSeconds;
    return {
      scenario: 'conn',
      target: { host: options.host, port: options.port },
      settings: {
        clients: options.clients,
        rate: options.rate,
        holdSeconds: options.holdSeconds,
        processes,
        localAddresses,
        protocolVersion: options.protocolVersion,
      },
      connections: {
        attempted: opened.attempted,
        connected: opened.connected,
        failed: opened.failed,
        failureReasons: opened.failureReasons,
        connectSeconds: Math.round(connectSeconds * 1000) / 1000,
        connectsPerSecond: connectSeconds > 0 ? Math.round(opened.connected / connectSeconds) : 0,
        openAfterHold: held.connected - held.dropped,
        dropped: finalStats.dropped,
        dropReasons: finalStats.dropReasons,
      },
      ...(brokerError === undefined ? {} : { brokerError }),
      broker:
        options.brokerPids.length > 0 && brokerError === undefined
          ? {
              pids: options.brokerPids,
              rssBeforeBytes,
              rssHeldBytes,
              bytesPerConnection: opened.connected > 0 ? Math.round((rssHeldBytes - rssBeforeBytes) / opened.connected) : 0,
            }
          : null,
      generator: {
        processes,
        rssBytes: closed.reduce((sum, result) => sum + result.rssBytes, 0) + (processes > 1 ? process.memoryUsage.rss() : 0),
      },
    };
  } finally {
    clearInterval(progressTimer);
    await Promise.all(groups.map((group) => group.close().catch(() => undefined)));
  }
}
