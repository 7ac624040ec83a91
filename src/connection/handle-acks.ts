// PUBACK / PUBREC / PUBCOMP for messages we sent, and PUBREL for QoS 2 messages we received.

import type { PubackPacket, PubcompPacket, PubrecPacket, PubrelPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { Connection } from './connection.js';

export function handlePuback(connection: Connection, packet: PubackPacket): void {
  // An unknown id is ignored: it may be a late ack of a message that expired or moved away.
  connection.session!.acknowledge(packet.packetId);
}

export function handlePubrec(connection: Connection, packet: PubrecPacket): void {
  // A known PUBREC is answered by the session (PUBREL once 'released' is durable).
  if (connection.session!.received(packet.packetId, packet.reasonCode)) return;
  // Unknown id: PUBREL anyway so the client can finish; 5.0 says 0x92
  connection.send({
    type: 'pubrel',
    packetId: packet.packetId,
    reasonCode: connection.protocolVersion !== 5 ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound,
  });
}

export function handlePubcomp(connection: Connection, packet: PubcompPacket): void {
  connection.session!.completed(packet.packetId);
}

export function handlePubrel(connection: Connection, packet: PubrelPacket): void {
  const session = connection.session!;
  const packetId = packet.packetId;
  const known = session.hasIncomingQoS2(packetId) && session.incomingQoS2.delete(packetId);
  if (known && session.persistent) connection.broker.store.deleteIncomingQoS2(session.clientId, packetId);
  // PUBCOMP with the same id (5.0: 0x92 if we never saw it), once the id's release is committed
  // (durable in sync mode; committed in async mode too): after a crash a remembered id would
  // swallow the client's next message that reuses it.
  const reasonCode = known || connection.protocolVersion !== 5 ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound;
  connection.broker.acks.addCommitted({
    send: () => connection.send({ type: 'pubcomp', packetId, reasonCode }),
    fail: (error) => connection.disconnect(ReasonCode.UnspecifiedError, error),
  });
}
