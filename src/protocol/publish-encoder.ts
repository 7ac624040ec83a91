// Fan-out encoding of one PUBLISH to many subscribers: the bytes before the payload
// are built once per (qos, retain, dup) and copied with only the packet id patched;
// the payload itself is never copied (write header then payload to the socket).
import { variableIntegerSize, writeVariableInteger } from './byte-writer.js';
import { malformed, protocolError } from './errors.js';
import type { Properties, ProtocolVersion, QoS } from './packets.js';
import { propertiesSize, writeProperties } from './properties.js';

export interface PublishHeaderOptions {
  qos: QoS;
  retain: boolean;
  dup?: boolean;
  /** Required when qos > 0. */
  packetId?: number;
  /** MQTT 5: identifiers of the subscriptions that matched (per subscriber). */
  subscriptionIdentifiers?: number[];
  /** MQTT 5: topic alias for this subscriber's connection. */
  topicAlias?: number;
  /** MQTT 5: send an empty topic name (the alias is already established); needs topicAlias. */
  omitTopic?: boolean;
  /** MQTT 5: the remaining message expiry interval for this delivery, in seconds. */
  messageExpiryInterval?: number;
}

export interface PublishSource {
  topic: string;
  payload: Buffer;
  properties?: Properties;
}

/**
 * Encodes the header (fixed header, topic, packet id, properties) of one PUBLISH for many subscribers.
 * Headers without per-subscriber properties come from a cached template; a QoS 0 template is
 * returned as is (shared: callers must not modify it), QoS 1/2 get a copy with the packet id patched.
 * Subscription identifiers and topic alias in the source properties are dropped: they belong to one hop.
 */
export class PublishEncoder {
  readonly payload: Buffer;
  private readonly protocolVersion: ProtocolVersion;
  private readonly topicBytes: Buffer;
  private readonly properties: Properties | undefined;
  private readonly propertyBytes: number;
  /** Indexed by qos | retain << 2 | dup << 3. */
  private readonly templates: (Buffer | undefined)[] = [];
  private readonly packetIdOffsets: number[] = [];

  constructor(packet: PublishSource, protocolVersion: ProtocolVersion) {
    this.payload = packet.payload;
    this.protocolVersion = protocolVersion;
    this.topicBytes = Buffer.from(packet.topic, 'utf8');
    if (this.topicBytes.length > 65_535) throw malformed('VALUE_OUT_OF_RANGE', 'publish: topic longer than 65535 bytes', 'publish');
    let properties: Properties | undefined;
    if (protocolVersion === 5 && packet.properties !== undefined) {
      const { subscriptionIdentifiers: _ids, topicAlias: _alias, ...rest } = packet.properties;
      properties = rest;
    }
    this.properties = properties;
    this.propertyBytes = properties === undefined ? 0 : propertiesSize(properties, 3, 'publish');
  }

  header(options: PublishHeaderOptions): Buffer {
    if (!this.needsFreshHeader(options)) {
      const key = templateKey(options);
      const template = this.templates[key] ?? this.buildTemplate(key, options);
      if (options.qos === 0) return template;
      const packetId = checkPacketId(options.packetId);
      const copy = Buffer.allocUnsafe(template.length);
      template.copy(copy, 0);
      const offset = this.packetIdOffsets[key]!;
      copy[offset] = packetId >> 8;
      copy[offset + 1] = packetId & 0xff;
      return copy;
    }
    const properties = this.subscriberProperties(options);
    return this.build(options, properties, propertiesSize(properties, 3, 'publish')).header;
  }

  /** Total encoded size (header + payload) for these options, to check a subscriber's Maximum Packet Size. */
  packetSize(options: PublishHeaderOptions): number {
    if (!this.needsFreshHeader(options)) {
      const key = templateKey(options);
      const template = this.templates[key] ?? this.buildTemplate(key, options);
      return template.length + this.payload.length;
    }
    const propertyBytes = propertiesSize(this.subscriberProperties(options), 3, 'publish');
    return this.headerLength(options, propertyBytes) + this.payload.length;
  }

  private needsFreshHeader(options: PublishHeaderOptions): boolean {
    if (this.protocolVersion !== 5) return false; // no properties before MQTT 5
    return (
      (options.subscriptionIdentifiers !== undefined && options.subscriptionIdentifiers.length > 0) ||
      options.topicAlias !== undefined ||
      options.omitTopic === true ||
      options.messageExpiryInterval !== undefined
    );
  }

