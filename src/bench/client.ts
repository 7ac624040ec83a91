// A minimal MQTT client on a raw socket, built for load generation: every
// outgoing packet is pre-encoded by Petrel's codec, acknowledgements produced
// while decoding one chunk go out in a single write, and nothing is allocated
// per received message beyond what the decoder itself creates.
import { connect as netConnect, type Socket } from 'node:net';
import { PacketDecoder } from '../protocol/decoder.js';
import { encodePacket } from '../protocol/encoder.js';
import type { Packet, ProtocolVersion, PublishPacket, QoS } from '../protocol/packets.js';
import { BenchError, errorReason } from './bench-error.js';
import { nowMicros } from './payload.js';

export interface ClientOptions {
  host: string;
  port: number;
  protocolVersion: 4 | 5;
  clientId: string;
  username?: string;
  password?: string;
  /** Seconds; the caller sends PINGREQs (see KeepaliveSweeper) so 100k clients need no timer each. */
  keepalive: number;
  clean: boolean;
  /** 5.0 Session Expiry Interval (seconds) sent in CONNECT; ignored for 3.1.1. */
  sessionExpiry?: number;
  localAddress?: string;
  connectTimeoutMs: number;
}

export interface ClientHandlers {
  /** A PUBLISH arrived; `receivedAtMicros` is when its chunk was read. */
  onPublish?(packet: PublishPacket, receivedAtMicros: number): void;
  /** The QoS 1 (PUBACK) or QoS 2 (PUBCOMP) flow of one of our PUBLISHes completed. */
  onAck?(packetId: number): void;
  /** The connection ended after CONNACK; `reason` is undefined for a close we asked for. */
  onClose?(reason: string | undefined): void;
}

const ACK_PUBACK = 0;
const ACK_PUBREC = 1;
const ACK_PUBREL = 2;
const ACK_PUBCOMP = 3;

/** Pre-encoded acknowledgement packets per protocol version; only the packet id differs per message. */
function ackTemplates(version: ProtocolVersion): Buffer[] {
  return [
    encodePacket({ type: 'puback', packetId: 1, reasonCode: 0 }, version),
    encodePacket({ type: 'pubrec', packetId: 1, reasonCode: 0 }, version),
    encodePacket({ type: 'pubrel', packetId: 1, reasonCode: 0 }, version),
    encodePacket({ type: 'pubcomp', packetId: 1, reasonCode: 0 }, version),
  ];
}

const templatesByVersion = new Map<ProtocolVersion, { acks: Buffer[]; ping: Buffer; disconnect: Buffer }>();

function templatesFor(version: ProtocolVersion): { acks: Buffer[]; ping: Buffer; disconnect: Buffer } {
  let templates = templatesByVersion.get(version);
  if (templates === undefined) {
    templates = {
      acks: ackTemplates(version),
      ping: encodePacket({ type: 'pingreq' }, version),
      disconnect: encodePacket({ type: 'disconnect', reasonCode: 0 }, version),
    };
    templatesByVersion.set(version, templates);
  }
  return templates;
}

// The packet id sits right after the 2-byte fixed header in every acknowledgement packet.
const ACK_PACKET_ID_OFFSET = 2;

export class BenchClient {
  readonly socket: Socket;
  readonly protocolVersion: 4 | 5;
  connected = false;
  closed = false;
  /** How many QoS 1/2 PUBLISHes the broker accepts unacknowledged (MQTT 5 CONNACK Receive Maximum; 65,535 if absent). */
  receiveMaximum = 65_535;
  private readonly decoder: PacketDecoder;
  private readonly templates: { acks: Buffer[]; ping: Buffer; disconnect: Buffer };
  private handlers: ClientHandlers = {};
  private chunkTime = 0;
  // Acknowledgements decided while decoding the current chunk: kinds and packet ids.
  private pendingAckKinds: number[] = [];
  private pendingAckIds: number[] = [];
  private readonly subscribeWaiters = new Map<number, { resolve(codes: number[]): void; reject(error: Error): void }>();
  private nextSubscribeId = 1;
  private connectSettle: { resolve(): void; reject(error: Error): void } | undefined;
  private closing = false;
  private failureReason: string | undefined;

  private constructor(private readonly options: ClientOptions) {
    this.protocolVersion = options.protocolVersion;
    this.templates = templatesFor(options.protocolVersion);
    this.decoder = new PacketDecoder((packet) => this.handlePacket(packet), { protocolVersion: options.protocolVersion });
    this.socket = netConnect({
      host: options.host,
      port: options.port,
      ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
    });
    this.socket.setNoDelay(true);
    this.socket.on('data', (chunk: Buffer) => this.handleData(chunk));
    this.socket.on('error', (error) => this.noteFailure(errorReason(error)));
    this.socket.on('close', () => this.handleClose());
  }

