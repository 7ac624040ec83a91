// PUBACK / PUBREC / PUBCOMP for messages we sent, and PUBREL for QoS 2 messages we received.

import type { PubackPacket, PubcompPacket, PubrecPacket, PubrelPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { Connection } from './connection.js';

export function handlePuback(connection: Connection, packet: PubackPacket): void {
  // An unknown id is ignored: it may be a late ack of a message that expired or moved away.
  connection.session!.acknowledge(packet.packetId);
}

export function handlePubrec(connection: Connection, packet: PubrecPacket): void {
  const known = connection.session!.received(packet.packetId, packet.reasonCode);
  if (packet.reasonCode >= 0x80 && known) return; // 5.0: the exchange ends here
  // Answer PUBREC with PUBREL; 5.0 says 0x92 when the id is unknown
  connection.send({
    type: 'pubrel',
    packetId: packet.packetId,
    reasonCode: known || connection.protocolVersion !== 5 ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound,
  });
}

export function handlePubcomp(connection: Connection, packet: PubcompPacket): void {
  connection.session!.completed(packet.packetId);
}

export function handlePubrel(connection: Connection, packet: PubrelPacket): void {
  const session = connection.session!;
  const known = session.incomingQoS2.delete(packet.packetId);
  if (known && session.persistent) connection.broker.store.deleteIncomingQoS2(session.clientId, packet.packetId);
  // PUBCOMP with the same id; 5.0 0x92 if we never saw it
  connection.send({
    type: 'pubcomp',
    packetId: packet.packetId,
    reasonCode: known || connection.protocolVersion !== 5 ? ReasonCode.Success : ReasonCode.PacketIdentifierNotFound,
  });
}
