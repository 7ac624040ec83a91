// Retained messages: one per topic, replaced by a newer one, deleted by an empty payload
// [MQTT-3.3.1-10/11], bounded in count and bytes, recorded in the store.

import { RetainedIndex } from '../topics/retained-index.js';
import type { Store } from '../store/store.js';
import { RoutedMessage } from './routed-message.js';

export interface RetainedLimits {
  maxRetainedMessages: number;
  maxRetainedBytes: number;
}

export type RetainOutcome = 'stored' | 'deleted' | 'limit';

export class RetainedMessages {
  private readonly index = new RetainedIndex<RoutedMessage>();
  private readonly store: Store;
  private readonly limits: RetainedLimits;
  private bytes = 0;

  constructor(store: Store, limits: RetainedLimits) {
    this.store = store;
    this.limits = limits;
  }

  get count(): number {
    return this.index.size;
  }

  get totalBytes(): number {
    return this.bytes;
  }

  /** Applies a PUBLISH with RETAIN=1: store/replace, or delete on an empty payload. */
  retain(message: RoutedMessage, persist = true): RetainOutcome {
    const { topic, payload } = message.stored;
    const previous = this.index.get(topic);
    if (payload.length === 0) {
      // [MQTT-3.3.1-10] an empty retained payload removes the retained message; [MQTT-3.3.1-11] and is not stored
      if (previous !== undefined) {
        this.remove(topic, previous);
        if (persist) this.store.putRetained(topic, undefined);
      }
      return 'deleted';
    }
    const size = sizeOf(message);
    const previousSize = previous === undefined ? 0 : sizeOf(previous);
    const count = this.index.size + (previous === undefined ? 1 : 0);
    if (count > this.limits.maxRetainedMessages || this.bytes - previousSize + size > this.limits.maxRetainedBytes) {
      return 'limit';
    }
    this.index.set(topic, message); // [MQTT-3.3.1-5] replaces any previous retained message of the topic
    this.bytes += size - previousSize;
    if (persist) this.store.putRetained(topic, message.stored);
    return 'stored';
  }

  /** Restores a retained message recovered from the store (no store write). */
  restore(message: RoutedMessage): void {
    const previous = this.index.get(message.stored.topic);
    if (previous !== undefined) this.bytes -= sizeOf(previous);
    this.index.set(message.stored.topic, message);
    this.bytes += sizeOf(message);
  }

  /** Visits every live retained message matching a filter; expired ones are removed on the way. */
  match(filter: string, visit: (message: RoutedMessage) => void): void {
    const now = Date.now();
    const expired: RoutedMessage[] = [];
    this.index.match(filter, (_topic, message) => {
      if (message.isExpired(now)) expired.push(message);
      else visit(message);
    });
    for (const message of expired) this.expire(message);
  }

  get(topic: string): RoutedMessage | undefined {
    return this.index.get(topic);
  }

  private expire(message: RoutedMessage): void {
    const topic = message.stored.topic;
    if (this.index.get(topic) !== message) return;
    this.remove(topic, message);
    this.store.putRetained(topic, undefined);
  }

  private remove(topic: string, message: RoutedMessage): void {
    this.index.delete(topic);
    this.bytes -= sizeOf(message);
  }
}

function sizeOf(message: RoutedMessage): number {
  return message.stored.payload.length + message.stored.topic.length;
}
