// Runs the hook chains. A decision that answers synchronously is used synchronously
// (no microtask on the hot path); only a returned Promise makes the caller wait.

import type { Logger } from 'pino';
import type {
  AuthenticateRequest,
  AuthenticateResult,
  AuthorizeResult,
  ClientInfo,
  DropReason,
  Hooks,
} from '../hooks/hooks.js';
import type { PublishPacket, QoS, Subscription } from '../protocol/packets.js';

export type Decided<T> = T | Promise<T>;

function isPromise<T>(value: unknown): value is Promise<T> {
  return typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

export class HookRunner {
  private readonly logger: Logger;
  private hooks: Hooks[] = [];
  private authenticators: Hooks[] = [];
  private publishAuthorizers: Hooks[] = [];
  private subscribeAuthorizers: Hooks[] = [];

  constructor(logger: Logger, hooks: Hooks[]) {
    this.logger = logger;
    for (const entry of hooks) this.add(entry);
  }

  add(hooks: Hooks): void {
    this.hooks.push(hooks);
    if (hooks.authenticate) this.authenticators.push(hooks);
    if (hooks.authorizePublish) this.publishAuthorizers.push(hooks);
    if (hooks.authorizeSubscribe) this.subscribeAuthorizers.push(hooks);
    if (hooks.onDelivered) this.wantsDelivered = true;
    if (hooks.onPublished) this.hasPublishedListener = true;
    if (hooks.onDropped) this.wantsDropped = true;
  }

  get hasAuthenticators(): boolean {
    return this.authenticators.length > 0;
  }

  /** The first 'allow' or 'deny' of the chain, or undefined when nobody decided. */
  authenticate(request: AuthenticateRequest): Decided<AuthenticateResult> {
    return this.runChain(this.authenticators, 0, (hooks) => hooks.authenticate!(request), (result) => result !== undefined && result.result !== 'next');
  }

  /** True unless an authorizer denies; with no authorizer everything is allowed. */
  authorizePublish(client: ClientInfo, packet: PublishPacket): Decided<boolean> {
    if (this.publishAuthorizers.length === 0) return true;
    const decided = this.runChain<AuthorizeResult>(this.publishAuthorizers, 0, (hooks) => hooks.authorizePublish!(client, packet), isFinal);
    return isPromise<AuthorizeResult>(decided) ? decided.then((result) => result !== 'deny') : decided !== 'deny';
  }

  authorizeSubscribe(client: ClientInfo, subscription: Subscription): Decided<boolean> {
    if (this.subscribeAuthorizers.length === 0) return true;
    const decided = this.runChain<AuthorizeResult>(this.subscribeAuthorizers, 0, (hooks) => hooks.authorizeSubscribe!(client, subscription), isFinal);
    return isPromise<AuthorizeResult>(decided) ? decided.then((result) => result !== 'deny') : decided !== 'deny';
  }

  private runChain<T>(chain: Hooks[], start: number, call: (hooks: Hooks) => T | Promise<T>, final: (result: T) => boolean): Decided<T | undefined> {
    for (let index = start; index < chain.length; index++) {
      const result = call(chain[index]!);
      if (isPromise<T>(result)) {
        return result.then((settled) => (final(settled) ? settled : this.runChain(chain, index + 1, call, final)));
      }
      if (final(result)) return result;
    }
    return undefined;
  }

  clientConnected(client: ClientInfo): void {
    for (const hooks of this.hooks) if (hooks.onClientConnected) this.safely(() => hooks.onClientConnected!(client));
  }

  clientDisconnected(client: ClientInfo, reason: { reasonCode?: number; error?: Error }): void {
    for (const hooks of this.hooks) if (hooks.onClientDisconnected) this.safely(() => hooks.onClientDisconnected!(client, reason));
  }

  subscribed(client: ClientInfo, subscription: Subscription, grantedQoS: QoS | number): void {
    for (const hooks of this.hooks) if (hooks.onSubscribed) this.safely(() => hooks.onSubscribed!(client, subscription, grantedQoS));
  }

  unsubscribed(client: ClientInfo, topicFilter: string): void {
    for (const hooks of this.hooks) if (hooks.onUnsubscribed) this.safely(() => hooks.onUnsubscribed!(client, topicFilter));
  }

  published(client: ClientInfo | undefined, packet: PublishPacket): void {
    for (const hooks of this.hooks) if (hooks.onPublished) this.safely(() => hooks.onPublished!(client, packet));
  }

  /** Whether any hook listens for deliveries / drops (so the packet is only built when needed). */
  wantsDelivered = false;
  hasPublishedListener = false;
  wantsDropped = false;

  delivered(client: ClientInfo, packet: PublishPacket): void {
    for (const hooks of this.hooks) if (hooks.onDelivered) this.safely(() => hooks.onDelivered!(client, packet));
  }

  dropped(clientId: string, packet: PublishPacket, reason: DropReason): void {
    for (const hooks of this.hooks) if (hooks.onDropped) this.safely(() => hooks.onDropped!(clientId, packet, reason));
  }

  private safely(call: () => void): void {
    try {
      call();
    } catch (error) {
      this.logger.error({ err: error }, 'an event hook threw');
    }
  }
}

function isFinal(result: AuthorizeResult): boolean {
  return result === 'allow' || result === 'deny';
}

export { isPromise };
