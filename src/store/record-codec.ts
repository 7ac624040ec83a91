// How records other than outgoing ones (binary-records.ts) are laid out as
// values (lmdb's msgpack encoding keeps Buffers as binary). Field names are
// short because they are written for every record; undefined fields are left out so a record reads back exactly as written.

import type { Properties, QoS, WillMessage } from '../protocol/packets.js';
import type { DelayedWillRecord, SessionRecord, StoredMessage, SubscriptionRecord } from './store.js';

export interface EncodedMessage {
  t: string;
  b: Uint8Array;
  q: QoS;
  r: boolean;
  p?: Properties;
  at: number;
  x?: number;
  f?: string;
}

function asBuffer(bytes: Uint8Array): Buffer {
  // Copy: a decoded value may be a view into a buffer the database reuses.
  return Buffer.from(bytes);
}

function decodeProperties(properties: Properties): Properties {
  const result: Properties = { ...properties };
  if (result.correlationData !== undefined) result.correlationData = asBuffer(result.correlationData);
  if (result.authenticationData !== undefined) result.authenticationData = asBuffer(result.authenticationData);
  return result;
}

function withoutUndefined<T extends object>(value: T): T {
  const result: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value)) if (field !== undefined) result[key] = field;
  return result as T;
}

export function encodeMessage(message: StoredMessage): EncodedMessage {
  const encoded: EncodedMessage = { t: message.topic, b: message.payload, q: message.qos, r: message.retain, at: message.receivedAt };
  if (message.properties !== undefined) encoded.p = withoutUndefined(message.properties);
  if (message.expiresAt !== undefined) encoded.x = message.expiresAt;
  if (message.publisherId !== undefined) encoded.f = message.publisherId;
  return encoded;
}

export function decodeMessage(encoded: EncodedMessage): StoredMessage {
  const message: StoredMessage = {
    topic: encoded.t,
    payload: asBuffer(encoded.b),
    qos: encoded.q,
    retain: encoded.r,
    receivedAt: encoded.at,
  };
  if (encoded.p !== undefined) message.properties = decodeProperties(encoded.p);
  if (encoded.x !== undefined) message.expiresAt = encoded.x;
  if (encoded.f !== undefined) message.publisherId = encoded.f;
  return message;
}

export function encodeSession(record: SessionRecord): SessionRecord {
  return { ...withoutUndefined(record), subscriptions: record.subscriptions.map((subscription) => withoutUndefined(subscription)) };
}

export function decodeSession(record: SessionRecord): SessionRecord {
  return { ...record, subscriptions: record.subscriptions.map((subscription: SubscriptionRecord) => ({ ...subscription })) };
}

function encodeWill(will: WillMessage): WillMessage {
  const encoded: WillMessage = { topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain };
  if (will.properties !== undefined) encoded.properties = withoutUndefined(will.properties);
  return encoded;
}

export function encodeDelayedWill(record: DelayedWillRecord): DelayedWillRecord {
  return { clientId: record.clientId, will: encodeWill(record.will), fireAt: record.fireAt };
}

export function decodeDelayedWill(record: DelayedWillRecord): DelayedWillRecord {
  const will: WillMessage = { topic: record.will.topic, payload: asBuffer(record.will.payload), qos: record.will.qos, retain: record.will.retain };
  if (record.will.properties !== undefined) will.properties = decodeProperties(record.will.properties);
  return { clientId: record.clientId, will, fireAt: record.fireAt };
}
