// Incremental framing: turns a byte stream into packets. A packet that arrives in one
// chunk is decoded in place (payloads are slices of that chunk); a packet split across
// chunks is assembled once, when its last byte arrives.
import { ByteReader } from './byte-reader.js';
import { checkFixedHeader, decodeBody } from './decode-packets.js';
import { MqttProtocolError, malformed } from './errors.js';
import type { Packet, PacketType, ProtocolVersion } from './packets.js';
import { ReasonCode } from './reason-codes.js';

export interface DecoderOptions {
  /** Version used until a CONNECT is decoded (which then sets it). Default 4. */
  protocolVersion?: ProtocolVersion;
  /** Largest whole packet (fixed header included) accepted. Default 268435460. */
  maximumPacketSize?: number;
}

/** Remaining length at most 268,435,455 plus a 5-byte fixed header. */
export const MAX_PACKET_SIZE = 268_435_460;

const HEADER_INCOMPLETE = -1;

export class PacketDecoder {
  protocolVersion: ProtocolVersion;
  maximumPacketSize: number;

  private readonly onPacket: (packet: Packet) => void;
  private readonly reader = new ByteReader();
  /** Bytes of an incomplete packet, oldest first. */
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Total size of the pending packet once its fixed header is known, else HEADER_INCOMPLETE. */
  private pendingTotal = HEADER_INCOMPLETE;
  /** First error seen (malformed input, or a throwing onPacket): the stream position is lost after it. */
  private failure: unknown;
  private failed = false;
  // Set by parseHeader: avoids allocating a result object per packet.
  private headerLength = 0;
  private remainingLength = 0;
  private packetType: PacketType = 'connect';

  constructor(onPacket: (packet: Packet) => void, options: DecoderOptions = {}) {
    this.onPacket = onPacket;
    this.protocolVersion = options.protocolVersion ?? 4;
    this.maximumPacketSize = options.maximumPacketSize ?? MAX_PACKET_SIZE;
  }

  get bufferedBytes(): number {
    return this.pendingLength;
  }

  /**
   * Feed bytes. Throws MqttProtocolError on malformed input. After any throw (including one from
   * onPacket) the rest of the chunk is lost, so the decoder refuses further input with the same error.
   */
  push(chunk: Buffer): void {
    if (this.failed) throw this.failure;
    try {
      if (this.pendingLength === 0) {
        this.decodeFrom(chunk, 0);
      } else {
        const offset = this.completePending(chunk);
        if (offset >= 0 && offset < chunk.length) this.decodeFrom(chunk, offset);
      }
    } catch (error) {
      this.failed = true;
      this.failure = error;
      throw error;
    }
  }

  /**
   * Add a chunk to a pending packet. Returns the offset in `chunk` where the next
   * packet starts once the pending one has been decoded, or -1 while still incomplete.
   */
  private completePending(chunk: Buffer): number {
    if (this.pendingTotal === HEADER_INCOMPLETE) {
      // A fixed header is at most 5 bytes, so at most 5 of the new bytes are needed to finish it.
      const headerBytes = Buffer.concat([...this.pending, chunk.subarray(0, 5)]);
      if (!this.parseHeader(headerBytes, 0, headerBytes.length)) {
        this.pending = [headerBytes];
        this.pendingLength = headerBytes.length;
        return -1;
      }
      this.pendingTotal = this.headerLength + this.remainingLength;
    }
    const total = this.pendingTotal;
    if (this.pendingLength + chunk.length < total) {
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
      return -1;
    }
    const taken = total - this.pendingLength;
    this.pending.push(chunk.subarray(0, taken));
    const packetBytes = Buffer.concat(this.pending, total);
    this.pending = [];
    this.pendingLength = 0;
    this.pendingTotal = HEADER_INCOMPLETE;
    this.parseHeader(packetBytes, 0, total);
    this.decodeOne(packetBytes, 0);
    return taken;
  }

  private decodeFrom(buf: Buffer, offset: number): void {
    const length = buf.length;
    while (offset < length) {
      if (!this.parseHeader(buf, offset, length)) {
        this.keepPending(buf.subarray(offset), HEADER_INCOMPLETE);
        return;
      }
      const total = this.headerLength + this.remainingLength;
      if (offset + total > length) {
        this.keepPending(buf.subarray(offset), total);
        return;
      }
      this.decodeOne(buf, offset);
      offset += total;
    }
  }

  private keepPending(rest: Buffer, total: number): void {
    this.pending = [rest];
    this.pendingLength = rest.length;
    this.pendingTotal = total;
  }

  /**
   * Parse and check the fixed header at buf[offset..]. Returns false if it is not complete yet.
   * Type, flags and size limits are enforced here, before any body is buffered.
   */
  private parseHeader(buf: Buffer, offset: number, length: number): boolean {
    if (offset >= length) return false;
    this.packetType = checkFixedHeader(buf[offset]!, this.protocolVersion);
    let value = 0;
    let multiplier = 1;
    let position = offset + 1;
    let byte: number;
    do {
      if (position >= length) return false;
      byte = buf[position++]!;
      value += (byte & 0x7f) * multiplier;
      multiplier *= 128;
      if ((byte & 0x80) !== 0 && position - offset > 4) {
        throw malformed('MALFORMED_REMAINING_LENGTH', 'remaining length longer than 4 bytes'); // [MQTT-1.5.5-1] [MQTT-2.2.3-1]
      }
    } while ((byte & 0x80) !== 0);
    if (byte === 0 && position - offset > 2) {
      throw malformed('MALFORMED_REMAINING_LENGTH', 'remaining length not minimally encoded'); // [MQTT-1.5.5-1]
    }
    const headerLength = position - offset;
    if (headerLength + value > this.maximumPacketSize) {
      throw new MqttProtocolError(
        'PACKET_TOO_LARGE',
        ReasonCode.PacketTooLarge,
        `packet of ${headerLength + value} bytes exceeds the maximum packet size ${this.maximumPacketSize}`,
      );
    }
    this.headerLength = headerLength;
    this.remainingLength = value;
    return true;
  }

  /** Decode the packet at buf[offset..] whose header parseHeader just read. */
  private decodeOne(buf: Buffer, offset: number): void {
    const firstByte = buf[offset]!;
    const start = offset + this.headerLength;
    const reader = this.reader;
    reader.reset(buf, start, start + this.remainingLength, this.packetType);
    const packet = decodeBody(reader, firstByte, this.protocolVersion);
    reader.release(); // an idle connection must not keep its last chunk alive
    if (packet.type === 'connect') this.protocolVersion = packet.protocolVersion;
    this.onPacket(packet);
  }
}
