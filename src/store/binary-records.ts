// Fixed binary layouts for the records written for every message (outgoing
// records and their keys), laid out by hand: msgpack and the tuple key encoding
// cost more CPU per message than the commit itself on the durable publish path.
//
// Key of a (client, number) pair: the client key's UTF-8 bytes, a 0 byte, then
// the number as two big-endian uint32 (high, low). Byte order of the keys is
// therefore (client, number) for a given client, so a range scan returns a
// session's queue in seq order. The number is read from the last 8 bytes, so a
// client key is recovered exactly whatever bytes it holds.
//
// Outgoing value (little-endian):
//   0  u8   layout version (1)
//   1  u8   qos (bits 0-1) | retain (bit 2) | state (bits 3-4)
//   2  u16  packet id (0: none; MQTT packet ids are 1..65535)
//   4  f64  message id
//   12 u16  number of subscription identifiers, then one u32 each

import type { QoS } from '../protocol/packets.js';
import type { OutgoingRecord, StoredMessage } from './store.js';

const pairTailBytes = 9;
const twoToThe32 = 0x1_0000_0000;
const outgoingLayout = 1;
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
  const identifiers = record.subscriptionIdentifiers;
  const count = identifiers?.length ?? 0;
  const value = Buffer.allocUnsafe(outgoingHeaderBytes + count * 4);
  value[0] = outgoingLayout;
  value[1] = record.qos | (record.retain ? 4 : 0) | (stateCodes[record.state] << 3);
  value.writeUInt16LE(record.packetId ?? 0, 2);
  value.writeDoubleLE(messageId, 4);
  value.writeUInt16LE(count, 12);
  identifiers?.forEach((identifier, index) => value.writeUInt32LE(identifier, outgoingHeaderBytes + index * 4));
  return value;
}

/** The message id an encoded outgoing record refers to. */
export function outgoingMessageId(value: Uint8Array): number {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  if (bytes.length < outgoingHeaderBytes || bytes[0] !== outgoingLayout) throw new Error('malformed outgoing record');
  return bytes.readDoubleLE(4);
}

export function decodeOutgoingValue(seq: number, value: Uint8Array, message: StoredMessage): OutgoingRecord {
  const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  const flags = bytes[1]!;
  const state = states[flags >> 3];
  if (state === undefined) throw new Error(`outgoing record ${seq} has an unknown state ${flags >> 3}`);
  const count = bytes.readUInt16LE(12);
  if (bytes.length !== outgoingHeaderBytes + count * 4) throw new Error(`outgoing record ${seq} has a wrong length`);
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
