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

/** Where decoded packets go: a function, or an object (a connection passes itself and saves a closure). */
export interface PacketSink {
  onPacket(packet: Packet): void;
}

/** The bytes of a packet split across chunks. */
interface PendingPacket {
  /** Oldest first. */
  chunks: Buffer[];
  length: number;
  /** Size of the whole packet once its fixed header is known, else HEADER_INCOMPLETE. */
  total: number;
}

// Decoding a packet body is synchronous, and the reader is released before the packet is handed
// on: one reader serves every decoder, so an idle connection's decoder holds none of its own.
const sharedReader = new ByteReader();

// Set by parseHeader and read right after it, before any packet is handed on (so, like the
// reader, shared by every decoder): no result object per packet, no fields per decoder.
let headerLength = 0;
let remainingLength = 0;
let packetType: PacketType = 'connect';

export class PacketDecoder {
  protocolVersion: ProtocolVersion;
  maximumPacketSize: number;

  private readonly sink: PacketSink;
  /** An incomplete packet; undefined between packets (an idle connection holds no buffer). */
  private pending: PendingPacket | undefined;
  /** First error seen (malformed input, or a throwing onPacket): the stream position is lost after it. */
  private failure: { error: unknown } | undefined;

  constructor(onPacket: ((packet: Packet) => void) | PacketSink, options: DecoderOptions = {}) {
    this.sink = typeof onPacket === 'function' ? { onPacket } : onPacket;
    this.protocolVersion = options.protocolVersion ?? 4;
    this.maximumPacketSize = options.maximumPacketSize ?? MAX_PACKET_SIZE;
  }

  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }

  /**
   * Feed bytes. Throws MqttProtocolError on malformed input. After any throw (including one from
   * onPacket) the rest of the chunk is lost, so the decoder refuses further input with the same error.
   */
  push(chunk: Buffer): void {
    if (this.failure !== undefined) throw this.failure.error;
    try {
      const pending = this.pending;
      if (pending === undefined) {
        this.decodeFrom(chunk, 0);
      } else {
        const offset = this.completePending(pending, chunk);
        if (offset >= 0 && offset < chunk.length) this.decodeFrom(chunk, offset);
      }
    } catch (error) {
      this.failure = { error };
      throw error;
    }
  }

  /**
   * Add a chunk to a pending packet. Returns the offset in `chunk` where the next
   * packet starts once the pending one has been decoded, or -1 while still incomplete.
   */
  private completePending(pending: PendingPacket, chunk: Buffer): number {
    if (pending.total === HEADER_INCOMPLETE) {
      // A fixed header is at most 5 bytes, so at most 5 of the new bytes are needed to finish it.
      const headerBytes = Buffer.concat([...pending.chunks, chunk.subarray(0, 5)]);
      if (!this.parseHeader(headerBytes, 0, headerBytes.length)) {
        pending.chunks = [headerBytes];
        pending.length = headerBytes.length;
        return -1;
      }
      pending.total = headerLength + remainingLength;
    }
    const total = pending.total;
    if (pending.length + chunk.length < total) {
      pending.chunks.push(chunk);
      pending.length += chunk.length;
      return -1;
    }
    const taken = total - pending.length;
    pending.chunks.push(chunk.subarray(0, taken));
    const packetBytes = Buffer.concat(pending.chunks, total);
    this.pending = undefined;
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
      const total = headerLength + remainingLength;
      if (offset + total > length) {
        this.keepPending(buf.subarray(offset), total);
        return;
      }
      this.decodeOne(buf, offset);
      offset += total;
    }
  }

  private keepPending(rest: Buffer, total: number): void {
    this.pending = { chunks: [rest], length: rest.length, total };
  }

  /**
   * Parse and check the fixed header at buf[offset..]. Returns false if it is not complete yet.
   * Type, flags and size limits are enforced here, before any body is buffered.
   */
  private parseHeader(buf: Buffer, offset: number, length: number): boolean {
    if (offset >= length) return false;
    packetType = checkFixedHeader(buf[offset]!, this.protocolVersion);
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
    const fixedHeaderLength = position - offset;
    if (fixedHeaderLength + value > this.maximumPacketSize) {
      throw new MqttProtocolError(
        'PACKET_TOO_LARGE',
        ReasonCode.PacketTooLarge,
        `packet of ${fixedHeaderLength + value} bytes exceeds the maximum packet size ${this.maximumPacketSize}`,
      );
    }
    headerLength = fixedHeaderLength;
    remainingLength = value;
    return true;
  }

  /** Decode the packet at buf[offset..] whose header parseHeader just read. */
  private decodeOne(buf: Buffer, offset: number): void {
    const firstByte = buf[offset]!;
    const start = offset + headerLength;
    const reader = sharedReader;
    reader.reset(buf, start, start + remainingLength, packetType);
    let packet: Packet;
    try {
      packet = decodeBody(reader, firstByte, this.protocolVersion);
    } finally {
      reader.release(); // no decoder keeps a chunk alive, a malformed one included
    }
    if (packet.type === 'connect') this.protocolVersion = packet.protocolVersion;
    this.sink.onPacket(packet);
  }
}
