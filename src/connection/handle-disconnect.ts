// DISCONNECT from the client: normal close discards the will [MQTT-3.1.2-10], 5.0 0x04 keeps it,
// and 5.0 may change the Session Expiry Interval.

import type { DisconnectPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { Connection } from './connection.js';
import { violation } from './violation.js';

export function handleDisconnect(connection: Connection, packet: DisconnectPacket): void {
  const session = connection.session!;
  if (connection.protocolVersion === 5) {
    const expiry = packet.properties?.sessionExpiryInterval;
    if (expiry !== undefined) {
      // [MQTT-3.14.2-2] a session that was to end with the connection cannot be extended now
      if (connection.connectExpiryWasZero && expiry !== 0) {
        throw violation(ReasonCode.ProtocolError, 'SESSION_EXPIRY_AFTER_ZERO', 'session expiry set on DISCONNECT after 0 in CONNECT', 'disconnect');
      }
      session.setExpiryInterval(Math.min(expiry, connection.broker.config.limits.maxSessionExpiry));
    }
    if (packet.reasonCode !== ReasonCode.DisconnectWithWillMessage) connection.will = undefined;
  } else {
    connection.will = undefined; // [MQTT-3.14.4-3]
  }
  connection.log('debug', 'client disconnected', packet.reasonCode);
  // [MQTT-3.14.4-1] the server closes the connection; nothing is sent back
  connection.end();
}
