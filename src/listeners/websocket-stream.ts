// A WebSocket seen as the byte stream the broker's Connection reads and writes. Unlike ws's own
// createWebSocketStream it refuses text frames, and its write callback waits until ws has handed
// the frame to the socket, so `writableLength` (the broker's backpressure signal) stays honest.

import { Duplex } from 'node:stream';
import { WebSocket, type RawData } from 'ws';

/** Close codes (RFC 6455 section 7.4.1). */
const normalClosure = 1000;
const protocolError = 1002;
const unsupportedData = 1003;
/** How long a closing handshake may take before the TCP connection is cut. */
const closeGraceMs = 1000;

export class TextFrameError extends Error {
  constructor() {
    super('text WebSocket frame: MQTT is carried in binary frames only');
  }
}

function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  return Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data);
}

export class WebSocketStream extends Duplex {
  private readonly socket: WebSocket;

  constructor(socket: WebSocket) {
    super({ allowHalfOpen: false });
    this.socket = socket;
    socket.on('message', (data: RawData, isBinary: boolean) => {
      // [MQTT-6.0.0-1] any frame other than binary closes the connection
      if (!isBinary) {
        this.destroy(new TextFrameError());
        return;
      }
      if (!this.push(toBuffer(data))) socket.pause();
    });
    socket.on('close', () => {
      this.push(null);
      this.destroy();
    });
    socket.on('error', (error: Error) => this.destroy(error));
  }

  override _read(): void {
    this.socket.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send(chunk, callback);
  }

  /** Corked writes (the broker batches a tick's packets) go out as one frame. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    this.send(Buffer.concat(chunks.map((entry) => entry.chunk)), callback);
  }

  override _final(callback: (error?: Error | null) => void): void {
    if (this.socket.readyState === WebSocket.OPEN) this.socket.close(normalClosure);
    callback();
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    if (this.socket.readyState === WebSocket.OPEN || this.socket.readyState === WebSocket.CLOSING) {
      if (this.socket.readyState === WebSocket.OPEN) this.socket.close(error === null ? normalClosure : error instanceof TextFrameError ? unsupportedData : protocolError);
      // A peer that never answers the close frame must not hold the socket.
      const socket = this.socket;
      setTimeout(() => socket.terminate(), closeGraceMs).unref();
    }
    callback(error);
  }

  private send(data: Buffer, callback: (error?: Error | null) => void): void {
    if (this.socket.readyState !== WebSocket.OPEN) {
      callback(new Error('WebSocket is not open'));
      return;
    }
    this.socket.send(data, { binary: true }, (error?: Error) => callback(error ?? null));
  }
}
