// One timer for many connections: every second, PINGREQ the next slice of
// clients so each is pinged about twice per keepalive period. A client that
// only receives (a subscriber, an idle connection) would otherwise be dropped
// by the broker after 1.5 x keepalive.
import type { BenchClient } from './client.js';

export class KeepaliveSweeper {
  private cursor = 0;
  private readonly timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly clients: readonly BenchClient[],
    keepaliveSeconds: number,
  ) {
    if (keepaliveSeconds <= 0) return;
    const periodSeconds = Math.max(1, Math.floor(keepaliveSeconds / 2));
    this.timer = setInterval(() => this.sweep(periodSeconds), 1000);
    this.timer.unref();
  }

  private sweep(periodSeconds: number): void {
    const clients = this.clients;
    if (clients.length === 0) return;
    const slice = Math.ceil(clients.length / periodSeconds);
    for (let count = 0; count < slice; count++) {
      if (this.cursor >= clients.length) this.cursor = 0;
      clients[this.cursor++]?.ping();
    }
  }

  stop(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
  }
}
