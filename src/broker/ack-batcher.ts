// Group commit of acknowledgements: PUBACK/PUBREC for QoS 1/2 publishes are sent only once
// the store says the work they carry is durable. All acks collected during one event-loop
// turn wait behind a single store call (never one Promise per message).
//
// Two lanes: `add` waits for whenDurable (in async mode: not at all, the documented window of
// loss); `addCommitted` waits for whenCommitted (in async mode: the commit), for the steps whose
// state must never fall behind what a peer was told (PUBCOMP, QoS 2 deliveries and releases).

import type { Store } from '../store/store.js';

export interface PendingAck {
  /** Sends the acknowledgement. */
  send(): void;
  /** The store failed: the work was not made durable and must not be acknowledged. */
  fail(error: Error): void;
}

type Wait = (callback: (error?: Error) => void) => void;

/** The acks of one lane collected during a turn, released by one call of its store wait. */
class AckLane {
  private pending: PendingAck[] = [];
  private scheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(private readonly wait: Wait) {}

  add(ack: PendingAck): void {
    this.pending.push(ack);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(this.flushBound);
    }
  }

  flush(): void {
    this.scheduled = false;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.wait((error) => {
      for (const ack of batch) {
        if (error) ack.fail(error);
        else ack.send();
      }
    });
  }
}

export class AckBatcher {
  private readonly store: Store;
  private readonly durable: AckLane;
  private readonly committed: AckLane;

  constructor(store: Store) {
    this.store = store;
    this.durable = new AckLane((callback) => store.whenDurable(callback));
    this.committed = new AckLane((callback) => store.whenCommitted(callback));
  }

  /** True when acknowledgements need not wait (memory store): callers may send them at once. */
  get immediate(): boolean {
    return this.store.mode === 'memory';
  }

  /** Sends once whenDurable says the work issued so far is durable. */
  add(ack: PendingAck): void {
    if (this.immediate) {
      // Nothing to wait for: acknowledge at once.
      ack.send();
      return;
    }
    this.durable.add(ack);
  }

  /** Sends once whenCommitted says the work issued so far is committed (durable in sync mode). */
  addCommitted(ack: PendingAck): void {
    if (this.immediate) {
      ack.send();
      return;
    }
    this.committed.add(ack);
  }

  /** Issues the store waits for everything collected so far. */
  flush(): void {
    this.durable.flush();
    this.committed.flush();
  }
}
