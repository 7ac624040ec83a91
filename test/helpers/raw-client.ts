// A raw MQTT client for tests: writes packets (encoded, or raw bytes) and reads decoded
// packets, to check what client libraries hide (DUP flags, reason codes, closes).

import { connect, type Socket } from 'node:net';
import { PacketDecoder } from '../../src/protocol/decoder.js';
import { encodePacket } from '../../src/protocol/encoder.js';
import type { ConnectPacket, Packet, PacketType, ProtocolVersion } from '../../src/protocol/packets.js';

export class RawClient {
  readonly socket: Socket;
  readonly version: ProtocolVersion;
  private readonly decoder: PacketDecoder;
  private readonly received: Packet[] = [];
  private waiters: Array<() => void> = [];
  closed = false;
  private readonly closedPromise: Promise<void>;

  private constructor(socket: Socket, version: ProtocolVersion) {
    this.socket = socket;
    this.version = version;
    this.decoder = new PacketDecoder((packet) => {
      this.received.push(packet);
      this.wake();
    }, { protocolVersion: version });
    socket.on('data', (chunk: Buffer) => {
      try {
        this.decoder.push(chunk);
      } catch {
        socket.destroy();
      }
    });
    socket.on('error', () => {});
    this.closedPromise = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.wake();
        resolve();
      });
    });
  }

  static open(port: number, version: ProtocolVersion = 4): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port }, () => {
        socket.off('error', reject);
        resolve(new RawClient(socket, version));
      });
      socket.once('error', reject);
    });
  }

  /** Opens a socket, sends CONNECT and waits for CONNACK. */
  static async connected(port: number, connect: Partial<ConnectPacket> & { clientId: string }, version: ProtocolVersion = 4): Promise<{ client: RawClient; connack: Packet }> {
    const client = await RawClient.open(port, version);
    client.send({
      type: 'connect',
      protocolName: version === 3 ? 'MQIsdp' : 'MQTT',
      protocolVersion: version,
      clean: true,
      keepalive: 0,
      ...connect,
    });
    const connack = await client.expect('connack');
    return { client, connack };
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  send(packet: Packet): void {
    this.socket.write(encodePacket(packet, this.version));
  }

  sendBytes(bytes: Buffer | string): void {
    this.socket.write(typeof bytes === 'string' ? Buffer.from(bytes.replace(/\s+/g, ''), 'hex') : bytes);
  }

  /** The next packet (of a type, if given), waiting up to timeoutMs. */
  async next(type?: PacketType, timeoutMs = 2000): Promise<Packet> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const index = type === undefined ? 0 : this.received.findIndex((packet) => packet.type === type);
      if (index >= 0 && index < this.received.length) return this.received.splice(index, 1)[0]!;
      if (this.closed) throw new Error(`connection closed while waiting for ${type ?? 'a packet'}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${type ?? 'a packet'}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  async expect<T extends PacketType>(type: T, timeoutMs = 2000): Promise<Extract<Packet, { type: T }>> {
    return (await this.next(type, timeoutMs)) as Extract<Packet, { type: T }>;
  }

  /** Packets received and not yet taken. */
  pending(): Packet[] {
    return [...this.received];
  }

  /** Waits for nothing of `type` to arrive for `ms`; returns what arrived meanwhile. */
  async quiet(ms: number): Promise<Packet[]> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.received.splice(0);
  }

  /** Resolves when the broker closes the socket (rejects after timeoutMs). */
  waitClosed(timeoutMs = 2000): Promise<void> {
    return Promise.race([
      this.closedPromise,
      new Promise<void>((_resolve, reject) => setTimeout(() => reject(new Error('socket not closed')), timeoutMs).unref()),
    ]);
  }

  destroy(): void {
    this.socket.destroy();
  }

  end(): void {
    this.socket.end();
  }
}
