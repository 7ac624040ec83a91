// Decoding of one packet body, given its fixed header. Straight-line code per type;
// the framing (fixed header, remaining length, chunk assembly) lives in decoder.ts.
import type { ByteReader } from './byte-reader.js';
import { MqttProtocolError, malformed, protocolError } from './errors.js';
import type {
  AuthPacket,
  ConnackPacket,
  ConnectPacket,
  DisconnectPacket,
  Packet,
  PacketType,
  ProtocolVersion,
  PublishPacket,
  QoS,
  RetainHandling,
  SubackPacket,
  SubscribePacket,
  Subscription,
  UnsubackPacket,
  UnsubscribePacket,
  WillMessage,
} from './packets.js';
import { readProperties, WILL_CONTEXT } from './properties.js';
import { ReasonCode } from './reason-codes.js';
import {
  AUTH_REASON_CODES_V5,
  CONNACK_REASON_CODES_V5,
  CONNACK_RETURN_CODES_V4,
  DISCONNECT_REASON_CODES_V5,
  PUBACK_REASON_CODES_V5,
  PUBREL_REASON_CODES_V5,
  SUBACK_REASON_CODES_V5,
  SUBACK_RETURN_CODES_V4,
  UNSUBACK_REASON_CODES_V5,
} from './reason-code-sets.js';
import { hasWildcard, isSharedSubscription } from './validate.js';

/** Packet type names indexed by the type code of the fixed header (0 is reserved). */
export const PACKET_TYPE_NAMES: readonly (PacketType | undefined)[] = [
  undefined,
  'connect',
  'connack',
  'publish',
  'puback',
  'pubrec',
  'pubrel',
  'pubcomp',
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'pingreq',
  'pingresp',
  'disconnect',
  'auth',
];

/**
 * Check the fixed header's type and flags; called as soon as the first byte is seen,
 * before the body is buffered. PUBLISH flags are checked in decodePublish.
 */
export function checkFixedHeader(firstByte: number, protocolVersion: ProtocolVersion): PacketType {
  const typeCode = firstByte >> 4;
  const flags = firstByte & 0x0f;
  const type = PACKET_TYPE_NAMES[typeCode];
  if (type === undefined || (type === 'auth' && protocolVersion !== 5)) {
    throw malformed('RESERVED_PACKET_TYPE', `packet type ${typeCode} is reserved`);
  }
  if (typeCode === 3) return type;
  const expected = typeCode === 6 || typeCode === 8 || typeCode === 10 ? 0b0010 : 0;
  if (flags !== expected) {
    throw malformed('RESERVED_FLAGS', `${type}: fixed header flags must be ${expected}, got ${flags}`, type); // [MQTT-2.1.3-1]
  }
  return type;
}

function ensureConsumed(reader: ByteReader): void {
  if (reader.pos !== reader.end) {
    throw malformed('TRAILING_BYTES', `${reader.packetType}: ${reader.end - reader.pos} bytes beyond the packet's content`, reader.packetType);
  }
}

function checkReasonCode(table: Uint8Array, code: number, packetType: PacketType): void {
  if (table[code] !== 1) {
    throw malformed('INVALID_REASON_CODE', `${packetType}: reason code 0x${code.toString(16)} not allowed`, packetType);
  }
}

function nonZeroPacketId(reader: ByteReader): number {
  const packetId = reader.uint16('packet identifier');
  if (packetId === 0) {
    throw protocolError('PACKET_ID_ZERO', `${reader.packetType}: packet identifier 0`, reader.packetType); // [MQTT-2.2.1-3]
  }
  return packetId;
}

/** Decode the body of a packet whose type and flags already passed checkFixedHeader. */
export function decodeBody(reader: ByteReader, firstByte: number, protocolVersion: ProtocolVersion): Packet {
  switch (firstByte >> 4) {
    case 1:
      return decodeConnect(reader);
    case 2:
      return decodeConnack(reader, protocolVersion);
    case 3:
      return decodePublish(reader, firstByte, protocolVersion);
    case 4:
    case 5:
      return decodeAcknowledgement(reader, protocolVersion, PUBACK_REASON_CODES_V5);
    case 6:
    case 7:
      return decodeAcknowledgement(reader, protocolVersion, PUBREL_REASON_CODES_V5);
    case 8:
      return decodeSubscribe(reader, protocolVersion);
    case 9:
      return decodeSuback(reader, protocolVersion);
    case 10:
      return decodeUnsubscribe(reader, protocolVersion);
    case 11:
      return decodeUnsuback(reader, protocolVersion);
    case 12:
      ensureConsumed(reader);
      return { type: 'pingreq' };
    case 13:
      ensureConsumed(reader);
      return { type: 'pingresp' };
    case 14:
      return decodeDisconnect(reader, protocolVersion);
    default:
      return decodeAuth(reader);
  }
}

