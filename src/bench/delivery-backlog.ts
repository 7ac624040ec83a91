// Delivery-paced flow control for the combined scenarios: at most `limit`
// deliveries may be on their way at once, shared evenly between publishers. A
// publisher whose share is in flight pauses until half of it has arrived, so a
// flood measures what the broker delivers, not how much it can buffer or drop.

export class DeliveryBacklog {
  /** Messages each publisher may have undelivered. */
  private readonly shares: Float64Array;
  private readonly delivered: Float64Array;
  /** When each publisher started waiting for deliveries (0 = not waiting). */
  private readonly waitingSince: Float64Array;

  /**
   * @param receivers per publisher, how many subscribers receive each of its messages
   * @param limit deliveries in flight over all publishers; 0 = no limit
   */
  constructor(
    private readonly receivers: readonly number[],
    readonly limit: number,
  ) {
    const publishers = receivers.length;
    this.shares = Float64Array.from(receivers, (count) => Math.max(1, limit / (publishers * Math.max(1, count))));
    this.delivered = new Float64Array(publishers);
    this.waitingSince = new Float64Array(publishers);
  }

  get enabled(): boolean {
    return this.limit > 0;
  }

  /** How many more messages publisher `index` may send now, having sent `sent`. */
  allowance(index: number, sent: number): number {
    const receivers = this.receivers[index] as number;
    if (!this.enabled || receivers === 0) return Number.POSITIVE_INFINITY;
    return Math.floor((this.shares[index] as number) - (sent - (this.delivered[index] as number) / receivers));
  }

  /** Publisher `index` used up its share at time `now` and waits for deliveries. */
  wait(index: number, now: number): void {
    if (this.waitingSince[index] === 0) this.waitingSince[index] = now;
  }

  isWaiting(index: number): boolean {
    return this.waitingSince[index] !== 0;
  }

  /** One of publisher `index`'s messages reached a subscriber. Returns true when the publisher should resume. */
  recordDelivery(index: number, sent: number): boolean {
    this.delivered[index] = (this.delivered[index] as number) + 1;
    return this.waitingSince[index] !== 0 && this.tryResume(index, sent);
  }

  /** Resume publisher `index` if half its share has arrived; returns whether it did. */
  tryResume(index: number, sent: number): boolean {
    if (this.allowance(index, sent) < (this.shares[index] as number) / 2) return false;
    this.waitingSince[index] = 0;
    return true;
  }

  /**
   * Publishers that waited longer than `stallMs` lost their backlog (the broker
   * dropped it): write it off so they go on. Returns their indices.
   */
  writeOffStalled(now: number, stallMs: number, sentOf: (index: number) => number): number[] {
    const resumed: number[] = [];
    for (let index = 0; index < this.waitingSince.length; index++) {
      const since = this.waitingSince[index] as number;
      if (since === 0 || now - since <= stallMs) continue;
      this.delivered[index] = sentOf(index) * (this.receivers[index] as number);
      this.waitingSince[index] = 0;
      resumed.push(index);
    }
    return resumed;
  }
}
