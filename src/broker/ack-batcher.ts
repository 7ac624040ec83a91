// Group commit of acknowledgements: PUBACK/PUBREC for QoS 1/2 publishes are sent only once
// the store says the work they carry is durable. All acks collected during one event-loop
// turn wait behind a single whenDurable call (never one Promise per message).

import type { Store } from '../store/store.js';

export interface PendingAck {
  /** Sends the acknowledgement. */
  send(): void;
  /** The store failed: the work was not made durable and must not be acknowledged. */
  fail(error: Error): void;
}

export class AckBatcher {
  private readonly store: Store;
  private pending: PendingAck[] = [];
  private scheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(store: Store) {
    this.store = store;
  }

  add(ack: PendingAck): void {
    if (this.store.mode === 'memory') {
      // Nothing to wait for: acknowledge at once.
      ack.send();
      return;
    }
    this.pending.push(ack);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  /** Issues one whenDurable for everything collected so far. */
  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.store.whenDurable((error) => {
      for (const ack of batch) {
        if (error) ack.fail(error);
        else ack.send();
      }
    });
  }
}
