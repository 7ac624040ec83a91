// The router delivers through this interface, so a subscriber may later live in another
// worker process or node: the router never touches sockets or sessions directly.

import type { QoS } from '../protocol/packets.js';
import type { RoutedMessage } from './routed-message.js';

export interface DeliveryOptions {
  /** QoS of this delivery: min(published QoS, granted QoS). */
  qos: QoS;
  /** RETAIN flag as it is to be sent to this subscriber. */
  retain: boolean;
  /** MQTT 5 subscription identifiers of every matching subscription. */
  subscriptionIdentifiers?: number[];
  /** Set when the delivery came through a shared subscription (the full $share filter). */
  sharedFilter?: string;
}

export interface DeliveryTarget {
  readonly clientId: string;
  /** Connected now (used to prefer online members of a shared group). */
  isOnline(): boolean;
  deliver(message: RoutedMessage, options: DeliveryOptions): void;
}
