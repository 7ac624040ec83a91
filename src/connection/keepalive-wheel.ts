// Keep-alive deadlines of every connection on one shared timer. A Timeout per connection costs
// about 250 bytes (the Timeout, its closure and context) and a re-insertion into the timer
// list on every packet; here a connection only records when it last heard from its client, and
// the wheel looks at it once per keep-alive period (its slot is re-filed lazily if it was active).
// Times are slot numbers counted from when this module loaded: small integers, which V8 keeps in
// the connection object itself (a Date.now() value would cost a separate 16-byte box per field).

export interface KeepaliveSubject {
  /** Milliseconds without a packet after which the connection is closed (1.5 × Keep Alive). */
  readonly keepaliveLimitMs: number;
  /** currentSlot() of the last packet from the client. */
  heardAt: number;
  /** The slot the subject is filed under; copies of it in other slots are stale (-1: not watched). */
  keepaliveSlot: number;
  onKeepaliveExpired(): void;
}

/** Resolution of the wheel: a deadline is noticed at most two slots late (plus timer jitter). */
export const SLOT_MS = 100;

const epoch = Date.now();

/**
 * The slot of the present moment, rounded up: a time recorded this way is never earlier than the
 * real one, so a deadline computed from it is never early (at most one slot late).
 */
export function currentSlot(): number {
  return Math.ceil((Date.now() - epoch) / SLOT_MS);
}

/** The slot whose tick the present moment is in (rounded down). */
function elapsedSlot(now: number): number {
  return Math.floor((now - epoch) / SLOT_MS);
}

function deadlineOf(subject: KeepaliveSubject): number {
  return subject.heardAt + Math.ceil(subject.keepaliveLimitMs / SLOT_MS);
}

export class KeepaliveWheel {
  private readonly slots = new Map<number, KeepaliveSubject[]>();
  private timer: NodeJS.Timeout | undefined;
  /** The next slot tick() has to look at. */
  private nextSlot = 0;

  /** Starts (or restarts) watching; the client counts as heard from now. */
  watch(subject: KeepaliveSubject): void {
    subject.heardAt = currentSlot();
    this.file(subject, deadlineOf(subject));
  }

  /** Stops watching; the stale slot entry is skipped and dropped when its time comes. */
  unwatch(subject: KeepaliveSubject): void {
    subject.keepaliveSlot = -1;
  }

  /** Number of slots holding entries (for tests: the timer stops once it reaches 0). */
  get pendingSlots(): number {
    return this.slots.size;
  }

  private file(subject: KeepaliveSubject, slot: number): void {
    subject.keepaliveSlot = slot;
    const list = this.slots.get(slot);
    if (list === undefined) this.slots.set(slot, [subject]);
    else list.push(subject);
    if (this.timer === undefined) {
      this.nextSlot = elapsedSlot(Date.now());
      this.timer = setInterval(() => this.tick(), SLOT_MS);
      this.timer.unref(); // sockets keep the process alive, not this
    }
  }

  private tick(): void {
    const current = elapsedSlot(Date.now());
    for (; this.nextSlot <= current; this.nextSlot++) {
      const list = this.slots.get(this.nextSlot);
      if (list === undefined) continue;
      this.slots.delete(this.nextSlot);
      for (const subject of list) {
        if (subject.keepaliveSlot !== this.nextSlot) continue;
        const deadline = deadlineOf(subject);
        if (deadline > current) {
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
