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
