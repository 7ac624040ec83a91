// Keep-alive deadlines of every connection on one shared timer. A Timeout per connection costs
// about 250 bytes (the Timeout, its closure and context) and a re-insertion into the timer
// list on every packet; here a connection only records when it last heard from its client, and
// the wheel looks at it once per keep-alive period (its slot is re-filed lazily if it was active).

export interface KeepaliveSubject {
  /** Milliseconds without a packet after which the connection is closed (1.5 × Keep Alive). */
  keepaliveLimitMs: number;
  /** Date.now() of the last packet from the client. */
  lastPacketAt: number;
  /** The slot the subject is filed under; copies of it in other slots are stale (-1: not watched). */
  keepaliveSlot: number;
  onKeepaliveExpired(): void;
}

/** Resolution of the wheel: a deadline is noticed at most this much late (plus timer jitter). */
export const SLOT_MS = 100;

export class KeepaliveWheel {
  private readonly slots = new Map<number, KeepaliveSubject[]>();
  private timer: NodeJS.Timeout | undefined;
  /** The next slot tick() has to look at. */
  private nextSlot = 0;

  /** Starts (or restarts) watching; the client counts as heard from now. */
  watch(subject: KeepaliveSubject): void {
    subject.lastPacketAt = Date.now();
    this.file(subject, subject.lastPacketAt + subject.keepaliveLimitMs);
  }

  /** Stops watching; the stale slot entry is skipped and dropped when its time comes. */
  unwatch(subject: KeepaliveSubject): void {
    subject.keepaliveSlot = -1;
  }

  /** Number of slots holding entries (for tests: the timer stops once it reaches 0). */
  get pendingSlots(): number {
    return this.slots.size;
  }

  private file(subject: KeepaliveSubject, deadline: number): void {
    const slot = Math.ceil(deadline / SLOT_MS);
    subject.keepaliveSlot = slot;
    const list = this.slots.get(slot);
    if (list === undefined) this.slots.set(slot, [subject]);
    else list.push(subject);
    if (this.timer === undefined) {
      this.nextSlot = Math.floor(Date.now() / SLOT_MS);
      this.timer = setInterval(() => this.tick(), SLOT_MS);
      this.timer.unref(); // sockets keep the process alive, not this
    }
  }

  private tick(): void {
    const now = Date.now();
    const current = Math.floor(now / SLOT_MS);
    for (; this.nextSlot <= current; this.nextSlot++) {
      const list = this.slots.get(this.nextSlot);
      if (list === undefined) continue;
      this.slots.delete(this.nextSlot);
      for (const subject of list) {
        if (subject.keepaliveSlot !== this.nextSlot) continue;
        const deadline = subject.lastPacketAt + subject.keepaliveLimitMs;
        if (deadline > now) {
          this.file(subject, deadline); // heard from meanwhile: look again at the new deadline
        } else {
          subject.keepaliveSlot = -1;
          subject.onKeepaliveExpired();
        }
      }
    }
    if (this.slots.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }
}

/** One wheel for every connection of the process. */
export const keepaliveWheel = new KeepaliveWheel();
