// Per-subscriber bookkeeping of what arrived from each publisher: detects gaps
// (lost messages) and messages arriving behind a later one (out of order or duplicated).

interface PublisherStream {
  /** The sequence number expected next from this publisher. */
  next: number;
  received: number;
}

export class SequenceTracker {
  private readonly streams = new Map<number, PublisherStream>();
  /** Messages whose sequence number jumped ahead of the expected one, counted as the size of the jump. */
  gaps = 0;
  outOfOrder = 0;

  /** @param countFromZero when true, a stream's first message is expected to be number 0 (the tool saw the publisher start). */
  constructor(private readonly countFromZero: boolean) {}

  // Most subscribers hear from one publisher (fan-out, pairs): skip the map lookup for it.
  private lastPublisherId = -1;
  private lastStream: PublisherStream | undefined;

  record(publisherId: number, sequence: number): void {
    let stream = publisherId === this.lastPublisherId ? this.lastStream : this.streams.get(publisherId);
    if (stream === undefined) {
      stream = { next: this.countFromZero ? 0 : sequence, received: 0 };
      this.streams.set(publisherId, stream);
    }
    this.lastPublisherId = publisherId;
    this.lastStream = stream;
    stream.received++;
    if (sequence === stream.next) {
      stream.next = sequence + 1;
    } else if (sequence > stream.next) {
      this.gaps += sequence - stream.next;
      stream.next = sequence + 1;
    } else {
      this.outOfOrder++;
    }
  }

  receivedFrom(publisherId: number): number {
    return this.streams.get(publisherId)?.received ?? 0;
  }

  get publisherCount(): number {
    return this.streams.size;
  }
}
