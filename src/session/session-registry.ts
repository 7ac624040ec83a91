// Every session by client id, and their lifecycle: creation, ending (expiry, clean start),
// the expiry timer of a disconnected session and the delayed will.

import type { WillMessage } from '../protocol/packets.js';
import type { SubscriptionIndex } from '../topics/subscription-index.js';
import type { Store } from '../store/store.js';
import { setLongTimeout } from './long-timer.js';
import { NEVER_EXPIRES, Session } from './session.js';
import type { SessionContext } from './session-context.js';

export interface SessionRegistryOptions {
  context: SessionContext;
  index: SubscriptionIndex;
  store: Store;
  /** Publishes a will message on behalf of a client. */
  publishWill(clientId: string, will: WillMessage): void;
  /** A session ended (expired or replaced by a clean start). */
  onEnded?(session: Session): void;
}

export class SessionRegistry {
  private readonly sessions = new Map<string, Session>();
  private readonly options: SessionRegistryOptions;

  constructor(options: SessionRegistryOptions) {
    this.options = options;
  }

  get size(): number {
    return this.sessions.size;
  }

  get(clientId: string): Session | undefined {
    return this.sessions.get(clientId);
  }

  values(): IterableIterator<Session> {
    return this.sessions.values();
  }

  create(clientId: string, protocolVersion: Session['protocolVersion'], expiryInterval: number): Session {
    const session = new Session(this.options.context, clientId, protocolVersion, expiryInterval);
    this.sessions.set(clientId, session);
    return session;
  }

  /** Ends a session: its subscriptions go, the store forgets it, a pending will fires now [MQTT-3.1.3-9]. */
  end(session: Session): void {
    if (this.sessions.get(session.clientId) !== session) return;
    this.sessions.delete(session.clientId);
    session.expiryTimer?.cancel();
    session.expiryTimer = undefined;
    for (const topicFilter of session.clearSubscriptions()) this.options.index.unsubscribe(session.clientId, topicFilter);
    session.clearOutgoing();
    this.options.store.deleteSession(session.clientId);
    const pending = session.delayedWill;
    if (pending !== undefined) {
      pending.timer.cancel();
      session.delayedWill = undefined;
      this.options.store.deleteDelayedWill(session.clientId);
      this.options.publishWill(session.clientId, pending.will);
    }
    this.options.onEnded?.(session);
  }

  /** Starts the expiry clock of a session whose connection went away. */
  scheduleExpiry(session: Session): void {
    session.expiryTimer?.cancel();
    session.expiryTimer = undefined;
    if (session.expiryInterval === 0) {
      this.end(session);
      return;
    }
    if (session.expiryInterval === NEVER_EXPIRES) return;
    const disconnectedAt = session.disconnectedAt ?? Date.now();
    const delay = disconnectedAt + session.expiryInterval * 1000 - Date.now();
    session.expiryTimer = setLongTimeout(delay, () => this.end(session));
  }

  /** The client is back: stop the expiry clock and cancel a delayed will (reconnected in time). */
  resume(session: Session): void {
    session.expiryTimer?.cancel();
    session.expiryTimer = undefined;
    this.cancelWill(session);
  }

  /** Publishes the will after `delaySeconds` (or earlier if the session ends first). */
  scheduleWill(session: Session, will: WillMessage, delaySeconds: number, fireAt = Date.now() + delaySeconds * 1000): void {
    this.cancelWill(session);
    const timer = setLongTimeout(fireAt - Date.now(), () => {
      if (session.delayedWill?.timer !== timer) return;
      session.delayedWill = undefined;
      this.options.store.deleteDelayedWill(session.clientId);
      this.options.publishWill(session.clientId, will);
    });
    session.delayedWill = { will, timer };
    this.options.store.putDelayedWill({ clientId: session.clientId, will, fireAt });
  }

  cancelWill(session: Session): void {
    if (session.delayedWill === undefined) return;
    session.delayedWill.timer.cancel();
    session.delayedWill = undefined;
    this.options.store.deleteDelayedWill(session.clientId);
  }

  /** Stops every timer (broker shutdown); sessions stay as recorded in the store. */
  stopTimers(): void {
    for (const session of this.sessions.values()) {
      session.expiryTimer?.cancel();
      session.expiryTimer = undefined;
      session.delayedWill?.timer.cancel();
    }
  }
}
