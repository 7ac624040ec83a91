// Opens many idle MQTT connections at a paced rate and holds them. Used
// in-process for small counts and inside each `conn` worker process.
import { countReason, errorReason, type ReasonCounts } from './bench-error.js';
import { BenchClient } from './client.js';
import { KeepaliveSweeper } from './keepalive.js';

export interface ConnectionSetOptions {
  host: string;
  port: number;
  protocolVersion: 4 | 5;
  username?: string;
  password?: string;
  keepalive: number;
  clientIdPrefix: string;
  /** Global index of this set's first connection (client ids, source address choice). */
  startIndex: number;
  count: number;
  /** Connection attempts per second for this set; 0 = as fast as `maxPending` allows. */
  rate: number;
  localAddresses: string[];
  connectTimeoutMs: number;
  /** Attempts in progress at once (keeps SYN queues and timers bounded). */
  maxPending: number;
}

export interface ConnectionStats {
  attempted: number;
  connected: number;
  failed: number;
  failureReasons: ReasonCounts;
  /** Connections that closed after CONNACK while being held. */
  dropped: number;
  dropReasons: ReasonCounts;
  /** From the first attempt to the last attempt settling. */
  connectSeconds: number;
}

export function emptyConnectionStats(): ConnectionStats {
  return { attempted: 0, connected: 0, failed: 0, failureReasons: {}, dropped: 0, dropReasons: {}, connectSeconds: 0 };
}

const TICK_MS = 10;

export class ConnectionSet {
  private readonly clients: BenchClient[] = [];
  private readonly counters = emptyConnectionStats();
  private pending = 0;
  private startedAt = 0;
  private keepalive: KeepaliveSweeper | undefined;

  constructor(private readonly options: ConnectionSetOptions) {}

  stats(): ConnectionStats {
    const stats = { ...this.counters, failureReasons: { ...this.counters.failureReasons }, dropReasons: { ...this.counters.dropReasons } };
    if (stats.connectSeconds === 0 && this.startedAt > 0) stats.connectSeconds = (performance.now() - this.startedAt) / 1000;
    return stats;
  }

  /** Open every connection; resolves once every attempt has succeeded or failed. */
  open(): Promise<ConnectionStats> {
    const options = this.options;
    this.startedAt = performance.now();
    this.keepalive = new KeepaliveSweeper(this.clients, options.keepalive);
    return new Promise((resolve) => {
      let settled = 0;
      const finishIfDone = (): void => {
        if (settled < options.count) return;
        clearInterval(timer);
        this.counters.connectSeconds = (performance.now() - this.startedAt) / 1000;
        resolve(this.stats());
      };
      const launch = (): void => {
        const due = options.rate > 0 ? Math.floor(((performance.now() - this.startedAt) / 1000) * options.rate) + 1 : options.count;
        const limit = Math.min(due, options.count);
        while (this.counters.attempted < limit && this.pending < options.maxPending) {
          const index = options.startIndex + this.counters.attempted;
          this.counters.attempted++;
          this.pending++;
          this.attempt(index).then(
            () => {
              this.pending--;
              settled++;
              finishIfDone();
            },
            () => undefined,
          );
        }
      };
      const timer = setInterval(launch, TICK_MS);
      launch();
      finishIfDone();
    });
  }

  private async attempt(index: number): Promise<void> {
    const options = this.options;
    const addresses = options.localAddresses;
    try {
      const client = await BenchClient.connect(
        {
          host: options.host,
          port: options.port,
          protocolVersion: options.protocolVersion,
          clientId: `${options.clientIdPrefix}-conn-${index}`,
          keepalive: options.keepalive,
          clean: true,
          connectTimeoutMs: options.connectTimeoutMs,
          ...(options.username === undefined ? {} : { username: options.username }),
          ...(options.password === undefined ? {} : { password: options.password }),
          ...(addresses.length === 0 ? {} : { localAddress: addresses[index % addresses.length] as string }),
        },
        {
          onClose: (reason) => {
            if (reason === undefined) return;
            this.counters.dropped++;
            countReason(this.counters.dropReasons, reason);
          },
        },
      );
      this.counters.connected++;
      this.clients.push(client);
    } catch (error) {
      this.counters.failed++;
      countReason(this.counters.failureReasons, errorReason(error));
    }
  }

  /** Connections currently open. */
  get openCount(): number {
    return this.counters.connected - this.counters.dropped;
  }

  async close(): Promise<void> {
    this.keepalive?.stop();
    // Closing 100k sockets at once is fine for the kernel; DISCONNECT first so the broker drops no will messages.
    await Promise.all(this.clients.map((client) => client.close()));
  }
}
