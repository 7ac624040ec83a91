// What connections and packet handlers see of the broker (implemented by Broker).

import type { Logger } from 'pino';
import type { PetrelConfig } from '../config/schema.js';
import type { ClientInfo, EnhancedAuthProvider } from '../hooks/hooks.js';
import type { WillMessage } from '../protocol/packets.js';
import type { RetainedMessages } from '../router/retained-messages.js';
import type { RoutedMessage } from '../router/routed-message.js';
import type { Router } from '../router/router.js';
import type { SessionRegistry } from '../session/session-registry.js';
import type { Store, StoredMessage } from '../store/store.js';
import type { AckBatcher } from './ack-batcher.js';
import type { Counters } from './counters.js';
import type { HookRunner } from './hook-runner.js';
import type { Connection } from '../connection/connection.js';
import type { BrokerCluster } from '../cluster/broker-cluster.js';

export interface BrokerContext {
  readonly config: PetrelConfig;
  readonly logger: Logger;
  readonly store: Store;
  readonly hooks: HookRunner;
  readonly sessions: SessionRegistry;
  readonly router: Router;
  readonly retained: RetainedMessages;
  readonly counters: Counters;
  readonly acks: AckBatcher;
  readonly enhancedAuth: ReadonlyMap<string, EnhancedAuthProvider>;
  /** Connections that completed CONNECT, by client id. */
  readonly connections: Set<Connection>;
  /** Multi-process mode (undefined for a single process). */
  readonly cluster: BrokerCluster | undefined;
  /** True once stop() began: new connections are refused. */
  readonly stopping: boolean;
  /** Whether a client nobody authenticated may connect on this listener. */
  allowAnonymous(listener: string): boolean;
  /** Retains (if flagged) and routes a message; returns the number of deliveries. */
  publish(stored: StoredMessage, publisher: ClientInfo | undefined): number;
  publishWill(clientId: string, will: WillMessage): void;
  /** A connection's stream closed, whether or not it completed CONNECT (after connectionLost). */
  socketClosed(connection: Connection): void;
  /** A connected client's connection ended: wills, session expiry, shared re-routing. */
  connectionLost(connection: Connection, will: WillMessage | undefined): void;
  /** Re-routes entries of a departed shared-subscription member. */
  /** Re-routes an entry of a departed shared-subscription member; false if no other member can take it. */
  reroute(message: RoutedMessage, sharedFilter: string, excludeClientId: string): boolean;
}
