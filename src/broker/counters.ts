// Traffic counters for $SYS and metrics: plain numbers incremented on the hot path.

import type { DropReason } from '../hooks/hooks.js';

export class Counters {
  messagesReceived = 0;
  messagesSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  messagesDropped = 0;
  connectionsAccepted = 0;
  /**
   * Messages a session did not deliver, by reason: part of `messagesDropped`, whose remainder
   * is publishes the broker refused and QoS 0 messages shed on a congested worker link.
   */
  readonly droppedByReason = new Map<DropReason, number>();

  countDropped(reason: DropReason): void {
    this.messagesDropped++;
    this.droppedByReason.set(reason, (this.droppedByReason.get(reason) ?? 0) + 1);
  }
}