export function decodePublish(reader: ByteReader, firstByte: number, protocolVersion: ProtocolVersion): PublishPacket {
  const qos = (firstByte >> 1) & 0x03;
  if (qos === 3) throw malformed('INVALID_QOS', 'publish: QoS 3', 'publish'); // [MQTT-3.3.1-4]
  const dup = (firstByte & 0x08) !== 0;
  if (dup && qos === 0) throw malformed('DUP_WITH_QOS0', 'publish: DUP set on a QoS 0 message', 'publish'); // [MQTT-3.3.1-2]
  const topic = reader.topicName('topic name');
  const packet: PublishPacket = {
    type: 'publish',
    topic,
    payload: reader.buf, // replaced below; every field is set up front so all PUBLISH objects share one shape
    qos: qos as QoS,
    retain: (firstByte & 0x01) !== 0,
    dup,
    packetId: undefined,
    properties: undefined,
  };
  if (qos > 0) packet.packetId = nonZeroPacketId(reader); // [MQTT-2.2.1-3]
  if (protocolVersion === 5) packet.properties = readProperties(reader, 3);
  if (topic.length === 0) {
    if (protocolVersion !== 5 || packet.properties?.topicAlias === undefined) {
      throw protocolError('EMPTY_TOPIC_NAME', 'publish: empty topic name without a topic alias', 'publish'); // [MQTT-4.7.3-1]
    }
  } else if (reader.topicHasWildcard) {
    throw new MqttProtocolError('WILDCARD_IN_TOPIC_NAME', ReasonCode.TopicNameInvalid, 'publish: wildcard in topic name', 'publish'); // [MQTT-3.3.2-2]
  }
  packet.payload = reader.buf.subarray(reader.pos, reader.end);
  reader.pos = reader.end;
  return packet;
}

function decodeConnect(reader: ByteReader): ConnectPacket {
  const protocolName = reader.string('protocol name');
  const level = reader.byte('protocol level');
  if (protocolName === 'MQTT') {
    if (level !== 4 && level !== 5) throw unsupportedVersion(protocolName, level); // [MQTT-3.1.2-2]
  } else if (protocolName === 'MQIsdp') {
    if (level !== 3) throw unsupportedVersion(protocolName, level);
  } else {
    // [MQTT-3.1.2-1] the server may answer CONNACK 0x84 / 0x01 before closing.
    throw new MqttProtocolError('INVALID_PROTOCOL_NAME', ReasonCode.UnsupportedProtocolVersion, `connect: unknown protocol name '${protocolName}'`, 'connect');
  }
  const protocolVersion = level as ProtocolVersion;
  const flags = reader.byte('connect flags');
  if ((flags & 0x01) !== 0) throw malformed('RESERVED_FLAGS', 'connect: reserved flag is set', 'connect'); // [MQTT-3.1.2-3]
  const willFlag = (flags & 0x04) !== 0;
  const willQoS = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const passwordFlag = (flags & 0x40) !== 0;
  const usernameFlag = (flags & 0x80) !== 0;
  if (willFlag) {
    if (willQoS === 3) throw malformed('INVALID_QOS', 'connect: will QoS 3', 'connect'); // [MQTT-3.1.2-14]
  } else {
    if (willQoS !== 0) throw malformed('WILL_FLAGS_INCONSISTENT', 'connect: will QoS set without will flag', 'connect'); // [MQTT-3.1.2-13]
    if (willRetain) throw malformed('WILL_FLAGS_INCONSISTENT', 'connect: will retain set without will flag', 'connect'); // [MQTT-3.1.2-15]
  }
  if (passwordFlag && !usernameFlag && protocolVersion !== 5) {
    throw malformed('PASSWORD_WITHOUT_USERNAME', 'connect: password flag set without user name flag', 'connect'); // [MQTT-3.1.2-22]
  }
  const keepalive = reader.uint16('keep alive');
  const packet: ConnectPacket = {
    type: 'connect',
    protocolName,
    protocolVersion,
    clean: (flags & 0x02) !== 0,
    keepalive,
    clientId: '',
  };
  if (protocolVersion === 5) {
    const properties = readProperties(reader, 1);
    if (properties !== undefined) {
      if (properties.authenticationData !== undefined && properties.authenticationMethod === undefined) {
        throw protocolError('AUTH_DATA_WITHOUT_METHOD', 'connect: authentication data without authentication method', 'connect');
      }
      packet.properties = properties;
    }
  }
  packet.clientId = reader.string('client identifier'); // [MQTT-3.1.3-3]
  if (willFlag) {
    const willProperties = protocolVersion === 5 ? readProperties(reader, WILL_CONTEXT) : undefined;
    const topic = reader.string('will topic');
    if (topic.length === 0 || hasWildcard(topic)) {
      throw new MqttProtocolError('INVALID_WILL_TOPIC', ReasonCode.TopicNameInvalid, 'connect: will topic is not a valid topic name', 'connect');
    }
    const will: WillMessage = { topic, payload: reader.binary('will payload'), qos: willQoS as QoS, retain: willRetain };
    if (willProperties !== undefined) will.properties = willProperties;
    packet.will = will;
  }
  if (usernameFlag) packet.username = reader.string('user name');
  if (passwordFlag) packet.password = reader.binary('password');
  ensureConsumed(reader);
  return packet;
}

