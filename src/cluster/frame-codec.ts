// Framing of the worker mesh: each frame is a 4-byte big-endian length (of what follows), a
// 1-byte frame type and the body. The decoder is incremental: a frame may arrive in pieces, and
// one chunk may hold many frames (bodies are then slices of that chunk, not copies).

export const FRAME_HEADER_SIZE = 5;
/** Larger than any MQTT packet (256 MB) plus the forwarding header. */
export const MAX_FRAME_SIZE = 268_500_000;

export class FrameError extends Error {}

export function encodeFrame(type: number, body: Buffer): Buffer {
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + body.length);
  frame.writeUInt32BE(body.length + 1, 0);
  frame[4] = type;
  body.copy(frame, FRAME_HEADER_SIZE);
  return frame;
}

/** Frame header only, for writing a header and a separate body with writev (no copy of the body). */
export function encodeFrameHeader(type: number, bodyLength: number): Buffer {
  const header = Buffer.allocUnsafe(FRAME_HEADER_SIZE);
  header.writeUInt32BE(bodyLength + 1, 0);
  header[4] = type;
  return header;
}

export class FrameDecoder {
  private readonly onFrame: (type: number, body: Buffer) => void;
  private pending: Buffer[] = [];
  private pendingLength = 0;

  constructor(onFrame: (type: number, body: Buffer) => void) {
    this.onFrame = onFrame;
  }

  get bufferedBytes(): number {
    return this.pendingLength;
  }

  /** Feeds bytes; throws FrameError on a length out of range (the stream is then unusable). */
  push(chunk: Buffer): void {
    let data = chunk;
    if (this.pendingLength > 0) {
      this.pending.push(chunk);
      this.pendingLength += chunk.length;
      if (this.pendingLength < FRAME_HEADER_SIZE) return;
      const needed = this.peekLength() + 4;
      if (this.pendingLength < needed) return;
      data = Buffer.concat(this.pending, this.pendingLength);
      this.pending = [];
      this.pendingLength = 0;
    }
    let position = 0;
    while (data.length - position >= 4) {
      const length = data.readUInt32BE(position);
      if (length < 1 || length > MAX_FRAME_SIZE) throw new FrameError(`mesh frame length ${length} out of range`);
      const end = position + 4 + length;
      if (end > data.length) break;
      this.onFrame(data[position + 4]!, data.subarray(position + FRAME_HEADER_SIZE, end));
      position = end;
    }
    if (position < data.length) {
      const rest = data.subarray(position);
      this.pending.push(rest);
      this.pendingLength = rest.length;
    }
  }

  private peekLength(): number {
    const head = this.pending.length === 1 ? this.pending[0]! : Buffer.concat(this.pending, this.pendingLength);
    if (this.pending.length > 1) this.pending = [head];
    const length = head.readUInt32BE(0);
    if (length < 1 || length > MAX_FRAME_SIZE) throw new FrameError(`mesh frame length ${length} out of range`);
    return length;
  }
}
