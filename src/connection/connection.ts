// One Connection per socket: framing (PacketDecoder), the connect timeout and keepalive,
// the batched and bounded write path, and dispatch to one handler per packet type.
// Every handler error is caught here: network input never crashes the broker.

import type { Duplex } from 'node:stream';
import type { BrokerContext } from '../broker/broker-context.js';
import { isPromise } from '../broker/hook-runner.js';
import type { ClientInfo, DropReason } from '../hooks/hooks.js';
import { MAX_PACKET_SIZE, PacketDecoder, type PacketSink } from '../protocol/decoder.js';
import { encodePacket, type PublishEncoder, type PublishHeaderOptions } from '../protocol/encoder.js';
import { MqttProtocolError } from '../protocol/errors.js';
import type { Packet, ProtocolVersion, WillMessage } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { RoutedMessage } from '../router/routed-message.js';
import type { Session } from '../session/session.js';
import type { PublishWriteOptions, SessionLink } from '../session/session-link.js';
import { dispatchPacket } from './dispatch.js';
import { ConnectionExtras } from './connection-extras.js';
import { currentSlot, keepaliveWheel, type KeepaliveSubject } from './keepalive-wheel.js';
import type { OutboundAliases } from './topic-aliases.js';

export interface ConnectionMeta {
  listener: string;
  remoteAddress: string;
  remotePort: number;
  certificate?: ClientInfo['certificate'];
}

/** Payloads up to this size are copied behind their header and written once. */
const SMALL_PAYLOAD = 2048;

/** The attributes of a client no authenticator gave any: one frozen object shared by all of them. */
const NO_ATTRIBUTES: Record<string, unknown> = Object.freeze({});

/**
 * Packets decoded so far by every connection of the process (a small integer, wrapping). A
 * connection compares it before and after decoding a chunk to tell whether the chunk completed a
 * packet: decoding only calls back into that connection, so no other one counts meanwhile.
 */
let packetsDecoded = 0;

/** Socket errors are read from socket.errored at close; listening is what keeps one from crashing the process. */
function ignoreSocketError(): void {}

export type ConnectionState = 'awaiting-connect' | 'authenticating' | 'connected' | 'closed';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

// Every field below is paid by every idle connection (issue #6: at most 3 KB each, all included),
// so: numbers that stay small integers (V8 keeps a number that is not one in a separate 16-byte
// box per field), rarely used state in ConnectionExtras, collections created on first use.
export class Connection implements SessionLink, KeepaliveSubject, PacketSink {
  readonly broker: BrokerContext;
  readonly socket: Duplex;
  readonly decoder: PacketDecoder;
  readonly client: ClientInfo;
  state: ConnectionState = 'awaiting-connect';
  protocolVersion: ProtocolVersion = 4;
  session: Session | undefined = undefined;
  /** The will of this connection; cleared by a normal DISCONNECT [MQTT-3.1.2-10]. */
  will: WillMessage | undefined = undefined;
  keepalive = 0;
  /** The CONNECT's Session Expiry Interval was 0 (or absent): DISCONNECT may not set one [MQTT-3.14.2-2]. */
  connectExpiryWasZero = true;
  /** The client's Receive Maximum (5.0) / limits.maxInflight (3.1.1). */
  sendWindow: number;
  /** The client's Maximum Packet Size (5.0); MAX_PACKET_SIZE when it set none (no packet is larger). */
  clientMaximumPacketSize = MAX_PACKET_SIZE;
  /** Inbound QoS 1 publishes whose PUBACK is not sent yet (Receive Maximum accounting). */
  pendingAcks = 0;
  private busy = false;
  /** Packets that arrived while a hook answered asynchronously (created then). */
  private backlog: Packet[] | undefined = undefined;
  private connectTimer: NodeJS.Timeout | undefined;
  /** Keep-alive state read by the shared wheel (no timer per connection), in wheel slots. */
  heardAt = 0;
  keepaliveSlot = -1;
  private corked = false;
  /** Successful PUBACK/PUBREC of this tick as (first byte << 16 | packet id), written as one buffer. */
  private acks: number[] | undefined = undefined;
  private extras: ConnectionExtras | undefined = undefined;