function unsupportedVersion(protocolName: string, level: number): MqttProtocolError {
  return new MqttProtocolError(
    'UNSUPPORTED_PROTOCOL_VERSION',
    ReasonCode.UnsupportedProtocolVersion,
    `connect: protocol '${protocolName}' level ${level} is not supported`,
    'connect',
  );
}

function decodeConnack(reader: ByteReader, protocolVersion: ProtocolVersion): ConnackPacket {
  const acknowledgeFlags = reader.byte('connect acknowledge flags');
  if ((acknowledgeFlags & 0xfe) !== 0) throw malformed('RESERVED_FLAGS', 'connack: reserved acknowledge flags set', 'connack'); // [MQTT-3.2.2-1]
  const reasonCode = reader.byte('reason code');
  const sessionPresent = acknowledgeFlags === 1;
  checkReasonCode(protocolVersion === 5 ? CONNACK_REASON_CODES_V5 : CONNACK_RETURN_CODES_V4, reasonCode, 'connack');
  if (sessionPresent && reasonCode !== 0) {
    throw protocolError('SESSION_PRESENT_ON_FAILURE', 'connack: session present with a failure code', 'connack'); // [MQTT-3.2.2-4]
  }
  const packet: ConnackPacket = { type: 'connack', sessionPresent, reasonCode };
  if (protocolVersion === 5) {
    const properties = readProperties(reader, 2);
    if (properties !== undefined) packet.properties = properties;
  }
  ensureConsumed(reader);
  return packet;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP: packet id, then on MQTT 5 an optional reason code and properties. */
function decodeAcknowledgement(reader: ByteReader, protocolVersion: ProtocolVersion, reasonCodes: Uint8Array): Packet {
  const type = reader.packetType as 'puback' | 'pubrec' | 'pubrel' | 'pubcomp';
  const packetId = nonZeroPacketId(reader);
  let reasonCode = 0;
  let properties;
  if (protocolVersion === 5 && reader.remaining > 0) {
    reasonCode = reader.byte('reason code');
    checkReasonCode(reasonCodes, reasonCode, type);
    if (reader.remaining > 0) properties = readProperties(reader, typeCodeOf(type));
  }
  ensureConsumed(reader);
  if (properties !== undefined) return { type, packetId, reasonCode, properties };
  return { type, packetId, reasonCode };
}

function typeCodeOf(type: 'puback' | 'pubrec' | 'pubrel' | 'pubcomp'): number {
  return type === 'puback' ? 4 : type === 'pubrec' ? 5 : type === 'pubrel' ? 6 : 7;
}

function decodeSubscribe(reader: ByteReader, protocolVersion: ProtocolVersion): SubscribePacket {
  const packetId = nonZeroPacketId(reader);
  const packet: SubscribePacket = { type: 'subscribe', packetId, subscriptions: [] };
  if (protocolVersion === 5) {
    const properties = readProperties(reader, 8);
    if (properties !== undefined) packet.properties = properties;
  }
  const subscriptions: Subscription[] = packet.subscriptions;
  while (reader.pos < reader.end) {
    const topicFilter = reader.string('topic filter');
    const options = reader.byte('subscription options');
    const qos = options & 0x03;
    if (protocolVersion === 5) {
      if ((options & 0xc0) !== 0) throw malformed('RESERVED_FLAGS', 'subscribe: reserved subscription option bits set', 'subscribe'); // [MQTT-3.8.3-5]
      if (qos === 3) throw protocolError('INVALID_QOS', 'subscribe: maximum QoS 3', 'subscribe');
      const retainHandling = (options >> 4) & 0x03;
      if (retainHandling === 3) throw protocolError('INVALID_RETAIN_HANDLING', 'subscribe: retain handling 3', 'subscribe');
      const noLocal = (options & 0x04) !== 0;
      if (noLocal && isSharedSubscription(topicFilter)) {
        throw protocolError('NO_LOCAL_ON_SHARED', 'subscribe: no local set on a shared subscription', 'subscribe'); // [MQTT-3.8.3-4]
      }
      subscriptions.push({
        topicFilter,
        qos: qos as QoS,
        noLocal,
        retainAsPublished: (options & 0x08) !== 0,
        retainHandling: retainHandling as RetainHandling,
      });
    } else {
      if ((options & 0xfc) !== 0) throw malformed('RESERVED_FLAGS', 'subscribe: reserved requested QoS bits set', 'subscribe'); // [MQTT-3-8.3-4]
      if (qos === 3) throw malformed('INVALID_QOS', 'subscribe: requested QoS 3', 'subscribe'); // [MQTT-3-8.3-4]
      subscriptions.push({ topicFilter, qos: qos as QoS, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    }
  }
  if (subscriptions.length === 0) throw protocolError('NO_SUBSCRIPTIONS', 'subscribe: no topic filter', 'subscribe'); // [MQTT-3.8.3-3]
  return packet;
}

function decodeSuback(reader: ByteReader, protocolVersion: ProtocolVersion): SubackPacket {
  const packetId = nonZeroPacketId(reader);
  const packet: SubackPacket = { type: 'suback', packetId, reasonCodes: [] };
  if (protocolVersion === 5) {
    const properties = readProperties(reader, 9);
    if (properties !== undefined) packet.properties = properties;
  }
  const table = protocolVersion === 5 ? SUBACK_REASON_CODES_V5 : SUBACK_RETURN_CODES_V4;
  while (reader.pos < reader.end) {
    const code = reader.byte('reason code');
    checkReasonCode(table, code, 'suback');
    packet.reasonCodes.push(code);
  }
  if (packet.reasonCodes.length === 0) throw protocolError('NO_REASON_CODES', 'suback: no reason code', 'suback');
  return packet;
}

function decodeUnsubscribe(reader: ByteReader, protocolVersion: ProtocolVersion): UnsubscribePacket {
  const packetId = nonZeroPacketId(reader);
  const packet: UnsubscribePacket = { type: 'unsubscribe', packetId, topicFilters: [] };
  if (protocolVersion === 5) {
    const properties = readProperties(reader, 10);
    if (properties !== undefined) packet.properties = properties;
  }
  while (reader.pos < reader.end) packet.topicFilters.push(reader.string('topic filter'));
  if (packet.topicFilters.length === 0) throw protocolError('NO_SUBSCRIPTIONS', 'unsubscribe: no topic filter', 'unsubscribe'); // [MQTT-3.10.3-2]
  return packet;
}

function decodeUnsuback(reader: ByteReader, protocolVersion: ProtocolVersion): UnsubackPacket {
  const packetId = nonZeroPacketId(reader);
  const packet: UnsubackPacket = { type: 'unsuback', packetId, reasonCodes: [] };
  if (protocolVersion === 5) {
    const properties = readProperties(reader, 11);
    if (properties !== undefined) packet.properties = properties;
    while (reader.pos < reader.end) {
      const code = reader.byte('reason code');
      checkReasonCode(UNSUBACK_REASON_CODES_V5, code, 'unsuback');
      packet.reasonCodes.push(code);
    }
    if (packet.reasonCodes.length === 0) throw protocolError('NO_REASON_CODES', 'unsuback: no reason code', 'unsuback');
  }
  ensureConsumed(reader);
  return packet;
}

function decodeDisconnect(reader: ByteReader, protocolVersion: ProtocolVersion): DisconnectPacket {
  const packet: DisconnectPacket = { type: 'disconnect', reasonCode: 0 };
  if (protocolVersion === 5 && reader.remaining > 0) {
    packet.reasonCode = reader.byte('reason code');
    checkReasonCode(DISCONNECT_REASON_CODES_V5, packet.reasonCode, 'disconnect');
    if (reader.remaining > 0) {
      const properties = readProperties(reader, 14);
      if (properties !== undefined) packet.properties = properties;
    }
  }
  ensureConsumed(reader); // [MQTT-3.14.1-1] 3.1.1 DISCONNECT has no variable header
  return packet;
}

function decodeAuth(reader: ByteReader): AuthPacket {
  const packet: AuthPacket = { type: 'auth', reasonCode: 0 };
  if (reader.remaining > 0) {
    packet.reasonCode = reader.byte('reason code');
    checkReasonCode(AUTH_REASON_CODES_V5, packet.reasonCode, 'auth');
    if (reader.remaining > 0) {
      const properties = readProperties(reader, 15);
      if (properties !== undefined) packet.properties = properties;
    }
  }
  ensureConsumed(reader);
  return packet;
}
