// Layout of a benchmark message payload. Every message carries who sent it, its
// sequence number and when it was sent, so a subscriber can detect loss and
// reordering per publisher and measure latency without any side channel.
//
//   offset 0  u32  magic (marks payloads written by this tool)
//   offset 4  u32  publisher id
//   offset 8  u32  sequence number (per publisher, from 0)
//   offset 12 f64  send time, microseconds since the Unix epoch
//   offset 20 ...  filler up to the requested size

export const PAYLOAD_MAGIC = 0x50_42_4e_31; // "PBN1"
export const PAYLOAD_HEADER_SIZE = 20;

const MAGIC_OFFSET = 0;
const PUBLISHER_OFFSET = 4;
const SEQUENCE_OFFSET = 8;
const TIME_OFFSET = 12;

/** Wall-clock microseconds with sub-millisecond resolution, comparable across processes on one host. */
export function nowMicros(): number {
  return (performance.timeOrigin + performance.now()) * 1000;
}

/** A payload of `size` bytes with the magic and publisher id filled in; the rest is stamped per message. */
export function payloadTemplate(size: number, publisherId: number): Buffer {
  if (size < PAYLOAD_HEADER_SIZE) {
    throw new RangeError(`payload size must be at least ${PAYLOAD_HEADER_SIZE} bytes (publisher id, sequence, timestamp)`);
  }
  const payload = Buffer.alloc(size, 0x2e);
  payload.writeUInt32BE(PAYLOAD_MAGIC, MAGIC_OFFSET);
  payload.writeUInt32BE(publisherId >>> 0, PUBLISHER_OFFSET);
  return payload;
}

/** Stamp sequence and time into a payload that starts at `offset` inside `target`. */
export function stampPayload(target: Buffer, offset: number, sequence: number, timeMicros: number): void {
  target.writeUInt32BE(sequence >>> 0, offset + SEQUENCE_OFFSET);
  target.writeDoubleBE(timeMicros, offset + TIME_OFFSET);
}

export function isBenchPayload(payload: Buffer): boolean {
  return payload.length >= PAYLOAD_HEADER_SIZE && payload.readUInt32BE(MAGIC_OFFSET) === PAYLOAD_MAGIC;
}

export function payloadPublisher(payload: Buffer): number {
  return payload.readUInt32BE(PUBLISHER_OFFSET);
}

export function payloadSequence(payload: Buffer): number {
  return payload.readUInt32BE(SEQUENCE_OFFSET);
}

export function payloadTime(payload: Buffer): number {
  return payload.readDoubleBE(TIME_OFFSET);
}
