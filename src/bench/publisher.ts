// The sending side of one publishing client. The PUBLISH packet is encoded once;
// a batch of them is one memcpy from a pre-filled template followed by patching
// the packet id and the payload's sequence number and timestamp of each copy,
// then one socket write for the whole batch.
import { encodePacket } from '../protocol/encoder.js';
import type { QoS } from '../protocol/packets.js';
import type { BenchClient } from './client.js';
import { payloadTemplate, stampPayload } from './payload.js';

export interface PublisherOptions {
  topic: string;
  qos: QoS;
  /** Payload size in bytes (at least PAYLOAD_HEADER_SIZE). */
  size: number;
  /** Written into every payload so subscribers can tell publishers apart. */
  publisherId: number;
  /** Maximum unacknowledged QoS 1/2 messages (lowered to the broker's Receive Maximum on MQTT 5). */
  inflight: number;
}

// Keep one batch's template small enough to stay in cache, whatever the payload size.
const BATCH_TEMPLATE_BYTES = 64 * 1024;
const MAX_BATCH = 256;
const PACKET_ID_LIMIT = 65_535;

/** Length of the fixed header of an encoded packet (type byte + variable byte integer). */
function fixedHeaderLength(packet: Buffer): number {
  let offset = 1;
  while (((packet[offset] as number) & 0x80) !== 0) offset++;
  return offset + 1;
}

export class Publisher {
  readonly publisherId: number;
  readonly qos: QoS;
  /** Messages written to the socket (their sequence numbers are 0 .. sent-1). */
  sent = 0;
  /** QoS 1/2 flows completed. */
  acked = 0;
  inflight = 0;
  /** Largest number of messages one `send` call writes. */
  readonly maxBatch: number;
  private readonly packetLength: number;
  private readonly packetIdOffset: number;
  private readonly payloadOffset: number;
  private readonly batchTemplate: Buffer;
  /** The in-flight window actually used. */
  readonly inflightLimit: number;
  private readonly idsInUse = new Uint8Array(PACKET_ID_LIMIT + 1);
  private nextPacketId = 1;

  constructor(
    readonly client: BenchClient,
    options: PublisherOptions,
  ) {
    this.publisherId = options.publisherId;
    this.qos = options.qos;
    // An MQTT 5 broker announces how many unacknowledged messages it accepts; exceeding it is a protocol error.
    this.inflightLimit = Math.max(1, Math.min(options.inflight, client.receiveMaximum, PACKET_ID_LIMIT - 1));
    const payload = payloadTemplate(options.size, options.publisherId);
    const packet = encodePacket(
      {
        type: 'publish',
        topic: options.topic,
        payload,
        qos: options.qos,
        retain: false,
        dup: false,
        ...(options.qos > 0 ? { packetId: 1 } : {}),
      },
      client.protocolVersion,
    );
    this.packetLength = packet.length;
    this.payloadOffset = packet.length - payload.length;
    // Variable header of PUBLISH: topic (2-byte length + bytes), then the packet id when QoS > 0.
    this.packetIdOffset = fixedHeaderLength(packet) + 2 + Buffer.byteLength(options.topic);
    this.maxBatch = Math.max(1, Math.min(MAX_BATCH, Math.floor(BATCH_TEMPLATE_BYTES / packet.length)));
    this.batchTemplate = Buffer.allocUnsafe(this.maxBatch * packet.length);
    for (let index = 0; index < this.maxBatch; index++) packet.copy(this.batchTemplate, index * packet.length);
  }

  /** Room left in the in-flight window (unbounded for QoS 0). */
  get window(): number {
    return this.qos === 0 ? Number.POSITIVE_INFINITY : this.inflightLimit - this.inflight;
  }

  /** False while the socket's buffer is full: wait for its 'drain'. */
  get writable(): boolean {
    return !this.client.closed && !this.client.socket.writableNeedDrain;
  }

  /** Called after an acknowledgement frees room in the window. */
  onWindowOpen: (() => void) | undefined;

  /**
   * Write up to `count` messages (at most maxBatch, at most the window) in one
   * socket write, all stamped with `timeMicros`. Returns how many were written.
   */
  send(count: number, timeMicros: number): number {
    const length = this.packetLength;
    let messages = count < this.maxBatch ? count : this.maxBatch;
    if (this.qos > 0 && messages > this.inflightLimit - this.inflight) messages = this.inflightLimit - this.inflight;
    if (messages <= 0 || this.client.closed) return 0;
    const batch = Buffer.allocUnsafe(messages * length);
    this.batchTemplate.copy(batch, 0, 0, messages * length);
    let sequence = this.sent;
    for (let index = 0, base = 0; index < messages; index++, base += length) {
      if (this.qos > 0) batch.writeUInt16BE(this.takePacketId(), base + this.packetIdOffset);
      stampPayload(batch, base + this.payloadOffset, sequence++, timeMicros);
    }
    this.sent = sequence;
    if (this.qos > 0) this.inflight += messages;
    this.client.socket.write(batch);
    return messages;
  }

  private takePacketId(): number {
    // A late acknowledgement keeps its id reserved; skip ids still in use.
    let packetId = this.nextPacketId;
    while (this.idsInUse[packetId] === 1) packetId = packetId === PACKET_ID_LIMIT ? 1 : packetId + 1;
    this.idsInUse[packetId] = 1;
    this.nextPacketId = packetId === PACKET_ID_LIMIT ? 1 : packetId + 1;
    return packetId;
  }

  /** The client's onAck: the QoS 1/2 flow of `packetId` completed. */
  acknowledge(packetId: number): void {
    if (this.idsInUse[packetId] !== 1) return; // not ours (already completed): ignore
    this.idsInUse[packetId] = 0;
    this.inflight--;
    this.acked++;
    this.onWindowOpen?.();
  }
}
