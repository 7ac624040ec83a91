// Outbound topic aliases (5.0): the broker assigns an alias to each new topic it sends, up to
// the client's Topic Alias Maximum [MQTT-3.3.2-8], and then sends only the alias. Aliases are
// never re-mapped, so a full table just means later topics go without one.

export class OutboundAliases {
  private readonly maximum: number;
  private readonly byTopic = new Map<string, number>();

  constructor(maximum: number) {
    this.maximum = maximum;
  }

  get(topic: string): number | undefined {
    return this.byTopic.get(topic);
  }

  /** The alias the next new topic would get, or undefined when the table is full. */
  next(): number | undefined {
    return this.byTopic.size < this.maximum ? this.byTopic.size + 1 : undefined;
  }

  assign(topic: string, alias: number): void {
    this.byTopic.set(topic, alias);
  }
}