  private subscriberProperties(options: PublishHeaderOptions): Properties {
    const properties: Properties = { ...this.properties };
    if (options.messageExpiryInterval !== undefined) properties.messageExpiryInterval = options.messageExpiryInterval;
    if (options.subscriptionIdentifiers !== undefined && options.subscriptionIdentifiers.length > 0) {
      properties.subscriptionIdentifiers = options.subscriptionIdentifiers;
    }
    if (options.topicAlias !== undefined) properties.topicAlias = options.topicAlias;
    if (options.omitTopic === true && options.topicAlias === undefined) {
      throw protocolError('EMPTY_TOPIC_NAME', 'publish: topic omitted without a topic alias', 'publish');
    }
    return properties;
  }

  private buildTemplate(key: number, options: PublishHeaderOptions): Buffer {
    // The template carries packet id 0 until patched per subscriber.
    const built = this.build({ qos: options.qos, retain: options.retain, dup: options.dup, packetId: 0 }, this.properties, this.propertyBytes);
    this.templates[key] = built.header;
    this.packetIdOffsets[key] = built.packetIdOffset;
    return built.header;
  }

  private topicSize(options: PublishHeaderOptions): number {
    return 2 + (options.omitTopic === true ? 0 : this.topicBytes.length);
  }

  /** Topic, packet id and properties: the variable header. */
  private variableHeaderLength(options: PublishHeaderOptions, propertyBytes: number): number {
    return (
      this.topicSize(options) +
      (options.qos > 0 ? 2 : 0) +
      (this.protocolVersion === 5 ? variableIntegerSize(propertyBytes) + propertyBytes : 0)
    );
  }

  private headerLength(options: PublishHeaderOptions, propertyBytes: number): number {
    const variableHeader = this.variableHeaderLength(options, propertyBytes);
    return 1 + variableIntegerSize(variableHeader + this.payload.length) + variableHeader;
  }

  private build(
    options: PublishHeaderOptions,
    properties: Properties | undefined,
    propertyBytes: number,
  ): { header: Buffer; packetIdOffset: number } {
    const qos = options.qos;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw malformed('INVALID_QOS', `publish: QoS ${String(qos)}`, 'publish'); // [MQTT-3.3.1-4]
    const variableHeader = this.variableHeaderLength(options, propertyBytes);
    const remaining = variableHeader + this.payload.length;
    const header = Buffer.allocUnsafe(1 + variableIntegerSize(remaining) + variableHeader);
    header[0] = 0x30 | (options.dup === true && qos > 0 ? 0x08 : 0) | (qos << 1) | (options.retain ? 0x01 : 0); // [MQTT-3.3.1-2]
    let pos = writeVariableInteger(header, 1, remaining);
    pos = this.writeTopic(header, pos, options);
    const packetIdOffset = pos;
    if (qos > 0) {
      const packetId = options.packetId === 0 ? 0 : checkPacketId(options.packetId);
      header[pos++] = packetId >> 8;
      header[pos++] = packetId & 0xff;
    }
    if (this.protocolVersion === 5) writeProperties(header, pos, properties, propertyBytes);
    return { header, packetIdOffset };
  }

  private writeTopic(header: Buffer, pos: number, options: PublishHeaderOptions): number {
    const topic = options.omitTopic === true ? undefined : this.topicBytes;
    const length = topic === undefined ? 0 : topic.length;
    header[pos] = length >> 8;
    header[pos + 1] = length & 0xff;
    if (topic !== undefined) topic.copy(header, pos + 2);
    return pos + 2 + length;
  }
}

function templateKey(options: PublishHeaderOptions): number {
  return options.qos | (options.retain ? 4 : 0) | (options.dup === true && options.qos > 0 ? 8 : 0);
}

function checkPacketId(packetId: number | undefined): number {
  if (packetId === undefined || !Number.isInteger(packetId) || packetId < 1 || packetId > 65_535) {
    throw protocolError('PACKET_ID_ZERO', `publish: packet identifier must be 1..65535, got ${String(packetId)}`, 'publish'); // [MQTT-2.2.1-3]
  }
  return packetId;
}
