// The state of a Connection that most connections never use, kept in one object created on first
// use: an idle connection then pays one field for all of it instead of a field for each (issue #6,
// memory per idle connection). Connection exposes these through accessors.

import type { Logger } from 'pino';
import type { DropReason, EnhancedAuthExchange } from '../hooks/hooks.js';
import type { ConnectPacket } from '../protocol/packets.js';
import type { OutboundAliases } from './topic-aliases.js';

export class ConnectionExtras {
  /** 5.0 topic aliases the client set. */
  inboundAliases: Map<number, string> | undefined = undefined;
  /** 5.0 topic aliases the broker assigns (the client's Topic Alias Maximum > 0). */
  outboundAliases: OutboundAliases | undefined = undefined;
  /** 5.0 Request Problem Information: false forbids reason strings except on PUBLISH, CONNACK, DISCONNECT. */
  problemInformation = true;
  /** Enhanced authentication in progress or done (5.0 AUTH). */
  auth: { method: string; exchange: EnhancedAuthExchange | undefined } | undefined = undefined;
  /** The CONNECT waiting for enhanced authentication to finish. */
  pendingConnect: { packet: ConnectPacket; assignedClientId: string | undefined } | undefined = undefined;
  /** Closes the connection when the authentication expires. */
  expiryTimer: NodeJS.Timeout | undefined = undefined;
  /** Why the connection closed, for the clientDisconnected hook. */
  closeReasonCode: number | undefined = undefined;
  closeError: Error | undefined = undefined;
  /** Child logger carrying clientId and remoteAddress; remade if the id changes. */
  logger: Logger | undefined = undefined;
  loggerClientId = '';
  /** Messages to this client dropped while it was connected, by reason (one summary line at close). */
  dropped: Partial<Record<DropReason, number>> | undefined = undefined;
  /** A 'drain' listener resumes the session (added the first time the socket held too much). */
  drainWatched = false;
}
