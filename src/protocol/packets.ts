// Packet shapes shared by the codec, the broker and the benchmark tool.
// These are plain data: the codec turns bytes into them and back, nothing more.

/** 3 = MQTT 3.1 (MQIsdp), 4 = MQTT 3.1.1, 5 = MQTT 5.0 */
export type ProtocolVersion = 3 | 4 | 5;
export type QoS = 0 | 1 | 2;

export type PacketType =
  | 'connect'
  | 'connack'
  | 'publish'
  | 'puback'
  | 'pubrec'
  | 'pubrel'
  | 'pubcomp'
  | 'subscribe'
  | 'suback'
  | 'unsubscribe'
  | 'unsuback'
  | 'pingreq'
  | 'pingresp'
  | 'disconnect'
  | 'auth';

/** Control packet type numbers from the fixed header (MQTT 5 §2.1.2). */
export const PacketTypeCode = {
  connect: 1,
  connack: 2,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  suback: 9,
  unsubscribe: 10,
  unsuback: 11,
  pingreq: 12,
  pingresp: 13,
  disconnect: 14,
  auth: 15,
} as const satisfies Record<PacketType, number>;

/** A user property: order is significant and keys may repeat (MQTT 5 §3.3.2.3.7). */
export type UserProperty = [key: string, value: string];

/**
 * Every MQTT 5 property. Which ones a packet may carry is checked by the codec
 * (a property not allowed in a packet is a protocol error / malformed packet).
 */
export interface Properties {
  payloadFormatIndicator?: number; // 0x01 byte
  messageExpiryInterval?: number; // 0x02 four byte integer
  contentType?: string; // 0x03 UTF-8 string
  responseTopic?: string; // 0x08 UTF-8 string
  correlationData?: Buffer; // 0x09 binary data
  /** 0x0B variable byte integer; PUBLISH may carry several, SUBSCRIBE at most one. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number; // 0x11 four byte integer
  assignedClientIdentifier?: string; // 0x12 UTF-8 string
  serverKeepAlive?: number; // 0x13 two byte integer
  authenticationMethod?: string; // 0x15 UTF-8 string
  authenticationData?: Buffer; // 0x16 binary data
  requestProblemInformation?: number; // 0x17 byte
  willDelayInterval?: number; // 0x18 four byte integer
  requestResponseInformation?: number; // 0x19 byte
  responseInformation?: string; // 0x1A UTF-8 string
  serverReference?: string; // 0x1C UTF-8 string
  reasonString?: string; // 0x1F UTF-8 string
  receiveMaximum?: number; // 0x21 two byte integer
  topicAliasMaximum?: number; // 0x22 two byte integer
  topicAlias?: number; // 0x23 two byte integer
  maximumQoS?: number; // 0x24 byte
  retainAvailable?: number; // 0x25 byte
  userProperties?: UserProperty[]; // 0x26 UTF-8 string pair
  maximumPacketSize?: number; // 0x27 four byte integer
  wildcardSubscriptionAvailable?: number; // 0x28 byte
  subscriptionIdentifiersAvailable?: number; // 0x29 byte
  sharedSubscriptionAvailable?: number; // 0x2A byte
}

export interface WillMessage {
  topic: string;
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  /** MQTT 5 will properties (will delay interval, message expiry, content type, ...). */
  properties?: Properties;
}

export interface ConnectPacket {
  type: 'connect';
  /** 'MQTT' for 3.1.1/5.0, 'MQIsdp' for 3.1 */
  protocolName: string;
  protocolVersion: ProtocolVersion;
  /** Clean Session (3.1.1) / Clean Start (5.0) */
  clean: boolean;
  keepalive: number;
  clientId: string;
  username?: string;
  password?: Buffer;
  will?: WillMessage;
  properties?: Properties;
}

export interface ConnackPacket {
  type: 'connack';
  sessionPresent: boolean;
  /** MQTT 5 reason code, or the 3.1.1 return code (0..5) when encoding for 3.1.1. */
  reasonCode: number;
  properties?: Properties;
}

export interface PublishPacket {
  type: 'publish';
  topic: string;
  /** A slice of the received buffer when decoded: never copied by the codec. */
  payload: Buffer;
  qos: QoS;
  retain: boolean;
  dup: boolean;
  /** Present if and only if qos > 0. */
  packetId?: number;
  properties?: Properties;
}

export interface PubackPacket {
  type: 'puback';
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export interface PubrecPacket {
  type: 'pubrec';
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export interface PubrelPacket {
  type: 'pubrel';
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}
export interface PubcompPacket {
  type: 'pubcomp';
  packetId: number;
  reasonCode: number;
  properties?: Properties;
}

export type RetainHandling = 0 | 1 | 2;

export interface Subscription {
  topicFilter: string;
  /** Maximum QoS requested. */
  qos: QoS;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: RetainHandling;
}

export interface SubscribePacket {
  type: 'subscribe';
  packetId: number;
  subscriptions: Subscription[];
  properties?: Properties;
}

export interface SubackPacket {
  type: 'suback';
  packetId: number;
  /** Granted QoS (0,1,2) or a failure reason code (0x80 on 3.1.1; MQTT 5 codes on 5.0). */
  reasonCodes: number[];
  properties?: Properties;
}

export interface UnsubscribePacket {
  type: 'unsubscribe';
  packetId: number;
  topicFilters: string[];
  properties?: Properties;
}

export interface UnsubackPacket {
  type: 'unsuback';
  packetId: number;
  /** MQTT 5 only; empty / ignored on 3.1.1. */
  reasonCodes: number[];
  properties?: Properties;
}

export interface PingreqPacket {
  type: 'pingreq';
}
export interface PingrespPacket {
  type: 'pingresp';
}

export interface DisconnectPacket {
  type: 'disconnect';
  /** MQTT 5 only (0 on 3.1.1). */
  reasonCode: number;
  properties?: Properties;
}

export interface AuthPacket {
  type: 'auth';
  reasonCode: number;
  properties?: Properties;
}

export type Packet =
  | ConnectPacket
  | ConnackPacket
  | PublishPacket
  | PubackPacket
  | PubrecPacket
  | PubrelPacket
  | PubcompPacket
  | SubscribePacket
  | SubackPacket
  | UnsubscribePacket
  | UnsubackPacket
  | PingreqPacket
  | PingrespPacket
  | DisconnectPacket
  | AuthPacket;
