// The router: matches a PUBLISH against the subscription index and hands it to each
// matching DeliveryTarget once (overlapping subscriptions of one client are combined
// [MQTT-3.3.4-2..5]), and to one member of each matching shared group.

import type { QoS } from '../protocol/packets.js';
import type { SharedGroup, SubscriberOptions, SubscriptionIndex } from '../topics/subscription-index.js';
import type { DeliveryTarget } from './delivery-target.js';
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
  // Reused between publishes (routing is synchronous); a nested publish gets fresh ones.
  private combined = new Map<string, Combined>();
  private groups: SharedGroup[] = [];
  private routing = false;

  constructor(options: RouterOptions) {
    this.index = options.index;
    this.resolve = options.resolve;
  }

  /** Delivers a message to every matching subscriber; returns how many deliveries were made. */
  publish(message: RoutedMessage): number {
    const nested = this.routing;
    const combined = nested ? new Map<string, Combined>() : this.combined;
    const groups: SharedGroup[] = nested ? [] : this.groups;
    this.routing = true;
    try {
      const publisherId = message.stored.publisherId;
      this.index.match(
        message.stored.topic,
        (clientId: string, options: SubscriberOptions) => {
          // [MQTT-3.8.3-3] No Local: not back to the publisher
          if (options.noLocal && clientId === publisherId) return;
          const existing = combined.get(clientId);
          if (existing === undefined) {
            combined.set(clientId, {
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
        },
        (group: SharedGroup) => {
          groups.push(group);
        },
      );
      let deliveries = 0;
      for (const [clientId, options] of combined) {
        const target = this.resolve(clientId);
        if (target === undefined) continue;
        target.deliver(message, {
          qos: Math.min(message.stored.qos, options.qos) as QoS, // [MQTT-3.8.4-8] min(published, granted)
          // [MQTT-3.3.1-12] retain-as-published keeps the flag, otherwise it is cleared
          retain: options.retainAsPublished ? message.stored.retain : false,
          subscriptionIdentifiers: options.subscriptionIdentifiers,
        });
        deliveries++;
      }
      for (const group of groups) {
        if (this.deliverToGroup(group, message, undefined)) deliveries++;
      }
      return deliveries;
    } finally {
      if (!nested) {
        this.routing = false;
        combined.clear();
        groups.length = 0;
      }
    }
  }

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
