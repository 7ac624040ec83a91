// Cumulative acknowledgements between workers: frames that need one carry a per-peer sequence
// number, the peer acknowledges the highest it has dealt with (frames on one connection are
// handled in order), and callers wait until everything sent so far is acknowledged.

export type ConfirmationCallback = (error?: Error) => void;

interface Waiter {
  /** Peer -> sequence number that peer must acknowledge. */
  needs: Map<number, number>;
  callback: ConfirmationCallback;
}

export class Confirmations {
  private readonly sent = new Map<number, number>();
  private readonly acknowledged = new Map<number, number>();
  private waiters: Waiter[] = [];

  /** The sequence number for the next frame to `peer`; call record() once it is sent. */
  next(peer: number): number {
    return (this.sent.get(peer) ?? 0) + 1;
  }

  record(peer: number, sequence: number): void {
    this.sent.set(peer, sequence);
  }

  /** True if some peer has not acknowledged everything sent to it. */
  get pending(): boolean {
    for (const [peer, sent] of this.sent) if ((this.acknowledged.get(peer) ?? 0) < sent) return true;
    return false;
  }

  /** Calls back (synchronously if nothing is pending) once everything sent so far is acknowledged. */
  whenConfirmed(callback: ConfirmationCallback): void {
    const needs = new Map<number, number>();
    for (const [peer, sent] of this.sent) {
      if ((this.acknowledged.get(peer) ?? 0) < sent) needs.set(peer, sent);
    }
    if (needs.size === 0) {
      callback();
      return;
    }
    this.waiters.push({ needs, callback });
  }

  acknowledge(peer: number, sequence: number): void {
    if (sequence <= (this.acknowledged.get(peer) ?? 0)) return;
    this.acknowledged.set(peer, sequence);
    this.settle(peer, undefined);
  }

  /**
   * The peer is gone (a restarted one numbers from 1 again). Waiters on it are released, with
   * `failure` if what it did not acknowledge matters (it may be lost).
   */
  peerGone(peer: number, failure: Error | undefined): void {
    this.settle(peer, failure ?? null);
    this.sent.delete(peer);
    this.acknowledged.delete(peer);
  }

  /** `failure`: undefined = an acknowledgement arrived; null = peer gone, harmless; Error = peer gone, harmful. */
  private settle(peer: number, failure: Error | null | undefined): void {
    const acknowledged = this.acknowledged.get(peer) ?? 0;
    const remaining: Waiter[] = [];
    for (const waiter of this.waiters) {
      const needed = waiter.needs.get(peer);
      if (needed !== undefined && (failure !== undefined || acknowledged >= needed)) {
        if (failure instanceof Error) {
          waiter.callback(failure);
          continue;
        }
        waiter.needs.delete(peer);
      }
      if (waiter.needs.size === 0) waiter.callback();
      else remaining.push(waiter);
    }
    this.waiters = remaining;
  }
}

/** Receiving side: the highest sequence number dealt with per peer, acknowledged once per tick. */
export class AcknowledgementBatcher {
  private readonly highest = new Map<number, number>();
  private readonly scheduled = new Set<number>();
  private readonly send: (peer: number, sequence: number) => void;

  constructor(send: (peer: number, sequence: number) => void) {
    this.send = send;
  }

  handled(peer: number, sequence: number): void {
    if (sequence > (this.highest.get(peer) ?? 0)) this.highest.set(peer, sequence);
    if (this.scheduled.has(peer)) return;
    this.scheduled.add(peer);
    process.nextTick(() => {
      this.scheduled.delete(peer);
      const latest = this.highest.get(peer);
      if (latest !== undefined) this.send(peer, latest);
    });
  }

  peerGone(peer: number): void {
    this.highest.delete(peer);
  }
}
