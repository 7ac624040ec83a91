// A message forwarded to another worker: a small binary header (QoS, times, publisher id for
// No Local, the shared group it is meant for, the workers already tried for that group) followed
// by an MQTT 5 PUBLISH encoded by Petrel's own codec (topic, properties, payload, RETAIN).
//
// The absolute expiry time travels in the header rather than as a rounded Message Expiry
// Interval: every worker reads the same clock, so the receiver keeps the exact deadline.

import { ByteReader } from '../protocol/byte-reader.js';
import { decodePublish } from '../protocol/decode-packets.js';
import { encodePublish } from '../protocol/encoder.js';
import type { QoS } from '../protocol/packets.js';
import type { StoredMessage } from '../store/store.js';

export interface SharedTarget {
  group: string;
  /** The filter without '$share/{group}/'. */
  filter: string;
}

export interface ForwardedMessage {
  message: StoredMessage;
  /** Set when the receiver must give the message to one local member of this shared group. */
  shared?: SharedTarget;
  /** Workers that already had no eligible member of the group (so a fallback does not loop). */
  tried?: number[];
  /** Second round of a shared placement: offline (persistent) members may take it too. */
  allowOffline?: boolean;
}

const QOS_MASK = 0x03;
const HAS_SHARED = 0x04;
const HAS_EXPIRY = 0x08;
const HAS_PUBLISHER = 0x10;
const ALLOW_OFFLINE = 0x20;

export class ForwardDecodeError extends Error {}

function stringBytes(value: string | undefined): number {
  return value === undefined ? 0 : 2 + Buffer.byteLength(value, 'utf8');
}

function writeShortString(buffer: Buffer, position: number, value: string): number {
  const written = buffer.write(value, position + 2, 'utf8');
  buffer.writeUInt16BE(written, position);
  return position + 2 + written;
}

export function encodeForwarded(forwarded: ForwardedMessage): Buffer {
  const { message, shared } = forwarded;
  const tried = forwarded.tried ?? [];
  const publish = encodePublish(
    { type: 'publish', topic: message.topic, payload: message.payload, qos: 0, retain: message.retain, dup: false, properties: message.properties },
    5,
  );
  let flags = message.qos & QOS_MASK;
  if (shared !== undefined) flags |= HAS_SHARED;
  if (message.expiresAt !== undefined) flags |= HAS_EXPIRY;
  if (message.publisherId !== undefined) flags |= HAS_PUBLISHER;
  if (forwarded.allowOffline === true) flags |= ALLOW_OFFLINE;
  const headerSize =
    1 + 8 + (message.expiresAt === undefined ? 0 : 8) + stringBytes(message.publisherId) + (shared === undefined ? 0 : stringBytes(shared.group) + stringBytes(shared.filter)) + 1 + tried.length;
  const buffer = Buffer.allocUnsafe(headerSize + publish.length);
  let position = buffer.writeUInt8(flags, 0);
  position = buffer.writeDoubleBE(message.receivedAt, position);
  if (message.expiresAt !== undefined) position = buffer.writeDoubleBE(message.expiresAt, position);
  if (message.publisherId !== undefined) position = writeShortString(buffer, position, message.publisherId);
  if (shared !== undefined) {
    position = writeShortString(buffer, position, shared.group);
    position = writeShortString(buffer, position, shared.filter);
  }
  position = buffer.writeUInt8(tried.length, position);
  for (const worker of tried) position = buffer.writeUInt8(worker, position);
  publish.copy(buffer, position);
  return buffer;
}

class HeaderReader {
  position = 0;
  constructor(private readonly buffer: Buffer) {}

  need(count: number): void {
    if (this.position + count > this.buffer.length) throw new ForwardDecodeError('forwarded message truncated');
  }

  byte(): number {
    this.need(1);
    return this.buffer[this.position++]!;
  }

  double(): number {
    this.need(8);
    const value = this.buffer.readDoubleBE(this.position);
    this.position += 8;
    return value;
  }

  string(): string {
    this.need(2);
    const length = this.buffer.readUInt16BE(this.position);
    this.need(2 + length);
    const value = this.buffer.toString('utf8', this.position + 2, this.position + 2 + length);
    this.position += 2 + length;
    return value;
  }
}

/**
 * Decodes a forwarded message. The payload is copied when it is a small part of the buffer,
 * so a queued or retained message does not pin a whole socket read.
 */
export function decodeForwarded(buffer: Buffer): ForwardedMessage {
  const header = new HeaderReader(buffer);
  const flags = header.byte();
  const qosBits = flags & QOS_MASK;
  if (qosBits === 3) throw new ForwardDecodeError('forwarded message with QoS 3');
  const qos = qosBits as QoS;
  const receivedAt = header.double();
  const expiresAt = (flags & HAS_EXPIRY) !== 0 ? header.double() : undefined;
  const publisherId = (flags & HAS_PUBLISHER) !== 0 ? header.string() : undefined;
  const shared = (flags & HAS_SHARED) !== 0 ? { group: header.string(), filter: header.string() } : undefined;
  const triedCount = header.byte();
  const tried: number[] = [];
  for (let index = 0; index < triedCount; index++) tried.push(header.byte());

  // The PUBLISH: first byte, Remaining Length (variable byte integer), then the body.
  let position = header.position;
  header.need(2);
  const firstByte = buffer[position++]!;
  let remaining = 0;
  let multiplier = 1;
  for (let digits = 0; ; digits++) {
    if (digits === 4 || position >= buffer.length) throw new ForwardDecodeError('forwarded PUBLISH: bad remaining length');
    const digit = buffer[position++]!;
    remaining += (digit & 0x7f) * multiplier;
    multiplier *= 128;
    if ((digit & 0x80) === 0) break;
  }
  if (position + remaining !== buffer.length) throw new ForwardDecodeError('forwarded PUBLISH: length mismatch');
  const reader = new ByteReader();
  reader.reset(buffer, position, position + remaining, 'publish');
  const packet = decodePublish(reader, firstByte, 5);
  const payload = packet.payload.length * 2 < packet.payload.buffer.byteLength ? Buffer.from(packet.payload) : packet.payload;
  // Absent fields stay absent (not undefined), as in a message that never left its worker.
  const message: StoredMessage = { topic: packet.topic, payload, qos, retain: packet.retain, receivedAt };
  if (packet.properties !== undefined) message.properties = packet.properties;
  if (expiresAt !== undefined) message.expiresAt = expiresAt;
  if (publisherId !== undefined) message.publisherId = publisherId;
  const forwarded: ForwardedMessage = { message };
  if (shared !== undefined) forwarded.shared = shared;
  if (tried.length > 0) forwarded.tried = tried;
  if ((flags & ALLOW_OFFLINE) !== 0) forwarded.allowOffline = true;
  return forwarded;
}
