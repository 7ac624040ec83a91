// The worker's own SubscriptionIndex, counting local subscribers per filter so the worker can
// announce a route when a filter gets its first local subscriber and withdraw it with the last.

import { SubscriptionIndex, type SubscriberOptions, type SubscriptionIndexOptions } from '../topics/subscription-index.js';

export type RouteChangeListener = (filter: string, present: boolean) => void;

export class ObservedSubscriptionIndex extends SubscriptionIndex {
  private readonly counts = new Map<string, number>();
  private readonly onChange: RouteChangeListener;

  constructor(options: SubscriptionIndexOptions, onChange: RouteChangeListener) {
    super(options);
    this.onChange = onChange;
  }

  /** Every filter (shared ones with their '$share/{group}/' prefix) with a local subscriber. */
  filters(): IterableIterator<string> {
    return this.counts.keys();
  }

  override subscribe(clientId: string, topicFilter: string, options: SubscriberOptions): boolean {
    const added = super.subscribe(clientId, topicFilter, options);
    if (added) {
      const count = (this.counts.get(topicFilter) ?? 0) + 1;
      this.counts.set(topicFilter, count);
      if (count === 1) this.onChange(topicFilter, true);
    }
    return added;
  }

  override unsubscribe(clientId: string, topicFilter: string): boolean {
    const removed = super.unsubscribe(clientId, topicFilter);
    if (removed) {
      const count = (this.counts.get(topicFilter) ?? 1) - 1;
      if (count === 0) {
        this.counts.delete(topicFilter);
        this.onChange(topicFilter, false);
      } else {
        this.counts.set(topicFilter, count);
      }
    }
    return removed;
  }
}