  constructor(broker: BrokerContext, socket: Duplex, meta: ConnectionMeta) {
    this.broker = broker;
    this.socket = socket;
    const limits = broker.config.limits;
    this.sendWindow = limits.maxInflight;
    this.client = {
      clientId: '',
      // Set at CONNECT: present from the start, so that V8 keeps it inside the object.
      username: undefined,
      protocolVersion: 4,
      remoteAddress: meta.remoteAddress,
      remotePort: meta.remotePort,
      listener: meta.listener,
      certificate: meta.certificate,
      attributes: NO_ATTRIBUTES,
    };
    this.decoder = new PacketDecoder(this, { maximumPacketSize: limits.maxPacketSize });
    // Bound methods rather than closures: no context object shared by closures to keep per socket.
    // 'drain' is listened to only once the socket holds too much (isWritable).
    socket.on('data', this.onData.bind(this));
    socket.on('error', ignoreSocketError);
    socket.on('close', this.onClose.bind(this));
    this.connectTimer = setTimeout(() => this.destroy(new Error('no CONNECT within the connect timeout')), limits.connectTimeoutMs);
  }

  get clientId(): string {
    return this.client.clientId;
  }

  /** The rarely used state, created on first use. */
  private get more(): ConnectionExtras {
    return (this.extras ??= new ConnectionExtras());
  }

  /** 5.0 topic aliases the client set; created on first use (most clients never set one). */
  get inboundAliases(): Map<number, string> {
    return (this.more.inboundAliases ??= new Map());
  }

  get outboundAliases(): OutboundAliases | undefined {
    return this.extras?.outboundAliases;
  }

  set outboundAliases(aliases: OutboundAliases | undefined) {
    if (aliases !== undefined || this.extras !== undefined) this.more.outboundAliases = aliases;
  }

  /** 5.0 Request Problem Information: false forbids reason strings except on PUBLISH, CONNACK, DISCONNECT. */
  get problemInformation(): boolean {
    return this.extras?.problemInformation ?? true;
  }

  set problemInformation(allowed: boolean) {
    if (!allowed || this.extras !== undefined) this.more.problemInformation = allowed;
  }

  /** Enhanced authentication in progress or done (5.0 AUTH). */
  get auth(): ConnectionExtras['auth'] {
    return this.extras?.auth;
  }

  set auth(auth: ConnectionExtras['auth']) {
    if (auth !== undefined || this.extras !== undefined) this.more.auth = auth;
  }

  /** The CONNECT waiting for enhanced authentication to finish. */
  get pendingConnect(): ConnectionExtras['pendingConnect'] {
    return this.extras?.pendingConnect;
  }

  set pendingConnect(pending: ConnectionExtras['pendingConnect']) {
    if (pending !== undefined || this.extras !== undefined) this.more.pendingConnect = pending;
  }

  /** Milliseconds without a packet after which the wheel closes the connection (1.5 × Keep Alive). */
  get keepaliveLimitMs(): number {
    return this.keepalive * 1500;
  }

  /**
   * A connection-level log line with the fields the README promises: clientId, remoteAddress
   * and reasonCode (undefined when there is none, e.g. a dropped socket). Nothing is built when
   * the level is off.
   */
  log(level: LogLevel, message: string, reasonCode: number | undefined, fields?: Record<string, unknown>): void {
    const root = this.broker.logger;
    if (!root.isLevelEnabled(level)) return;
    const extras = this.more;
    if (extras.logger === undefined || extras.loggerClientId !== this.clientId) {
      extras.logger = root.child({ clientId: this.clientId, remoteAddress: this.client.remoteAddress });
      extras.loggerClientId = this.clientId;
    }
    extras.logger[level]({ reasonCode, ...fields }, message);
  }

