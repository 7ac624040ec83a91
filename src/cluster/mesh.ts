// The worker mesh: every worker listens on a Unix domain socket and keeps one connection to
// every other worker (the later of two workers connects to the earlier one). Frames are
// length-prefixed binary (frame-codec.ts); writes made in one tick are corked together.

import { rmSync } from 'node:fs';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import type { Logger } from 'pino';
import { encodeFrameHeader, FrameDecoder } from './frame-codec.js';

export const FrameType = {
  /** First frame on a connection: the sender's worker id (1 byte). */
  Hello: 1,
  /** Route announcements: 4-byte sequence number, then JSON (cluster-node.ts). */
  Routes: 2,
  /** A forwarded message (forwarded-message.ts). */
  Publish: 3,
  /** A retained message set: 4-byte sequence number, then a forwarded message (an empty payload deletes). */
  Retain: 4,
  /** Asks the peer for every retained message it holds. */
  SnapshotRequest: 5,
  /** Retained messages of a snapshot, as Retain bodies, each prefixed by its 4-byte length. */
  Snapshot: 6,
  /** A forwarded QoS 1/2 message the sender waits on (sync store): 4-byte sequence number, then a Publish body. */
  PublishDurable: 7,
  /** Every PublishDurable up to this 4-byte sequence number is durable in the receiver's store. */
  DurableAck: 8,
  /** Every Routes and Retain frame up to this 4-byte sequence number is applied by the receiver. */
  AppliedAck: 9,
  /** The sender's broker statistics (JSON), for cluster-wide $SYS values. */
  Stats: 10,
} as const;

export interface MeshOptions {
  self: number;
  socketPath: string;
  logger: Logger;
  onFrame(peer: number, type: number, body: Buffer): void;
  onPeerUp(peer: number): void;
  onPeerDown(peer: number): void;
}

interface Peer {
  socket: Socket;
  corked: boolean;
}

export class Mesh {
  private readonly options: MeshOptions;
  private readonly peers = new Map<number, Peer>();
  private readonly sockets = new Set<Socket>();
  private server: Server | undefined;
  private closing = false;

  constructor(options: MeshOptions) {
    this.options = options;
  }

  get self(): number {
    return this.options.self;
  }

  peerIds(): number[] {
    return [...this.peers.keys()];
  }

  hasPeer(peer: number): boolean {
    return this.peers.has(peer);
  }

  /** Bytes written to a peer and not yet handed to the kernel (0 if not connected). */
  bufferedBytes(peer: number): number {
    return this.peers.get(peer)?.socket.writableLength ?? 0;
  }

  listen(): Promise<void> {
    // A socket file left by a crashed incarnation of this worker would make listen fail.
    rmSync(this.options.socketPath, { force: true });
    const server = createServer((socket) => this.accept(socket));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.socketPath, () => {
        server.off('error', reject);
        resolve();
      });
    });
  }

  /** Connects to a peer's socket and introduces this worker. */
  connect(peer: number, socketPath: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const socket = createConnection(socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.write(Buffer.concat([encodeFrameHeader(FrameType.Hello, 1), Buffer.from([this.options.self])]));
        this.register(peer, socket);
        this.read(socket, peer);
        resolve();
      });
    });
  }

  /**
   * Queues a frame for a peer; false if that peer is not connected. `flush` writes what this
   * tick queued for the peer at once instead of at the end of the tick (so it reaches the peer
   * before anything this worker writes to clients afterwards, such as an acknowledgement).
   */
  send(peer: number, type: number, body: Buffer, flush = false): boolean {
    const target = this.peers.get(peer);
    if (target === undefined) return false;
    const socket = target.socket;
    if (!target.corked) {
      target.corked = true;
      socket.cork();
      process.nextTick(() => {
        target.corked = false;
        socket.uncork();
      });
    }
    socket.write(encodeFrameHeader(type, body.length));
    socket.write(body);
    if (flush) {
      target.corked = false;
      socket.uncork();
    }
    return true;
  }

  broadcast(type: number, body: Buffer): void {
    for (const peer of this.peers.keys()) this.send(peer, type, body);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const socket of this.sockets) socket.destroy();
    this.peers.clear();
    const server = this.server;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(this.options.socketPath, { force: true });
  }

  private accept(socket: Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.read(socket, undefined);
  }

  /** Reads frames; on an accepted socket the first frame must be Hello, which names the peer. */
  private read(socket: Socket, knownPeer: number | undefined): void {
    this.sockets.add(socket);
    let peer = knownPeer;
    const decoder = new FrameDecoder((type, body) => {
      if (peer === undefined) {
        if (type !== FrameType.Hello || body.length !== 1) throw new Error('mesh connection did not start with Hello');
        peer = body[0]!;
        this.register(peer, socket);
        return;
      }
      this.options.onFrame(peer, type, body);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        decoder.push(chunk);
      } catch (error) {
        this.options.logger.error({ err: error, peer }, 'mesh: bad frame from a peer, closing its connection');
        socket.destroy();
      }
    });
    socket.on('error', (error) => this.options.logger.debug({ err: error, peer }, 'mesh connection error'));
    socket.on('close', () => {
      this.sockets.delete(socket);
      if (peer !== undefined && this.peers.get(peer)?.socket === socket) {
        this.peers.delete(peer);
        if (!this.closing) this.options.onPeerDown(peer);
      }
    });
  }

  private register(peer: number, socket: Socket): void {
    socket.setNoDelay(true);
    const previous = this.peers.get(peer);
    if (previous !== undefined) {
      // A restarted peer: its old incarnation's connection and routes are gone.
      this.peers.delete(peer);
      previous.socket.destroy();
      this.options.onPeerDown(peer);
    }
    this.peers.set(peer, { socket, corked: false });
    this.options.onPeerUp(peer);
  }
}
