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
  private readonly topic: string;
  private readonly topicLength: number;
  private readonly properties: Properties | undefined;
  private readonly propertyBytes: number;
  // Most messages are sent with one (qos, retain, dup) combination: it has its own slot, the others
  // a table created when first needed (fewer allocations per message on the hot path).
  private firstKey = -1;
  private firstTemplate: Buffer | undefined;
  private firstPacketIdOffset = 0;
  /**
   * The first template is a view into the first whole packet handed out (no copy for a message
   * with one subscriber); on reuse it gets its own buffer, so a long-lived message (retained, or
   * sent to many) does not keep a second copy of its payload.
   */
  private firstTemplateIsView = false;
  /** Indexed by qos | retain << 2 | dup << 3. */
  private otherTemplates: Array<{ header: Buffer; packetIdOffset: number } | undefined> | undefined;

  constructor(packet: PublishSource, protocolVersion: ProtocolVersion) {
    this.payload = packet.payload;
    this.protocolVersion = protocolVersion;
    this.topic = packet.topic;
    this.topicLength = Buffer.byteLength(packet.topic, 'utf8');
    if (this.topicLength > 65_535) throw malformed('VALUE_OUT_OF_RANGE', 'publish: topic longer than 65535 bytes', 'publish');
    let properties: Properties | undefined;
    if (protocolVersion === 5 && packet.properties !== undefined) {
      const { subscriptionIdentifiers: _ids, topicAlias: _alias, ...rest } = packet.properties;
      properties = rest;
    }
    this.properties = properties;
    this.propertyBytes = properties === undefined ? 0 : propertiesSize(properties, 3, 'publish');
  }

  header(options: PublishHeaderOptions): Buffer {
    return this.encode(options, false);
  }

  /**
   * The whole PUBLISH (header and payload) in one new buffer: for small payloads, where one
   * socket write of a copy is cheaper than two writes. Never shared: the caller owns it.
   */
  packet(options: PublishHeaderOptions): Buffer {
    return this.encode(options, true);
  }

  private encode(options: PublishHeaderOptions, withPayload: boolean): Buffer {
    if (this.needsFreshHeader(options)) {
      const properties = this.subscriberProperties(options);
      return this.build(options, properties, propertiesSize(properties, 3, 'publish'), withPayload).header;
    }
    const key = templateKey(options);
    let template: Buffer;
    let packetIdOffset: number;
    if (key === this.firstKey) {
      template = this.firstTemplate!;
      if (this.firstTemplateIsView) {
        template = Buffer.from(template);
        this.firstTemplate = template;
        this.firstTemplateIsView = false;
      }
      packetIdOffset = this.firstPacketIdOffset;
    } else {
      const other = this.otherTemplates?.[key];
      if (other === undefined) return this.buildTemplate(key, options, withPayload);
      template = other.header;
      packetIdOffset = other.packetIdOffset;
    }
    if (options.qos === 0 && !withPayload) return template;
    const copy = Buffer.allocUnsafe(template.length + (withPayload ? this.payload.length : 0));
    template.copy(copy, 0);
    if (options.qos > 0) {
      const packetId = checkPacketId(options.packetId);
      copy[packetIdOffset] = packetId >> 8;
      copy[packetIdOffset + 1] = packetId & 0xff;
    }
    if (withPayload) this.payload.copy(copy, template.length);
    return copy;
  }

  /** Total encoded size (header + payload) for these options, to check a subscriber's Maximum Packet Size. */
  packetSize(options: PublishHeaderOptions): number {
    if (!this.needsFreshHeader(options)) {
      return this.headerLength(options, this.propertyBytes) + this.payload.length;
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

  /**
   * Encodes this delivery and keeps its header as the template of its key. A QoS 1/2 template
   * keeps the first subscriber's packet id: copies are patched, the template never is.
   */
  private buildTemplate(key: number, options: PublishHeaderOptions, withPayload: boolean): Buffer {
    const built = this.build(options, this.properties, this.propertyBytes, withPayload);
    const template = withPayload ? built.header.subarray(0, built.header.length - this.payload.length) : built.header;
    if (this.firstKey === -1) {
      this.firstKey = key;
      this.firstTemplate = template;
      this.firstTemplateIsView = withPayload;
      this.firstPacketIdOffset = built.packetIdOffset;
    } else {
      // Other combinations are rare (retransmissions, retained copies): copied out at once.
      (this.otherTemplates ??= [])[key] = { header: withPayload ? Buffer.from(template) : template, packetIdOffset: built.packetIdOffset };
    }
    return built.header;
  }

  private topicSize(options: PublishHeaderOptions): number {
    return 2 + (this.omitsTopic(options) ? 0 : this.topicLength);
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

  /** The header (and, with `withPayload`, the payload after it) in one new buffer. */
  private build(
    options: PublishHeaderOptions,
    properties: Properties | undefined,
    propertyBytes: number,
    withPayload: boolean,
  ): { header: Buffer; packetIdOffset: number } {
    const qos = options.qos;
    if (qos !== 0 && qos !== 1 && qos !== 2) throw malformed('INVALID_QOS', `publish: QoS ${String(qos)}`, 'publish'); // [MQTT-3.3.1-4]
    const variableHeader = this.variableHeaderLength(options, propertyBytes);
    const remaining = variableHeader + this.payload.length;
    const headerLength = 1 + variableIntegerSize(remaining) + variableHeader;
    const header = Buffer.allocUnsafe(headerLength + (withPayload ? this.payload.length : 0));
    if (withPayload) this.payload.copy(header, headerLength);
    header[0] = 0x30 | (options.dup === true && qos > 0 ? 0x08 : 0) | (qos << 1) | (options.retain ? 0x01 : 0); // [MQTT-3.3.1-2]
    let pos = writeVariableInteger(header, 1, remaining);
    pos = this.writeTopic(header, pos, options);
    const packetIdOffset = pos;
    if (qos > 0) {
      const packetId = checkPacketId(options.packetId);
      header[pos++] = packetId >> 8;
      header[pos++] = packetId & 0xff;
    }
    if (this.protocolVersion === 5) writeProperties(header, pos, properties, propertyBytes);
    return { header, packetIdOffset };
  }

  /** Only MQTT 5 has topic aliases; 3.1.1 always carries the topic. */
  private omitsTopic(options: PublishHeaderOptions): boolean {
    return this.protocolVersion === 5 && options.omitTopic === true;
  }

  private writeTopic(header: Buffer, pos: number, options: PublishHeaderOptions): number {
    // Written from the string: no intermediate topic buffer per message.
    const length = this.omitsTopic(options) ? 0 : this.topicLength;
    header[pos] = length >> 8;
    header[pos + 1] = length & 0xff;
    if (length > 0) header.write(this.topic, pos + 2, length, 'utf8');
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
