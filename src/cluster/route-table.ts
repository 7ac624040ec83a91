// Which workers have subscribers for what. Every worker announces the filters it has at least
// one local subscriber for (a '$share/{group}/{filter}' filter announces membership of that
// group); each worker keeps every worker's announcements, itself included, in a
// SubscriptionIndex keyed by worker id. Matching a topic then yields the workers to forward to
// and, per matching shared group, a SharedGroup whose members are workers.

import type { SharedStrategy } from '../config/schema.js';
import { SharedGroup, SubscriptionIndex } from '../topics/subscription-index.js';
import type { SubscriberOptions } from '../topics/subscriber-options.js';

// The options of a route are irrelevant (the receiving worker applies its subscribers' own).
const routeOptions: SubscriberOptions = { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 };

export interface RouteMatch {
  /** Other workers with at least one matching non-shared subscriber, each once. */
  workers: number[];
  /** Matching shared groups, across all workers (this one included); members are worker ids. */
  groups: SharedGroup[];
}

export class RouteTable {
  readonly self: number;
  private readonly index: SubscriptionIndex;
  private readonly byWorker = new Map<number, Set<string>>();
  private readonly workerKeys: string[] = [];

  constructor(self: number, sharedStrategy: SharedStrategy) {
    this.self = self;
    this.index = new SubscriptionIndex({ sharedStrategy });
  }

  /** Distinct (worker, filter) routes. */
  get size(): number {
    return this.index.subscriptionCount;
  }

  add(worker: number, filter: string): void {
    let filters = this.byWorker.get(worker);
    if (filters === undefined) {
      filters = new Set();
      this.byWorker.set(worker, filters);
    }
    if (filters.has(filter)) return;
    filters.add(filter);
    this.index.subscribe(this.keyOf(worker), filter, routeOptions);
  }

  remove(worker: number, filter: string): void {
    const filters = this.byWorker.get(worker);
    if (filters === undefined || !filters.delete(filter)) return;
    this.index.unsubscribe(this.keyOf(worker), filter);
  }

  /** Forgets every route of a worker (it died or left the mesh). */
  removeWorker(worker: number): void {
    const filters = this.byWorker.get(worker);
    if (filters === undefined) return;
    const key = this.keyOf(worker);
    for (const filter of filters) this.index.unsubscribe(key, filter);
    this.byWorker.delete(worker);
  }

  filtersOf(worker: number): ReadonlySet<string> {
    return this.byWorker.get(worker) ?? new Set();
  }

  match(topic: string): RouteMatch {
    const workers: number[] = [];
    const groups: SharedGroup[] = [];
    const self = this.self;
    this.index.match(
      topic,
      (key) => {
        const worker = Number(key);
        // A worker appears once per matching filter: keep it once (lists are a handful long).
        if (worker !== self && !workers.includes(worker)) workers.push(worker);
      },
      (group) => {
        groups.push(group);
      },
    );
    return { workers, groups };
  }

  /** The cluster-wide group '$share/{group}/{filter}' (members are worker ids as strings). */
  group(name: string, filter: string): SharedGroup | undefined {
    return this.index.getSharedGroup(name, filter);
  }

  private keyOf(worker: number): string {
    return (this.workerKeys[worker] ??= String(worker));
  }
}
