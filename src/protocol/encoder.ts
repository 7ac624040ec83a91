// Packet -> bytes. Each encoder computes the remaining length first, allocates the
// whole packet once, then writes it front to back.
import { stringSize, variableIntegerSize, writeBinary, writeString, writeVariableInteger } from './byte-writer.js';
import { malformed, protocolError } from './errors.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketType,
  Properties,
  ProtocolVersion,
  PublishPacket,
  SubackPacket,
  SubscribePacket,
  UnsubackPacket,
  UnsubscribePacket,
} from './packets.js';
import { propertiesSize, WILL_CONTEXT, writeProperties } from './properties.js';

export function encodePacket(packet: Packet, protocolVersion: ProtocolVersion): Buffer {
  switch (packet.type) {
    case 'publish':
      return encodePublish(packet, protocolVersion);
    case 'connect':
      return encodeConnect(packet, protocolVersion);
    case 'connack':
      return encodeConnack(packet, protocolVersion);
    case 'puback':
      return encodeAcknowledgement(0x40, 4, packet.packetId, packet.reasonCode, packet.properties, protocolVersion, 'puback');
    case 'pubrec':
      return encodeAcknowledgement(0x50, 5, packet.packetId, packet.reasonCode, packet.properties, protocolVersion, 'pubrec');
    case 'pubrel':
      return encodeAcknowledgement(0x62, 6, packet.packetId, packet.reasonCode, packet.properties, protocolVersion, 'pubrel'); // [MQTT-3.6.1-1]
    case 'pubcomp':
      return encodeAcknowledgement(0x70, 7, packet.packetId, packet.reasonCode, packet.properties, protocolVersion, 'pubcomp');
    case 'subscribe':
      return encodeSubscribe(packet, protocolVersion);
    case 'suback':
      return encodeSuback(packet, protocolVersion);
    case 'unsubscribe':
      return encodeUnsubscribe(packet, protocolVersion);
    case 'unsuback':
      return encodeUnsuback(packet, protocolVersion);
    case 'pingreq':
      return Buffer.from([0xc0, 0x00]);
    case 'pingresp':
      return Buffer.from([0xd0, 0x00]);
    case 'disconnect':
      return encodeReasonOnly(0xe0, 14, packet, protocolVersion);
    case 'auth':
      if (protocolVersion !== 5) throw protocolError('AUTH_BEFORE_V5', 'auth: only exists in MQTT 5', 'auth');
      return encodeReasonOnly(0xf0, 15, packet, protocolVersion);
  }
}

/** Allocate a packet and write its fixed header; the body starts at `buf.length - remainingLength`. */
function allocate(firstByte: number, remainingLength: number): Buffer {
  const buf = Buffer.allocUnsafe(1 + variableIntegerSize(remainingLength) + remainingLength);
  buf[0] = firstByte;
  writeVariableInteger(buf, 1, remainingLength);
  return buf;
}

function checkPacketId(packetId: number | undefined, type: PacketType): number {
  if (packetId === undefined || !Number.isInteger(packetId) || packetId < 1 || packetId > 65_535) {
    throw protocolError('PACKET_ID_ZERO', `${type}: packet identifier must be 1..65535, got ${String(packetId)}`, type); // [MQTT-2.2.1-3]
  }
  return packetId;
}

/** Size of a property block including its length prefix. */
function propertyBlockSize(size: number): number {
  return variableIntegerSize(size) + size;
}

export function encodePublish(packet: PublishPacket, protocolVersion: ProtocolVersion): Buffer {
  const qos = packet.qos;
  if (qos !== 0 && qos !== 1 && qos !== 2) throw malformed('INVALID_QOS', `publish: QoS ${String(qos)}`, 'publish'); // [MQTT-3.3.1-4]
  const payload = packet.payload;
  const propertyBytes = protocolVersion === 5 ? propertiesSize(packet.properties, 3, 'publish') : 0;
  const remaining =
    stringSize(packet.topic) + (qos > 0 ? 2 : 0) + (protocolVersion === 5 ? propertyBlockSize(propertyBytes) : 0) + payload.length;
  // [MQTT-3.3.1-2] DUP is only meaningful (and only sent) with QoS > 0.
  const firstByte = 0x30 | (packet.dup && qos > 0 ? 0x08 : 0) | (qos << 1) | (packet.retain ? 0x01 : 0);
  const buf = allocate(firstByte, remaining);
  let pos = writeString(buf, buf.length - remaining, packet.topic);
  if (qos > 0) {
    const packetId = checkPacketId(packet.packetId, 'publish');
    buf[pos++] = packetId >> 8;
    buf[pos++] = packetId & 0xff;
  }
  if (protocolVersion === 5) pos = writeProperties(buf, pos, packet.properties, propertyBytes);
  payload.copy(buf, pos);
  return buf;
}

