// A session moving between workers (takeover of a client id owned by another worker): the same
// shapes the store records, with each outgoing message packed by the forwarding codec and
// carried as base64 (the IPC channel carries JSON).

import type { Session } from '../session/session.js';
import type { SessionRegistry } from '../session/session-registry.js';
import type { OutgoingRecord, SessionRecord, Store } from '../store/store.js';
import type { SubscriptionIndex } from '../topics/subscription-index.js';
import { decodeForwarded, encodeForwarded } from './forwarded-message.js';

export interface TransferredOutgoing extends Omit<OutgoingRecord, 'message'> {
  /** The message packed by encodeForwarded, in base64. */
  message: string;
}

export interface TransferredSession {
  record: SessionRecord;
  outgoing: TransferredOutgoing[];
  incomingQoS2: number[];
}

export function serializeSession(session: Session): TransferredSession {
  return {
    record: session.toRecord(),
    outgoing: session.outgoingRecords().map((record) => ({ ...record, message: encodeForwarded({ message: record.message }).toString('base64') })),
    incomingQoS2: [...session.incomingQoS2],
  };
}

export interface RestoreTarget {
  sessions: SessionRegistry;
  index: SubscriptionIndex;
  store: Store;
}

/**
 * Recreates a transferred session in this worker (subscriptions, queue, inflight window,
 * incoming QoS 2 ids) and records it in this worker's store: the new owner writes it.
 */
export function restoreSession(target: RestoreTarget, transferred: TransferredSession): Session {
  const { record } = transferred;
  const session = target.sessions.create(record.clientId, record.protocolVersion, record.expiryInterval);
  session.disconnectedAt = record.disconnectedAt ?? Date.now();
  for (const subscription of record.subscriptions) {
    session.subscriptions.set(subscription.topicFilter, subscription);
    target.index.subscribe(record.clientId, subscription.topicFilter, subscription);
  }
  const outgoing: OutgoingRecord[] = transferred.outgoing.map((entry) => ({ ...entry, message: decodeForwarded(Buffer.from(entry.message, 'base64')).message }));
  session.restoreOutgoing(outgoing);
  for (const packetId of transferred.incomingQoS2) session.incomingQoS2.add(packetId);
  if (session.persistent) {
    target.store.putSession(session.toRecord());
    for (const entry of session.outgoingRecords()) target.store.putOutgoing(record.clientId, entry);
    for (const packetId of transferred.incomingQoS2) target.store.putIncomingQoS2(record.clientId, packetId);
  }
  return session;
}