  /** Open a connection and complete the CONNECT/CONNACK exchange. Rejects with a BenchError-like reason. */
  static connect(options: ClientOptions, handlers: ClientHandlers = {}): Promise<BenchClient> {
    const client = new BenchClient(options);
    client.handlers = handlers;
    return new Promise<BenchClient>((resolve, reject) => {
      const timer = setTimeout(() => {
        client.abort('connect-timeout');
      }, options.connectTimeoutMs);
      client.connectSettle = {
        resolve: () => {
          clearTimeout(timer);
          resolve(client);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      client.socket.once('connect', () => {
        const connectPacket = encodePacket(
          {
            type: 'connect',
            protocolName: 'MQTT',
            protocolVersion: options.protocolVersion,
            clean: options.clean,
            keepalive: options.keepalive,
            clientId: options.clientId,
            ...(options.username === undefined ? {} : { username: options.username }),
            ...(options.password === undefined ? {} : { password: Buffer.from(options.password) }),
            ...(options.sessionExpiry === undefined || options.protocolVersion !== 5 ? {} : { properties: { sessionExpiryInterval: options.sessionExpiry } }),
          },
          options.protocolVersion,
        );
        client.socket.write(connectPacket);
      });
    });
  }

  setHandlers(handlers: ClientHandlers): void {
    this.handlers = handlers;
  }

  subscribe(filters: readonly string[], qos: QoS): Promise<number[]> {
    const packetId = this.nextSubscribeId++;
    const packet = encodePacket(
      {
        type: 'subscribe',
        packetId,
        subscriptions: filters.map((topicFilter) => ({
          topicFilter,
          qos,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0 as const,
        })),
      },
      this.protocolVersion,
    );
    return new Promise<number[]>((resolve, reject) => {
      this.subscribeWaiters.set(packetId, { resolve, reject });
      this.socket.write(packet);
    });
  }

  ping(): void {
    if (this.connected && !this.closing) this.socket.write(this.templates.ping);
  }

  /** Send DISCONNECT and close; resolves once the socket is closed (or destroyed after `timeoutMs`). */
  close(timeoutMs = 2000): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closing = true;
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => this.socket.destroy(), timeoutMs);
      this.socket.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
      if (this.connected && this.socket.writable) this.socket.end(this.templates.disconnect);
      else this.socket.destroy();
    });
  }

  /** Drop the connection without DISCONNECT. */
  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }

  private handleData(chunk: Buffer): void {
    // Every packet in one chunk arrived at the same moment: read the clock once.
    this.chunkTime = nowMicros();
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.abort(`protocol-error:${errorReason(error)}`);
      return;
    }
    if (this.pendingAckKinds.length > 0) this.flushAcks();
  }

  private flushAcks(): void {
    const kinds = this.pendingAckKinds;
    const ids = this.pendingAckIds;
    const acks = this.templates.acks;
    let size = 0;
    for (let index = 0; index < kinds.length; index++) size += (acks[kinds[index] as number] as Buffer).length;
    const output = Buffer.allocUnsafe(size);
    let offset = 0;
    for (let index = 0; index < kinds.length; index++) {
      const template = acks[kinds[index] as number] as Buffer;
      template.copy(output, offset);
      output.writeUInt16BE(ids[index] as number, offset + ACK_PACKET_ID_OFFSET);
      offset += template.length;
    }
    kinds.length = 0;
    ids.length = 0;
    if (!this.closing) this.socket.write(output);
  }

  private queueAck(kind: number, packetId: number): void {
    this.pendingAckKinds.push(kind);
    this.pendingAckIds.push(packetId);
  }

  private handlePacket(packet: Packet): void {
    switch (packet.type) {
      case 'publish':
        if (packet.qos === 1) this.queueAck(ACK_PUBACK, packet.packetId as number);
        else if (packet.qos === 2) this.queueAck(ACK_PUBREC, packet.packetId as number);
        this.handlers.onPublish?.(packet, this.chunkTime);
        break;
      case 'puback':
      case 'pubcomp':
        this.handlers.onAck?.(packet.packetId);
        break;
      case 'pubrec':
        if (packet.reasonCode >= 0x80) this.handlers.onAck?.(packet.packetId);
        else this.queueAck(ACK_PUBREL, packet.packetId);
        break;
      case 'pubrel':
        this.queueAck(ACK_PUBCOMP, packet.packetId);
        break;
      case 'connack':
        if (packet.reasonCode !== 0) {
          const code = packet.reasonCode.toString(16).padStart(2, '0');
          this.abort(`connack-0x${code}`);
        } else {
          this.connected = true;
          if (packet.properties?.receiveMaximum !== undefined) this.receiveMaximum = packet.properties.receiveMaximum;
          const settle = this.connectSettle;
          this.connectSettle = undefined;
          settle?.resolve();
        }
        break;
      case 'suback': {
        const waiter = this.subscribeWaiters.get(packet.packetId);
        this.subscribeWaiters.delete(packet.packetId);
        waiter?.resolve(packet.reasonCodes);
        break;
      }
      case 'disconnect':
        this.noteFailure(`disconnect-0x${packet.reasonCode.toString(16).padStart(2, '0')}`);
        break;
      default:
        break;
    }
  }

  /** Remember why the connection is failing; the first reason wins (an 'error' precedes 'close'). */
  private noteFailure(reason: string): void {
    this.failureReason ??= reason;
  }

  private abort(reason: string): void {
    this.noteFailure(reason);
    this.socket.destroy();
  }

  private handleClose(): void {
    this.closed = true;
    const reason = this.failureReason ?? (this.connected ? 'connection-closed' : 'closed-before-connack');
    const error = new BenchError(reason, `connection to ${this.options.host}:${this.options.port} failed: ${reason}`);
    const settle = this.connectSettle;
    this.connectSettle = undefined;
    settle?.reject(error);
    for (const waiter of this.subscribeWaiters.values()) waiter.reject(error);
    this.subscribeWaiters.clear();
    if (this.connected) this.handlers.onClose?.(this.closing ? undefined : reason);
  }
}
