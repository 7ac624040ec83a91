// Fixed binary layouts for the records written for every message (outgoing
// records, their keys and message bodies), laid out by hand: msgpack and the tuple key encoding
// cost more CPU per message than the commit itself on the durable publish path.
//
// Key of a (client, number) pair: the client key's UTF-8 bytes, a 0 byte, then
// the number as two big-endian uint32 (high, low). Byte order of the keys is
// therefore (client, number) for a given client, so a range scan returns a
// session's queue in seq order. The number is read from the last 8 bytes, so a
// client key is recovered exactly whatever bytes it holds.
//
// Outgoing value (little-endian):
//   0  u8   layout: 1 = the message body is in the messages database under the message id;
//           2 = the body follows the record (inline: a message queued for one session costs
//           one put and one delete instead of two of each)
//   1  u8   qos (bits 0-1) | retain (bit 2) | state (bits 3-4)
//   2  u16  packet id (0: none; MQTT packet ids are 1..65535)
//   4  f64  message id (layout 1; 0 in layout 2)
//   12 u16  number of subscription identifiers, then one u32 each
//   then, in layout 2 only, the message body as laid out below

import { ByteReader } from '../protocol/byte-reader.js';
import { variableIntegerSize } from '../protocol/byte-writer.js';
import type { QoS } from '../protocol/packets.js';
import { readProperties, WILL_CONTEXT, writeProperties } from '../protocol/properties.js';
import { encodedPropertiesSize } from '../protocol/property-writer.js';
import type { OutgoingRecord, StoredMessage } from './store.js';

const pairTailBytes = 9;
const twoToThe32 = 0x1_0000_0000;
const outgoingLayout = 1;
const outgoingInlineLayout = 2;
const outgoingHeaderBytes = 14;
const states: OutgoingRecord['state'][] = ['queued', 'sent', 'released'];
const stateCodes: Record<OutgoingRecord['state'], number> = { queued: 0, sent: 1, released: 2 };

/** The key of (client key, number): outgoing (seq) and incoming QoS 2 (packet id) records. */
export function pairKey(clientKeyBytes: Buffer, value: number): Buffer {
  const clientBytes = clientKeyBytes.length;
  const key = Buffer.allocUnsafe(clientBytes + pairTailBytes);
  clientKeyBytes.copy(key, 0);
  key[clientBytes] = 0;
  key.writeUInt32BE(Math.floor(value / twoToThe32), clientBytes + 1);
  key.writeUInt32BE(value % twoToThe32, clientBytes + 5);
  return key;
}

/** Puts `value` into a key made by pairKey, in place (a reused key buffer). */
export function setPairKeyValue(key: Buffer, value: number): Buffer {
  const tail = key.length - pairTailBytes + 1;
  key.writeUInt32BE(Math.floor(value / twoToThe32), tail);
  key.writeUInt32BE(value % twoToThe32, tail + 4);
  return key;
}

export interface DecodedPairKey {
  clientKey: string;
  value: number;
}

export function decodePairKey(key: Uint8Array): DecodedPairKey {
  const bytes = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
  const tail = bytes.length - pairTailBytes;
  if (tail < 0 || bytes[tail] !== 0) throw new Error(`malformed record key of ${bytes.length} bytes`);
  return {
    clientKey: bytes.toString('utf8', 0, tail),
    value: bytes.readUInt32BE(tail + 1) * twoToThe32 + bytes.readUInt32BE(tail + 5),
  };
}

export function encodeOutgoingValue(record: OutgoingRecord, messageId: number): Buffer {
  const value = Buffer.allocUnsafe(outgoingRecordBytes(record));
  writeOutgoingHeader(value, record, outgoingLayout, messageId);
  return value;
}

