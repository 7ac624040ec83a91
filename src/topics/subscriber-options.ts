// The per-subscription options the router needs at delivery time, and a small intern table:
// almost every subscription uses one of 36 option combinations, so storing one shared frozen
// object per combination keeps the per-subscription cost to a pointer.

import type { QoS } from '../protocol/packets.js';

export interface SubscriberOptions {
  /** Maximum QoS granted. */
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
  subscriptionIdentifier?: number;
}

const internTable: SubscriberOptions[] = [];
for (let index = 0; index < 36; index++) {
  internTable.push(
    Object.freeze({
      qos: Math.floor(index / 12) as QoS,
      noLocal: Math.floor(index / 6) % 2 === 1,
      retainAsPublished: Math.floor(index / 3) % 2 === 1,
      retainHandling: (index % 3) as 0 | 1 | 2,
    }),
  );
}

/**
 * A frozen copy of the options holding only the known fields; shared between subscriptions when
 * there is no subscription identifier. Callers must treat what they get back as read-only.
 */
export function internSubscriberOptions(options: SubscriberOptions): SubscriberOptions {
  if (options.subscriptionIdentifier === undefined) {
    const index =
      options.qos * 12 + (options.noLocal ? 6 : 0) + (options.retainAsPublished ? 3 : 0) + options.retainHandling;
    const interned = internTable[index];
    if (interned !== undefined) return interned;
  }
  return Object.freeze({
    qos: options.qos,
    noLocal: options.noLocal,
    retainAsPublished: options.retainAsPublished,
    retainHandling: options.retainHandling,
    subscriptionIdentifier: options.subscriptionIdentifier,
  });
}
