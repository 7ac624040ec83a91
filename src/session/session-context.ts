// Broker-wide services a Session reports to (kept as an interface to avoid a dependency on the broker).

import type { PublishPacket } from '../protocol/packets.js';
import type { DropReason } from '../hooks/hooks.js';
import type { ClientInfo } from '../hooks/hooks.js';
import type { Store } from '../store/store.js';

export interface SessionContext {
  readonly store: Store;
  readonly maxQueuedMessages: number;
  readonly queueQoS0: boolean;
  onDropped(clientId: string, packet: () => PublishPacket, reason: DropReason): void;
  onDelivered(client: ClientInfo, packet: () => PublishPacket): void;
  /**
   * Runs `send` once everything recorded so far is committed: durable in sync mode, committed
   * (not yet fsync'd) in async mode, at once with the memory store. A QoS 2 step is never shown
   * to the client before its state would survive a kill -9.
   */
  afterDurable(send: () => void): void;
}