function encodeConnect(packet: ConnectPacket, protocolVersion: ProtocolVersion): Buffer {
  const v5 = protocolVersion === 5;
  const protocolName = protocolVersion === 3 ? 'MQIsdp' : 'MQTT';
  const will = packet.will;
  const propertyBytes = v5 ? propertiesSize(packet.properties, 1, 'connect') : 0;
  const willPropertyBytes = v5 && will !== undefined ? propertiesSize(will.properties, WILL_CONTEXT, 'connect') : 0;
  let remaining = stringSize(protocolName) + 1 + 1 + 2 + stringSize(packet.clientId);
  if (v5) remaining += propertyBlockSize(propertyBytes);
  let flags = packet.clean ? 0x02 : 0;
  if (will !== undefined) {
    remaining += (v5 ? propertyBlockSize(willPropertyBytes) : 0) + stringSize(will.topic) + 2 + will.payload.length;
    flags |= 0x04 | (will.qos << 3) | (will.retain ? 0x20 : 0);
  }
  if (packet.username !== undefined) {
    remaining += stringSize(packet.username);
    flags |= 0x80;
  }
  if (packet.password !== undefined) {
    if (packet.username === undefined && !v5) {
      throw malformed('PASSWORD_WITHOUT_USERNAME', 'connect: a password needs a user name before MQTT 5', 'connect'); // [MQTT-3.1.2-22]
    }
    remaining += 2 + packet.password.length;
    flags |= 0x40;
  }
  const buf = allocate(0x10, remaining);
  let pos = writeString(buf, buf.length - remaining, protocolName);
  buf[pos++] = protocolVersion;
  buf[pos++] = flags;
  buf.writeUInt16BE(packet.keepalive, pos);
  pos += 2;
  if (v5) pos = writeProperties(buf, pos, packet.properties, propertyBytes);
  pos = writeString(buf, pos, packet.clientId);
  if (will !== undefined) {
    if (v5) pos = writeProperties(buf, pos, will.properties, willPropertyBytes);
    pos = writeString(buf, pos, will.topic);
    pos = writeBinary(buf, pos, will.payload);
  }
  if (packet.username !== undefined) pos = writeString(buf, pos, packet.username);
  if (packet.password !== undefined) writeBinary(buf, pos, packet.password);
  return buf;
}

function encodeConnack(packet: ConnackPacket, protocolVersion: ProtocolVersion): Buffer {
  const propertyBytes = protocolVersion === 5 ? propertiesSize(packet.properties, 2, 'connack') : 0;
  const remaining = 2 + (protocolVersion === 5 ? propertyBlockSize(propertyBytes) : 0);
  const buf = allocate(0x20, remaining);
  let pos = buf.length - remaining;
  // [MQTT-3.2.2-4] session present only with a success code; 3.1 has no session present flag.
  buf[pos++] = packet.sessionPresent && packet.reasonCode === 0 && protocolVersion !== 3 ? 1 : 0;
  buf[pos++] = packet.reasonCode;
  if (protocolVersion === 5) writeProperties(buf, pos, packet.properties, propertyBytes);
  return buf;
}

function encodeAcknowledgement(
  firstByte: number,
  context: number,
  packetId: number,
  reasonCode: number,
  properties: Properties | undefined,
  protocolVersion: ProtocolVersion,
  type: PacketType,
): Buffer {
  checkPacketId(packetId, type);
  let remaining = 2;
  let propertyBytes = 0;
  if (protocolVersion === 5) {
    propertyBytes = propertiesSize(properties, context, type);
    // The reason code and property length may be omitted when they are 0 (§3.4.2.1).
    if (propertyBytes > 0) remaining = 3 + propertyBlockSize(propertyBytes);
    else if (reasonCode !== 0) remaining = 3;
  }
  const buf = allocate(firstByte, remaining);
  let pos = buf.length - remaining;
  buf[pos++] = packetId >> 8;
  buf[pos++] = packetId & 0xff;
  if (remaining > 2) buf[pos++] = reasonCode;
  if (remaining > 3) writeProperties(buf, pos, properties, propertyBytes);
  return buf;
}

