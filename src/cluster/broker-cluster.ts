// What the broker calls in multi-process mode (implemented by ClusterNode). A single-process
// broker has none and behaves as before.

import type { BrokerStats } from '../broker/broker.js';
import type { RoutedMessage } from '../router/routed-message.js';
import type { SubscriptionIndex, SubscriptionIndexOptions } from '../topics/subscription-index.js';

export interface BrokerCluster {
  /** The broker's subscription index, observed so local route changes reach the other workers. */
  createIndex(options: SubscriptionIndexOptions): SubscriptionIndex;
  /**
   * A message published on this worker, already routed to its local non-shared subscribers:
   * forwards it to the other workers with matching subscribers and gives each matching shared
   * group (cluster-wide) to one member. Returns the deliveries made or handed to other workers.
   */
  forward(message: RoutedMessage): number;
  /** Before SUBACK: resolves once every worker knows the routes of the subscriptions just made (undefined: nothing to wait for). */
  routesPropagated(): Promise<void> | undefined;
  /** A retained message was set or deleted on this worker: every worker applies it. */
  retainedChanged(message: RoutedMessage): void;
  /** Before CONNACK: makes this worker the owner of the client id, bringing its session over from another worker. */
  claim(clientId: string, clean: boolean): Promise<void>;
  /** A session ended on this worker (expiry, clean start, takeover by another worker). */
  sessionEnded(clientId: string): void;
  /** A departed shared-subscription member's message that no local member could take. */
  reroute(message: RoutedMessage, group: string, filter: string): boolean;
  /** Cluster-wide statistics for $SYS: this worker's plus the latest the other workers reported. */
  clusterStats(local: BrokerStats): BrokerStats;
}