/** An outgoing record with its message body inline (layout 2). */
export function encodeOutgoingInline(record: OutgoingRecord): Buffer {
  const headerBytes = outgoingRecordBytes(record);
  const layout = bodyLayoutOf(record.message);
  const value = Buffer.allocUnsafe(headerBytes + layout.total);
  writeOutgoingHeader(value, record, outgoingInlineLayout, 0);
  writeBody(value, headerBytes, record.message, layout);
  return value;
}

function outgoingRecordBytes(record: OutgoingRecord): number {
  return outgoingHeaderBytes + (record.subscriptionIdentifiers?.length ?? 0) * 4;
}

function writeOutgoingHeader(value: Buffer, record: OutgoingRecord, layout: number, messageId: number): void {
  const identifiers = record.subscriptionIdentifiers;
  value[0] = layout;
  value[1] = record.qos | (record.retain ? 4 : 0) | (stateCodes[record.state] << 3);
  value.writeUInt16LE(record.packetId ?? 0, 2);
  value.writeDoubleLE(messageId, 4);
  value.writeUInt16LE(identifiers?.length ?? 0, 12);
  if (identifiers !== undefined) for (let index = 0; index < identifiers.length; index += 1) value.writeUInt32LE(identifiers[index]!, outgoingHeaderBytes + index * 4);
}

function outgoingBytes(value: Uint8Array): Buffer {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (bytes.length < outgoingHeaderBytes || (bytes[0] !== outgoingLayout && bytes[0] !== outgoingInlineLayout)) throw new Error('malformed outgoing record');
  return bytes;
}

/** The message id an encoded outgoing record refers to, or undefined if its body is inline. */
export function outgoingMessageId(value: Uint8Array): number | undefined {
  const bytes = outgoingBytes(value);
  return bytes[0] === outgoingInlineLayout ? undefined : bytes.readDoubleLE(4);
}

/** The message body of an inline outgoing record (a private copy). */
export function decodeOutgoingInlineBody(value: Uint8Array): StoredMessage {
  const bytes = outgoingBytes(value);
  if (bytes[0] !== outgoingInlineLayout) throw new Error('outgoing record has no inline body');
  return decodeBodyValue(bytes.subarray(outgoingHeaderBytes + bytes.readUInt16LE(12) * 4));
}

/** The record of an encoded outgoing value (either layout); `message` is its body. */
export function decodeOutgoingValue(seq: number, value: Uint8Array, message: StoredMessage): OutgoingRecord {
  const bytes = outgoingBytes(value);
  const flags = bytes[1]!;
  const state = states[flags >> 3];
  if (state === undefined) throw new Error(`outgoing record ${seq} has an unknown state ${flags >> 3}`);
  const count = bytes.readUInt16LE(12);
  const headerBytes = outgoingHeaderBytes + count * 4;
  const fits = bytes[0] === outgoingInlineLayout ? bytes.length >= headerBytes + bodyHeaderBytes : bytes.length === headerBytes;
  if (!fits) throw new Error(`outgoing record ${seq} has a wrong length`);
  const record: OutgoingRecord = { seq, message, qos: (flags & 3) as QoS, retain: (flags & 4) !== 0, state };
  const packetId = bytes.readUInt16LE(2);
  if (packetId !== 0) record.packetId = packetId;
  if (count > 0) {
    const identifiers: number[] = [];
    for (let index = 0; index < count; index += 1) identifiers.push(bytes.readUInt32LE(outgoingHeaderBytes + index * 4));
    record.subscriptionIdentifiers = identifiers;
  }
  return record;
}

// Message body value (little-endian):
//   0  u8   layout version (1)
//   1  u8   qos (bits 0-1) | retain (bit 2) | has expiresAt (bit 3) | has publisher (bit 4)
//   2  f64  receivedAt
//   10 f64  expiresAt (0 when none)
//   18 u32  topic bytes, 22 u32 publisher bytes, 26 u32 property block bytes
//   30 topic, publisher, properties (MQTT's own encoding: length then properties), payload to the end
// Properties are read back in the will context: it accepts every property a stored message can
// hold (publish properties without topic alias and subscription identifier) and a will's delay.

