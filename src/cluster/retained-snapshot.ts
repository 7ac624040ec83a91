// The retained messages a starting worker copies from a running one: each message packed by the
// forwarding codec, prefixed by its 4-byte length.

import type { StoredMessage } from '../store/store.js';
import { decodeForwarded, encodeForwarded } from './forwarded-message.js';

export function encodeSnapshot(messages: Iterable<StoredMessage>): Buffer {
  const parts: Buffer[] = [];
  for (const message of messages) {
    const encoded = encodeForwarded({ message });
    const length = Buffer.allocUnsafe(4);
    length.writeUInt32BE(encoded.length, 0);
    parts.push(length, encoded);
  }
  return Buffer.concat(parts);
}

export function decodeSnapshot(body: Buffer): StoredMessage[] {
  const messages: StoredMessage[] = [];
  let position = 0;
  while (position < body.length) {
    if (position + 4 > body.length) throw new Error('retained snapshot truncated');
    const end = position + 4 + body.readUInt32BE(position);
    if (end > body.length) throw new Error('retained snapshot truncated');
    // A copy: a retained message lives long, and must not pin the whole snapshot.
    messages.push(decodeForwarded(Buffer.from(body.subarray(position + 4, end))).message);
    position = end;
  }
  return messages;
}
