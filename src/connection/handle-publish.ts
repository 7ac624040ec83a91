// Inbound PUBLISH: topic aliases, flow control, exactly-once bookkeeping, authorization,
// then routing; PUBACK/PUBREC go out once the store made the work durable.

import { isUtf8 } from 'node:buffer';
import { isPromise } from '../broker/hook-runner.js';
import type { PendingAck } from '../broker/ack-batcher.js';
import type { Properties, PublishPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { StoredMessage } from '../store/store.js';
import { isValidTopicName } from '../topics/topic-validation.js';
import type { Connection } from './connection.js';
import { violation } from './violation.js';

const sysPrefix = '$SYS';

export function handlePublish(connection: Connection, packet: PublishPacket): void | Promise<void> {
  const broker = connection.broker;
  const { limits, mqtt } = broker.config;
  const session = connection.session!;
  const version = connection.protocolVersion;
  let topic = packet.topic;

  if (version === 5) {
    const alias = packet.properties?.topicAlias;
    if (alias !== undefined) {
      // [MQTT-3.3.2-9] [MQTT-3.3.2-10] 0 or above our Topic Alias Maximum
      if (alias === 0 || alias > limits.topicAliasMaximum) {
        throw violation(ReasonCode.TopicAliasInvalid, 'TOPIC_ALIAS_INVALID', `topic alias ${alias} out of range`, 'publish');
      }
      if (topic.length === 0) {
        const known = connection.inboundAliases.get(alias);
        if (known === undefined) throw violation(ReasonCode.ProtocolError, 'TOPIC_ALIAS_UNKNOWN', `topic alias ${alias} not set`, 'publish');
        topic = known;
      } else {
        connection.inboundAliases.set(alias, topic);
      }
    }
    // [MQTT-3.2.2-11] QoS above Maximum QoS
    if (packet.qos > mqtt.maximumQoS) throw violation(ReasonCode.QoSNotSupported, 'QOS_NOT_SUPPORTED', `QoS ${packet.qos} not supported`, 'publish');
    // [MQTT-3.2.2-14] retain when Retain Available is 0
    if (packet.retain && !mqtt.retainAvailable) throw violation(ReasonCode.RetainNotSupported, 'RETAIN_NOT_SUPPORTED', 'retain not supported', 'publish');
    // [MQTT-3.3.4-9] more unacknowledged QoS 1/2 publishes than our Receive Maximum
    if (packet.qos > 0 && connection.pendingAcks + session.incomingQoS2Count >= limits.receiveMaximum && !session.hasIncomingQoS2(packet.packetId!)) {
      throw violation(ReasonCode.ReceiveMaximumExceeded, 'RECEIVE_MAXIMUM_EXCEEDED', 'receive maximum exceeded', 'publish');
    }
  }
  if (topic.length === 0) throw violation(ReasonCode.ProtocolError, 'EMPTY_TOPIC_NAME', 'empty topic name without alias', 'publish');

  if (packet.qos === 2 && session.hasIncomingQoS2(packet.packetId!)) {
    // [MQTT-4.3.3-10] a re-sent QoS 2 PUBLISH before PUBREL: acknowledge again, do not deliver twice
    // (behind the same durability point as the first PUBREC, which may still be pending)
    const packetId = packet.packetId!;
    broker.acks.add({
      send: () => connection.send({ type: 'pubrec', packetId, reasonCode: ReasonCode.Success }),
      fail: (error) => connection.disconnect(ReasonCode.UnspecifiedError, error),
    });
    return;
  }
  broker.counters.messagesReceived++;

  if (!isValidTopicName(topic, { maxLength: limits.maxTopicLength, maxLevels: limits.maxTopicLevels })) {
    return reject(connection, packet, ReasonCode.TopicNameInvalid, 'topic name exceeds the length or level limits');
  }
  // $SYS belongs to the broker: clients may not publish there (5.0: 0x87 Not authorized).
  if (topic.startsWith(sysPrefix) && (topic.length === sysPrefix.length || topic.charCodeAt(sysPrefix.length) === 0x2f)) {
    return reject(connection, packet, ReasonCode.NotAuthorized, '$SYS topics are reserved for the broker');
  }

  // §3.3.2.3.2: the receiver MAY check a payload marked UTF-8 (off by default: a scan per message).
  // QoS 0 has no acknowledgement to carry 0x99, so the publisher learns it from DISCONNECT.
  if (mqtt.validateUtf8Payload && packet.properties?.payloadFormatIndicator === 1 && !isUtf8(packet.payload)) {
    if (packet.qos === 0) throw violation(ReasonCode.PayloadFormatInvalid, 'PAYLOAD_FORMAT_INVALID', 'payload marked UTF-8 is not valid UTF-8', 'publish');
    return reject(connection, packet, ReasonCode.PayloadFormatInvalid, 'payload marked UTF-8 is not valid UTF-8');
  }

  const routed = topic === packet.topic ? packet : { ...packet, topic };
  const allowed = broker.hooks.authorizePublish(connection.client, routed);
  if (isPromise<boolean>(allowed)) return allowed.then((decision) => finishPublish(connection, routed, decision));
  finishPublish(connection, routed, allowed);
}

function finishPublish(connection: Connection, packet: PublishPacket, allowed: boolean): void {
  if (connection.state === 'closed') return;
  const broker = connection.broker;
  if (!allowed) return reject(connection, packet, ReasonCode.NotAuthorized, 'not authorized to publish to this topic');
  if (packet.qos > 0 && !broker.store.writable) {
    // The store cannot make it durable: refuse rather than acknowledge a message we may lose.
    if (connection.protocolVersion === 5) return reject(connection, packet, ReasonCode.QuotaExceeded, 'the store cannot accept durable messages now');
    broker.logger.warn({ clientId: connection.clientId, topic: packet.topic }, 'store not writable: QoS>0 publish not acknowledged');
    return;
  }

  const now = Date.now();
  let properties: Properties | undefined;
  let expiresAt: number | undefined;
  if (packet.properties !== undefined) {
    const { topicAlias: _alias, subscriptionIdentifiers: _ids, messageExpiryInterval, ...rest } = packet.properties;
    let expiry = messageExpiryInterval;
    const cap = broker.config.limits.maxMessageExpiry;
    if (cap > 0 && (expiry === undefined || expiry > cap)) expiry = cap;
    if (expiry !== undefined) expiresAt = now + expiry * 1000;
    properties = rest;
  } else if (broker.config.limits.maxMessageExpiry > 0) {
    expiresAt = now + broker.config.limits.maxMessageExpiry * 1000;
  }
  const stored: StoredMessage = {
    topic: packet.topic,
    payload: compactPayload(packet),
    qos: packet.qos,
    retain: packet.retain,
    properties,
    receivedAt: now,
    expiresAt,
    publisherId: connection.clientId,
  };
  const deliveries = broker.publish(stored, connection.client);
  if (packet.qos === 0) return;

  const session = connection.session!;
  const packetId = packet.packetId!;
  // 5.0: tell the publisher nobody was listening (0x10)
  const reasonCode = connection.protocolVersion === 5 && deliveries === 0 ? ReasonCode.NoMatchingSubscribers : ReasonCode.Success;
  if (packet.qos === 2) {
    session.incomingQoS2.add(packetId);
    if (session.persistent) broker.store.putIncomingQoS2(session.clientId, packetId);
  }
  const type = packet.qos === 1 ? 'puback' : 'pubrec';
  if (broker.acks.immediate) {
    // Nothing to wait for (memory store): acknowledged now, no pending-ack object per message.
    connection.writeAck(type, packetId, reasonCode);
    return;
  }
  // A QoS 1 ack waiting for the store counts against Receive Maximum until it is sent.
  if (type === 'puback') connection.pendingAcks++;
  broker.acks.add(new PublishAck(connection, type, packetId, reasonCode));
}

/** The PUBACK/PUBREC of one publish, waiting for the store: one object, no closures per message. */
class PublishAck implements PendingAck {
  constructor(
    private readonly connection: Connection,
    private readonly type: 'puback' | 'pubrec',
    private readonly packetId: number,
    private readonly reasonCode: number,
  ) {}

  send(): void {
    if (this.type === 'puback') this.connection.pendingAcks--;
    this.connection.writeAck(this.type, this.packetId, this.reasonCode);
  }

  fail(error: Error): void {
    const connection = this.connection;
    if (this.type === 'puback') connection.pendingAcks--;
    connection.broker.logger.error({ err: error, clientId: connection.clientId }, 'store write failed: publish not acknowledged');
    connection.disconnect(ReasonCode.UnspecifiedError, error);
  }
}

/**
 * A publish the broker will not route. 5.0 says why in PUBACK/PUBREC; 3.1.1 has no way to,
 * so it is acknowledged (the client must not retry it forever) and dropped.
 */
function reject(connection: Connection, packet: PublishPacket, reasonCode: number, reasonString?: string): void {
  connection.broker.logger.debug({ clientId: connection.clientId, topic: packet.topic, reasonCode }, 'publish refused');
  connection.broker.counters.messagesDropped++;
  if (packet.qos === 0) return;
  const code = connection.protocolVersion === 5 ? reasonCode : ReasonCode.Success;
  if (packet.qos === 2 && code === ReasonCode.Success) {
    // 3.1.1: the PUBREL that follows must find the id (exactly-once bookkeeping)
    connection.session!.incomingQoS2.add(packet.packetId!);
  }
  // [MQTT-3.1.2-29] a reason string only if the client did not turn problem information off
  const properties = reasonString !== undefined && connection.protocolVersion === 5 && connection.problemInformation ? { reasonString } : undefined;
  connection.send({ type: packet.qos === 1 ? 'puback' : 'pubrec', packetId: packet.packetId!, reasonCode: code, properties });
}

/**
 * The decoded payload is a slice of the socket chunk. A message that may be kept (retained,
 * or QoS 1/2 and so possibly queued) gets its own copy when it is a small part of that chunk,
 * so a long-lived message does not pin a whole read buffer.
 */
function compactPayload(packet: PublishPacket): Buffer {
  const payload = packet.payload;
  if ((packet.retain || packet.qos > 0) && payload.length * 2 < payload.buffer.byteLength) return Buffer.from(payload);
  return payload;
}