const bodyLayout = 1;
const bodyHeaderBytes = 30;
const propertyReader = new ByteReader();

interface BodyLayout {
  topicBytes: number;
  publisherBytes: number;
  propertyBytes: number;
  propertyBlockBytes: number;
  total: number;
}

function bodyLayoutOf(message: StoredMessage): BodyLayout {
  const topicBytes = Buffer.byteLength(message.topic);
  const publisherBytes = message.publisherId === undefined ? 0 : Buffer.byteLength(message.publisherId);
  const propertyBytes = message.properties === undefined ? 0 : encodedPropertiesSize(message.properties);
  const propertyBlockBytes = message.properties === undefined ? 0 : variableIntegerSize(propertyBytes) + propertyBytes;
  return { topicBytes, publisherBytes, propertyBytes, propertyBlockBytes, total: bodyHeaderBytes + topicBytes + publisherBytes + propertyBlockBytes + message.payload.length };
}

export function encodeBodyValue(message: StoredMessage): Buffer {
  const layout = bodyLayoutOf(message);
  const value = Buffer.allocUnsafe(layout.total);
  writeBody(value, 0, message, layout);
  return value;
}

function writeBody(value: Buffer, offset: number, message: StoredMessage, layout: BodyLayout): void {
  const { topicBytes, publisherBytes, propertyBytes, propertyBlockBytes } = layout;
  value[offset] = bodyLayout;
  value[offset + 1] = message.qos | (message.retain ? 4 : 0) | (message.expiresAt === undefined ? 0 : 8) | (message.publisherId === undefined ? 0 : 16);
  value.writeDoubleLE(message.receivedAt, offset + 2);
  value.writeDoubleLE(message.expiresAt ?? 0, offset + 10);
  value.writeUInt32LE(topicBytes, offset + 18);
  value.writeUInt32LE(publisherBytes, offset + 22);
  value.writeUInt32LE(propertyBlockBytes, offset + 26);
  let position = offset + bodyHeaderBytes;
  position += value.write(message.topic, position, topicBytes, 'utf8');
  if (message.publisherId !== undefined) position += value.write(message.publisherId, position, publisherBytes, 'utf8');
  if (message.properties !== undefined) position = writeProperties(value, position, message.properties, propertyBytes);
  message.payload.copy(value, position);
}

export function decodeBodyValue(stored: Uint8Array): StoredMessage {
  // A private copy: the payload and the properties' binary values are slices of it.
  const value = Buffer.from(stored);
  if (value.length < bodyHeaderBytes || value[0] !== bodyLayout) throw new Error('malformed message body');
  const flags = value[1]!;
  const topicBytes = value.readUInt32LE(18);
  const publisherBytes = value.readUInt32LE(22);
  const propertyBlockBytes = value.readUInt32LE(26);
  const topicEnd = bodyHeaderBytes + topicBytes;
  const publisherEnd = topicEnd + publisherBytes;
  const propertiesEnd = publisherEnd + propertyBlockBytes;
  if (propertiesEnd > value.length) throw new Error('malformed message body: lengths exceed the record');
  const message: StoredMessage = {
    topic: value.toString('utf8', bodyHeaderBytes, topicEnd),
    payload: value.subarray(propertiesEnd),
    qos: (flags & 3) as QoS,
    retain: (flags & 4) !== 0,
    receivedAt: value.readDoubleLE(2),
  };
  if ((flags & 8) !== 0) message.expiresAt = value.readDoubleLE(10);
  if ((flags & 16) !== 0) message.publisherId = value.toString('utf8', topicEnd, publisherEnd);
  if (propertyBlockBytes > 0) {
    propertyReader.reset(value, publisherEnd, propertiesEnd, 'publish');
    const properties = readProperties(propertyReader, WILL_CONTEXT);
    propertyReader.release();
    if (properties !== undefined) message.properties = properties;
  }
  return message;
}
