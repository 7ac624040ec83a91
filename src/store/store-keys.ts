// Key layout of the durable store.
//
// LMDB keys are limited (lmdb-js: 1978 bytes), while MQTT client ids and topics
// may be up to 65,535 bytes. Short strings are used as they are (readable, and a
// prefix scan by client id keeps a session's records together in seq order);
// longer ones are replaced by their digest. A one-letter tag (p: plain, h: hash)
// keeps the two forms apart.

import { createHash } from 'node:crypto';

const longestPlainKeyBytes = 1024;

/** The key naming a string (client id or topic) in the store. */
export function stringKey(value: string): string {
  if (Buffer.byteLength(value) <= longestPlainKeyBytes) return `p${value}`;
  return `h${createHash('sha256').update(value).digest('hex')}`;
}

/** Key of an outgoing record: (client, seq) so a range scan returns a session's queue in order. */
export function outgoingKey(clientKey: string, seq: number): [string, number] {
  return [clientKey, seq];
}

/** Key of an incoming QoS 2 packet id awaiting PUBREL. */
export function incomingKey(clientKey: string, packetId: number): [string, number] {
  return [clientKey, packetId];
}

/** A string form of a database key, for coalescing pending writes to the same key. */
export function pendingKey(database: string, key: string | number | [string, number]): string {
  return Array.isArray(key) ? `${database}\u0001${key[0]}\u0000${key[1]}` : `${database}\u0001${String(key)}`;
}