function encodeSubscribe(packet: SubscribePacket, protocolVersion: ProtocolVersion): Buffer {
  const packetId = checkPacketId(packet.packetId, 'subscribe');
  if (packet.subscriptions.length === 0) throw protocolError('NO_SUBSCRIPTIONS', 'subscribe: no topic filter', 'subscribe'); // [MQTT-3.8.3-3]
  const propertyBytes = protocolVersion === 5 ? propertiesSize(packet.properties, 8, 'subscribe') : 0;
  let remaining = 2 + (protocolVersion === 5 ? propertyBlockSize(propertyBytes) : 0);
  for (const subscription of packet.subscriptions) remaining += stringSize(subscription.topicFilter) + 1;
  const buf = allocate(0x82, remaining); // [MQTT-3.8.1-1]
  let pos = buf.length - remaining;
  buf[pos++] = packetId >> 8;
  buf[pos++] = packetId & 0xff;
  if (protocolVersion === 5) pos = writeProperties(buf, pos, packet.properties, propertyBytes);
  for (const subscription of packet.subscriptions) {
    pos = writeString(buf, pos, subscription.topicFilter);
    buf[pos++] =
      protocolVersion === 5
        ? subscription.qos |
          (subscription.noLocal ? 0x04 : 0) |
          (subscription.retainAsPublished ? 0x08 : 0) |
          (subscription.retainHandling << 4)
        : subscription.qos;
  }
  return buf;
}

function encodeSuback(packet: SubackPacket, protocolVersion: ProtocolVersion): Buffer {
  const packetId = checkPacketId(packet.packetId, 'suback');
  const propertyBytes = protocolVersion === 5 ? propertiesSize(packet.properties, 9, 'suback') : 0;
  const remaining = 2 + (protocolVersion === 5 ? propertyBlockSize(propertyBytes) : 0) + packet.reasonCodes.length;
  const buf = allocate(0x90, remaining);
  let pos = buf.length - remaining;
  buf[pos++] = packetId >> 8;
  buf[pos++] = packetId & 0xff;
  if (protocolVersion === 5) pos = writeProperties(buf, pos, packet.properties, propertyBytes);
  for (const code of packet.reasonCodes) buf[pos++] = code;
  return buf;
}

function encodeUnsubscribe(packet: UnsubscribePacket, protocolVersion: ProtocolVersion): Buffer {
  const packetId = checkPacketId(packet.packetId, 'unsubscribe');
  if (packet.topicFilters.length === 0) throw protocolError('NO_SUBSCRIPTIONS', 'unsubscribe: no topic filter', 'unsubscribe'); // [MQTT-3.10.3-2]
  const propertyBytes = protocolVersion === 5 ? propertiesSize(packet.properties, 10, 'unsubscribe') : 0;
  let remaining = 2 + (protocolVersion === 5 ? propertyBlockSize(propertyBytes) : 0);
  for (const filter of packet.topicFilters) remaining += stringSize(filter);
  const buf = allocate(0xa2, remaining); // [MQTT-3.10.1-1]
  let pos = buf.length - remaining;
  buf[pos++] = packetId >> 8;
  buf[pos++] = packetId & 0xff;
  if (protocolVersion === 5) pos = writeProperties(buf, pos, packet.properties, propertyBytes);
  for (const filter of packet.topicFilters) pos = writeString(buf, pos, filter);
  return buf;
}

function encodeUnsuback(packet: UnsubackPacket, protocolVersion: ProtocolVersion): Buffer {
  const packetId = checkPacketId(packet.packetId, 'unsuback');
  const v5 = protocolVersion === 5;
  const propertyBytes = v5 ? propertiesSize(packet.properties, 11, 'unsuback') : 0;
  const remaining = 2 + (v5 ? propertyBlockSize(propertyBytes) + packet.reasonCodes.length : 0);
  const buf = allocate(0xb0, remaining);
  let pos = buf.length - remaining;
  buf[pos++] = packetId >> 8;
  buf[pos++] = packetId & 0xff;
  if (v5) {
    pos = writeProperties(buf, pos, packet.properties, propertyBytes);
    for (const code of packet.reasonCodes) buf[pos++] = code;
  }
  return buf;
}

/** DISCONNECT and AUTH: an optional reason code and optional properties (MQTT 5 only). */
function encodeReasonOnly(firstByte: number, context: number, packet: DisconnectPacket | AuthPacket, protocolVersion: ProtocolVersion): Buffer {
  if (protocolVersion !== 5) return Buffer.from([firstByte, 0x00]);
  const propertyBytes = propertiesSize(packet.properties, context, packet.type);
  let remaining = 0;
  if (propertyBytes > 0) remaining = 1 + propertyBlockSize(propertyBytes);
  else if (packet.reasonCode !== 0) remaining = 1;
  const buf = allocate(firstByte, remaining);
  let pos = buf.length - remaining;
  if (remaining > 0) buf[pos++] = packet.reasonCode;
  if (remaining > 1) writeProperties(buf, pos, packet.properties, propertyBytes);
  return buf;
}

export { PublishEncoder } from './publish-encoder.js';
export type { PublishHeaderOptions, PublishSource } from './publish-encoder.js';
