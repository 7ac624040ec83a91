// The router: matches a PUBLISH against the subscription index and hands it to each
// matching DeliveryTarget once (overlapping subscriptions of one client are combined
// [MQTT-3.3.4-2..5]), and to one member of each matching shared group.

import type { QoS } from '../protocol/packets.js';
import type { SharedGroup, SubscriberOptions, SubscriptionIndex } from '../topics/subscription-index.js';
import type { DeliveryOptions, DeliveryTarget } from './delivery-target.js';
import type { RoutedMessage } from './routed-message.js';

interface Combined {
  qos: QoS;
  retainAsPublished: boolean;
  subscriptionIdentifiers: number[] | undefined;
}

export interface RouterOptions {
  index: SubscriptionIndex;
  /** The delivery target of a client id (a local session today). */
  resolve(clientId: string): DeliveryTarget | undefined;
}

export class Router {
  readonly index: SubscriptionIndex;
  private readonly resolve: (clientId: string) => DeliveryTarget | undefined;
  // Reused between publishes (routing is synchronous); a re-entrant publish uses a fresh router.
  // The first matching client is kept in fields and the map holds the others: most messages have
  // one subscriber, and filling and clearing a Map allocates on every publish.
  private firstClientId: string | undefined;
  private readonly first: Combined = { qos: 0, retainAsPublished: false, subscriptionIdentifiers: undefined };
  private readonly combined = new Map<string, Combined>();
  /** Passed to DeliveryTarget.deliver, which reads it during the call only. */
  private readonly delivery: DeliveryOptions = { qos: 0, retain: false, subscriptionIdentifiers: undefined };
  private readonly groups: SharedGroup[] = [];
  private routing = false;
  private publisherId: string | undefined;

  constructor(options: RouterOptions) {
    this.index = options.index;
    this.resolve = options.resolve;
  }

  /**
   * Delivers a message to every matching subscriber (and, unless told otherwise, to one member
   * of each matching shared group); returns how many deliveries were made.
   */
  publish(message: RoutedMessage, includeShared = true): number {
    if (this.routing) return new Router({ index: this.index, resolve: this.resolve }).publish(message, includeShared); // re-entrant call
    this.routing = true;
    this.publisherId = message.stored.publisherId;
    try {
      this.index.match(message.stored.topic, this.onSubscriber, this.onGroup);
      let deliveries = 0;
      if (this.firstClientId !== undefined) {
        if (this.deliverCombined(message, this.firstClientId, this.first)) deliveries++;
        for (const [clientId, options] of this.combined) {
          if (this.deliverCombined(message, clientId, options)) deliveries++;
        }
      }
      if (includeShared) {
        for (const group of this.groups) {
          if (this.deliverToGroup(group, message, undefined)) deliveries++;
        }
      }
      return deliveries;
    } finally {
      this.routing = false;
      this.publisherId = undefined;
      this.firstClientId = undefined;
      if (this.combined.size > 0) this.combined.clear();
      this.groups.length = 0;
    }
  }

  private deliverCombined(message: RoutedMessage, clientId: string, options: Combined): boolean {
    const target = this.resolve(clientId);
    if (target === undefined) return false;
    const delivery = this.delivery;
    delivery.qos = Math.min(message.stored.qos, options.qos) as QoS; // [MQTT-3.8.4-8] min(published, granted)
    // [MQTT-3.3.1-12] retain-as-published keeps the flag, otherwise it is cleared
    delivery.retain = options.retainAsPublished ? message.stored.retain : false;
    delivery.subscriptionIdentifiers = options.subscriptionIdentifiers;
    target.deliver(message, delivery);
    return true;
  }

  // Bound once: the index calls these for every match without a closure per publish.
  private readonly onSubscriber = (clientId: string, options: SubscriberOptions): void => {
    // [MQTT-3.8.3-3] No Local: not back to the publisher
    if (options.noLocal && clientId === this.publisherId) return;
    if (this.firstClientId === undefined) {
      this.firstClientId = clientId;
      const first = this.first;
      first.qos = options.qos;
      first.retainAsPublished = options.retainAsPublished;
      // A new array per publish: the session keeps it with the queued delivery.
      first.subscriptionIdentifiers = options.subscriptionIdentifier === undefined ? undefined : [options.subscriptionIdentifier];
      return;
    }
    const existing = clientId === this.firstClientId ? this.first : this.combined.get(clientId);
    if (existing === undefined) {
      this.combined.set(clientId, {
        qos: options.qos,
        retainAsPublished: options.retainAsPublished,
        subscriptionIdentifiers: options.subscriptionIdentifier === undefined ? undefined : [options.subscriptionIdentifier],
      });
      return;
    }
    // [MQTT-3.3.4-2] one delivery at the highest granted QoS, [MQTT-3.3.4-3] with every identifier
    if (options.qos > existing.qos) existing.qos = options.qos;
    if (options.retainAsPublished) existing.retainAsPublished = true;
    if (options.subscriptionIdentifier !== undefined) {
      (existing.subscriptionIdentifiers ??= []).push(options.subscriptionIdentifier);
    }
  };

  private readonly onGroup = (group: SharedGroup): void => {
    this.groups.push(group);
  };

  /**
   * Gives a message to one member of a shared group (online members first, then offline
   * persistent ones), never to `excludeClientId`. False if the group has no member left.
   */
  deliverToGroup(group: SharedGroup, message: RoutedMessage, excludeClientId: string | undefined): boolean {
    const publisherId = message.stored.publisherId;
    const topic = message.stored.topic;
    let memberId = group.pick(publisherId, topic, (clientId) => clientId !== excludeClientId && this.resolve(clientId)?.isOnline() === true);
    memberId ??= group.pick(publisherId, topic, (clientId) => clientId !== excludeClientId && this.resolve(clientId) !== undefined);
    if (memberId === undefined) return false;
    const options = group.members.get(memberId)!;
    this.resolve(memberId)!.deliver(message, {
      qos: Math.min(message.stored.qos, options.qos) as QoS,
      retain: options.retainAsPublished ? message.stored.retain : false,
      subscriptionIdentifiers: options.subscriptionIdentifier === undefined ? undefined : [options.subscriptionIdentifier],
      sharedFilter: `$share/${group.name}/${group.filter}`,
    });
    return true;
  }
}