  /** A message to this client was dropped; counted for the summary logged at close. */
  countDropped(reason: DropReason): void {
    const dropped = (this.more.dropped ??= {});
    dropped[reason] = (dropped[reason] ?? 0) + 1;
  }

  private onData(chunk: Buffer): void {
    this.broker.counters.bytesReceived += chunk.length;
    if (this.state === 'closed') return;
    const before = packetsDecoded;
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.onError(error);
    }
    // [MQTT-3.1.2-24] only a complete control packet is a sign of life (one refresh per chunk,
    // not per packet; a packet trickling in byte by byte does not keep the connection open).
    if (packetsDecoded !== before) this.heardAt = currentSlot();
  }

  /** A packet from the decoder (PacketSink). */
  onPacket(packet: Packet): void {
    packetsDecoded = (packetsDecoded + 1) & 0x3fffffff;
    if (this.state === 'closed') return;
    if (this.busy) {
      (this.backlog ??= []).push(packet);
      return;
    }
    this.handle(packet);
  }

  private handle(packet: Packet): void {
    try {
      const result = dispatchPacket(this, packet);
      if (isPromise<void>(result)) {
        // A hook answered asynchronously: hold later packets so their order is kept.
        this.busy = true;
        this.socket.pause();
        result.then(
          () => this.resumeInput(),
          (error: unknown) => this.onError(error),
        );
      }
    } catch (error) {
      this.onError(error);
    }
  }

  private resumeInput(): void {
    this.busy = false;
    const backlog = this.backlog;
    while (!this.busy && backlog !== undefined && backlog.length > 0 && this.state !== 'closed') {
      this.handle(backlog.shift()!);
    }
    if (!this.busy && this.state !== 'closed') this.socket.resume();
  }

  /** A decode error or a handler failure: close with the right reason code. */
  onError(error: unknown): void {
    if (this.state === 'closed') return;
    if (error instanceof MqttProtocolError) {
      this.log('debug', 'protocol violation', error.reasonCode, { code: error.code, detail: error.message });
      if (this.state === 'awaiting-connect') {
        if (error.code === 'UNSUPPORTED_PROTOCOL_VERSION') {
          // [MQTT-3.1.2-2] CONNACK 0x01 (3.1.1 form: the only one every client understands), then close
          this.writeBuffer(encodePacket({ type: 'connack', sessionPresent: false, reasonCode: 1 }, 4));
        } else if (this.decoder.protocolVersion === 5) {
          this.writeBuffer(encodePacket({ type: 'connack', sessionPresent: false, reasonCode: error.reasonCode }, 5));
        }
        this.more.closeError = error;
        this.end();
        return;
      }
      // A reason string is always allowed on DISCONNECT [MQTT-3.1.2-29]: say what went wrong.
      this.disconnect(error.reasonCode, error, error.message);
      return;
    }
    this.log('error', 'connection handler failed', ReasonCode.ImplementationSpecificError, { err: error });
    this.disconnect(ReasonCode.ImplementationSpecificError, error instanceof Error ? error : new Error(String(error)));
  }

  /** Server-side close: DISCONNECT with a reason code on 5.0 [MQTT-4.13.1-1], then close. Wills are published. */
  disconnect(reasonCode: number, error?: Error, reasonString?: string): void {
    if (this.state === 'closed') return;
    const extras = this.more;
    extras.closeReasonCode = reasonCode;
    if (error) extras.closeError = error;
    this.log('debug', 'disconnecting client', reasonCode, error === undefined ? undefined : { reason: error.message });
    if (this.protocolVersion === 5 && this.state === 'connected') {
      this.send({ type: 'disconnect', reasonCode, properties: reasonString ? { reasonString } : undefined });
    }
    this.end();
  }

  /** Flushes what is written and closes; the socket is destroyed if the peer does not close. */
  end(): void {
    if (this.state === 'closed') return;
    this.uncork();
    this.state = 'closed';
    this.socket.end();
    const timer = setTimeout(() => this.socket.destroy(), 1000);
    timer.unref();
  }

  destroy(error?: Error): void {
    if (error) this.more.closeError ??= error;
    this.state = 'closed';
    this.socket.destroy();
  }

  private onClose(): void {
    this.state = 'closed';
    clearTimeout(this.connectTimer);
    keepaliveWheel.unwatch(this);
    this.backlog = undefined;
    const extras = this.extras;
    clearTimeout(extras?.expiryTimer);
    const socketError = this.socket.errored;
    if (socketError !== null && extras?.closeError === undefined) this.more.closeError = socketError;
    if (extras?.dropped !== undefined) {
      let total = 0;
      for (const count of Object.values(extras.dropped)) total += count;
      this.log('warn', 'messages dropped', extras.closeReasonCode, { dropped: total, byReason: extras.dropped });
    }
    if (this.session !== undefined) {
      const will = this.will;
      this.will = undefined;
      this.broker.connectionLost(this, will);
    }
    if (this.broker.connections.delete(this)) {
      const reason: { reasonCode?: number; error?: Error } = {};
      if (this.extras?.closeReasonCode !== undefined) reason.reasonCode = this.extras.closeReasonCode;
      if (this.extras?.closeError !== undefined) reason.error = this.extras.closeError;
      this.broker.hooks.clientDisconnected(this.client, reason);
    }
    this.broker.socketClosed(this);
  }

  /** CONNECT accepted: stop the connect timer and start keepalive [MQTT-3.1.2-24] at 1.5x. */
  startKeepalive(keepalive: number): void {
    clearTimeout(this.connectTimer);
    this.connectTimer = undefined;
    this.keepalive = keepalive;
    if (keepalive > 0) keepaliveWheel.watch(this);
  }

  onKeepaliveExpired(): void {
    this.log('debug', 'keepalive expired', ReasonCode.KeepAliveTimeout, { keepalive: this.keepalive });
    this.disconnect(ReasonCode.KeepAliveTimeout, new Error('keepalive timeout'));
  }

  /** Closes the connection when the authentication expires (e.g. a JWT's exp). */
  setExpiry(expiresAt: number): void {
    const extras = this.more;
    clearTimeout(extras.expiryTimer);
    extras.expiryTimer = setTimeout(() => this.disconnect(ReasonCode.NotAuthorized, new Error('authentication expired')), Math.max(0, expiresAt - Date.now()));
  }

  // ---- write path ----

  send(packet: Packet): void {
    let buffer = encodePacket(packet, this.protocolVersion);
    if (buffer.length > this.clientMaximumPacketSize && 'properties' in packet && packet.properties) {
      // [MQTT-3.1.2-25] never exceed the client's Maximum Packet Size: drop what is optional first
      const { reasonString: _reason, userProperties: _user, ...rest } = packet.properties;
      buffer = encodePacket({ ...packet, properties: rest } as Packet, this.protocolVersion);
      if (buffer.length > this.clientMaximumPacketSize) return;
    }
    this.writeBuffer(buffer);
  }

  writeBuffer(buffer: Buffer): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.corkForTick();
    // Acknowledgements collected so far go first: the order of writes is kept.
    if (this.acks !== undefined && this.acks.length > 0) this.flushAcks();
    this.broker.counters.bytesSent += buffer.length;
    this.socket.write(buffer);
  }

  /**
   * PUBACK or PUBREC. Successful ones of one tick are collected and written as one buffer (no
   * packet object, buffer and stream write per message); others are encoded with their reason code.
   */
  writeAck(type: 'puback' | 'pubrec', packetId: number, reasonCode: number): void {
    if (reasonCode !== ReasonCode.Success) {
      this.send({ type, packetId, reasonCode });
      return;
    }
    if (this.socket.destroyed || this.socket.writableEnded) return;
    this.corkForTick();
    (this.acks ??= []).push(((type === 'puback' ? 0x40 : 0x50) << 16) | packetId);
  }

  private flushAcks(): void {
    const acks = this.acks!;
    const buffer = Buffer.allocUnsafe(acks.length * 4);
    let position = 0;
    for (const ack of acks) {
      // Success without properties: the 2-byte form for 3.1.1 and 5.0 alike (§3.4.2.1).
      buffer[position] = ack >>> 16;
      buffer[position + 1] = 2;
      buffer[position + 2] = (ack >> 8) & 0xff;
      buffer[position + 3] = ack & 0xff;
      position += 4;
    }
    acks.length = 0;
    this.broker.counters.bytesSent += buffer.length;
    this.socket.write(buffer);
  }

  /** Batches every write of this tick into one syscall. */
  private corkForTick(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(uncorkConnection, this);
  }

  uncork(): void {
    if (!this.corked) return;
    this.corked = false;
    if (this.acks !== undefined && this.acks.length > 0 && !this.socket.destroyed && !this.socket.writableEnded) this.flushAcks();
    this.socket.uncork();
  }

  isWritable(): boolean {
    const socket = this.socket;
    if (socket.destroyed || socket.writableEnded) return false;
    if (socket.writableLength < this.broker.config.limits.maxSocketBufferBytes) return true;
    // The session stops sending until 'drain' (listened to from the first time it is needed).
    const extras = this.more;
    if (!extras.drainWatched) {
      extras.drainWatched = true;
      socket.on('drain', () => this.session?.pump());
    }
    return false;
  }

  writePublish(message: RoutedMessage, options: PublishWriteOptions): boolean {
    // A closing socket: the message stays in flight and is re-sent when the session resumes.
    if (this.socket.destroyed || this.socket.writableEnded) return true;
    const encoder = message.encoder(this.protocolVersion);
    if (this.protocolVersion === 5) {
      const now = Date.now();
      const headerOptions = {
        qos: options.qos,
        retain: options.retain,
        dup: options.dup,
        packetId: options.packetId,
        subscriptionIdentifiers: options.subscriptionIdentifiers,
        messageExpiryInterval: message.remainingExpiry(now), // [MQTT-3.3.2-6] the remaining lifetime
        topicAlias: undefined as number | undefined,
        omitTopic: false,
      };
      const aliases = this.outboundAliases;
      let newAlias: number | undefined;
      if (aliases !== undefined) {
        const known = aliases.get(message.stored.topic);
        if (known !== undefined) {
          headerOptions.topicAlias = known;
          headerOptions.omitTopic = true;
        } else {
          newAlias = aliases.next();
          headerOptions.topicAlias = newAlias;
        }
      }
      // [MQTT-3.1.2-25] a message too big for this client is not sent to it
      if (this.clientMaximumPacketSize < MAX_PACKET_SIZE && encoder.packetSize(headerOptions) > this.clientMaximumPacketSize) {
        return false;
      }
      if (newAlias !== undefined) aliases!.assign(message.stored.topic, newAlias);
      this.writeEncoded(encoder, headerOptions);
    } else if (options.qos === 0 && encoder.payload.length <= SMALL_PAYLOAD) {
      this.writeBuffer(message.v4Qos0Packet(options.retain));
    } else {
      this.writeEncoded(encoder, { qos: options.qos, retain: options.retain, dup: options.dup, packetId: options.packetId });
    }
    this.broker.counters.messagesSent++;
    return true;
  }

  private writeEncoded(encoder: PublishEncoder, options: PublishHeaderOptions): void {
    if (encoder.payload.length <= SMALL_PAYLOAD) {
      // One write instead of two: a small copy is cheaper than a second stream write.
      this.writeBuffer(encoder.packet(options));
    } else {
      this.writeBuffer(encoder.header(options));
      this.writeBuffer(encoder.payload);
    }
  }

  writePubrel(packetId: number): void {
    this.send({ type: 'pubrel', packetId, reasonCode: 0 });
  }
}

function uncorkConnection(connection: Connection): void {
  connection.uncork();
}
