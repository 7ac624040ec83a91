import { isUtf8 } from 'node:buffer';
import { malformed } from './errors.js';
import type { PacketType } from './packets.js';

/**
 * Buffer#latin1Slice is the primitive behind toString('latin1'), present in every Node release;
 * calling it directly skips argument normalisation, which shows on short strings (topics, ids).
 * Only reached for pure-ASCII bytes, where latin1 and UTF-8 decode identically.
 */
type Latin1Sliceable = Buffer & { latin1Slice(start: number, end: number): string };

/** What an idle reader points at: shared, so it pins no socket chunk and costs nothing per connection. */
const EMPTY = Buffer.alloc(0);

/**
 * Cursor over the body of one packet (buf[pos..end)). One instance is reused for every
 * packet (decoders share one), so reading allocates nothing but the values themselves.
 * Every read checks the bound: running past `end` means the remaining length was too short.
 */
export class ByteReader {
  buf: Buffer = EMPTY;
  pos = 0;
  end = 0;
  packetType: PacketType = 'connect';

  reset(buf: Buffer, pos: number, end: number, packetType: PacketType): void {
    this.buf = buf;
    this.pos = pos;
    this.end = end;
    this.packetType = packetType;
  }

  /** Drops the reference to the chunk once its packet is decoded (values read from it are slices or copies). */
  release(): void {
    this.buf = EMPTY;
  }

  get remaining(): number {
    return this.end - this.pos;
  }

  private short(what: string): never {
    throw malformed('PACKET_TOO_SHORT', `${this.packetType}: remaining length too short to hold ${what}`, this.packetType);
  }

  byte(what: string): number {
    if (this.pos >= this.end) this.short(what);
    return this.buf[this.pos++]!;
  }

  uint16(what: string): number {
    const pos = this.pos;
    if (pos + 2 > this.end) this.short(what);
    this.pos = pos + 2;
    return (this.buf[pos]! << 8) | this.buf[pos + 1]!;
  }

  uint32(what: string): number {
    const pos = this.pos;
    if (pos + 4 > this.end) this.short(what);
    this.pos = pos + 4;
    return this.buf.readUInt32BE(pos);
  }

  /** Variable Byte Integer: at most 4 bytes, minimal encoding. */
  variableInteger(what: string): number {
    let value = 0;
    let multiplier = 1;
    let count = 0;
    let byte: number;
    do {
      if (this.pos >= this.end) this.short(what);
      byte = this.buf[this.pos++]!;
      count++;
      if (count > 4) {
        throw malformed('MALFORMED_VARIABLE_INTEGER', `${this.packetType}: ${what} longer than 4 bytes`, this.packetType); // [MQTT-1.5.5-1]
      }
      value += (byte & 0x7f) * multiplier;
      multiplier *= 128;
    } while ((byte & 0x80) !== 0);
    if (count > 1 && byte === 0) {
      // A trailing zero continuation byte means a shorter encoding existed.
      throw malformed('MALFORMED_VARIABLE_INTEGER', `${this.packetType}: ${what} not minimally encoded`, this.packetType); // [MQTT-1.5.5-1]
    }
    return value;
  }

  /** Binary Data: two-byte length then bytes; returned as a slice of the packet buffer (no copy). */
  binary(what: string): Buffer {
    const length = this.uint16(what);
    const start = this.pos;
    if (start + length > this.end) this.short(what);
    this.pos = start + length;
    return this.buf.subarray(start, start + length);
  }

  /** Set by topicName(): whether the topic just read contains '+' or '#'. */
  topicHasWildcard = false;

  /**
   * A PUBLISH / will topic: like string(), and in the same pass notes wildcards in
   * topicHasWildcard (the hot path reads each topic byte once).
   */
  topicName(what: string): string {
    const length = this.uint16(what);
    const buf = this.buf;
    const start = this.pos;
    const end = start + length;
    if (end > this.end) this.short(what);
    this.pos = end;
    let wildcard = false;
    for (let index = start; index < end; index++) {
      const byte = buf[index]!;
      if (byte === 0x2b || byte === 0x23) wildcard = true;
      else if (byte === 0) throw malformed('INVALID_UTF8', `${this.packetType}: ${what} contains U+0000`, this.packetType); // [MQTT-1.5.4-2]
      else if (byte >= 0x80) {
        const topic = decodeNonAscii(buf, index, start, end, what, this.packetType);
        this.topicHasWildcard = wildcard || topic.includes('+') || topic.includes('#');
        return topic;
      }
    }
    this.topicHasWildcard = wildcard;
    return (buf as Latin1Sliceable).latin1Slice(start, end);
  }

  /** UTF-8 Encoded String: well-formed UTF-8, no surrogates, no U+0000. */
  string(what: string): string {
    const length = this.uint16(what);
    const start = this.pos;
    const end = start + length;
    if (end > this.end) this.short(what);
    this.pos = end;
    return decodeUtf8(this.buf, start, end, what, this.packetType);
  }
}

/** Decode and validate a UTF-8 string held in buf[start..end). */
export function decodeUtf8(buf: Buffer, start: number, end: number, what: string, packetType: PacketType): string {
  // Fast path: most topics and identifiers are ASCII, which latin1 decodes identically.
  for (let index = start; index < end; index++) {
    const byte = buf[index]!;
    if (byte === 0) {
      throw malformed('INVALID_UTF8', `${packetType}: ${what} contains U+0000`, packetType); // [MQTT-1.5.4-2]
    }
    if (byte >= 0x80) return decodeNonAscii(buf, index, start, end, what, packetType);
  }
  return (buf as Latin1Sliceable).latin1Slice(start, end);
}

function decodeNonAscii(buf: Buffer, from: number, start: number, end: number, what: string, packetType: PacketType): string {
  const bytes = buf.subarray(start, end);
  // isUtf8 rejects overlong forms and UTF-16 surrogate code points (ED A0..BF xx).
  if (!isUtf8(bytes)) {
    throw malformed('INVALID_UTF8', `${packetType}: ${what} is not well-formed UTF-8`, packetType); // [MQTT-1.5.4-1]
  }
  const zero = buf.indexOf(0, from);
  if (zero !== -1 && zero < end) {
    throw malformed('INVALID_UTF8', `${packetType}: ${what} contains U+0000`, packetType); // [MQTT-1.5.4-2]
  }
  return bytes.toString('utf8');
}
