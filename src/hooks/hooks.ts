// The hooks API: how authentication, authorization and observers plug into the broker.
//
// Decisions (authenticate / authorize*) may answer synchronously or with a Promise;
// the broker only awaits when a Promise is returned, so a synchronous ACL costs no
// microtask on the publish hot path. Event hooks are fire-and-forget and must not throw.

import type { ConnectPacket, ProtocolVersion, PublishPacket, QoS, Subscription } from '../protocol/packets.js';

export type MaybePromise<T> = T | Promise<T>;

/** What the broker knows about a connected (or connecting) client. */
export interface ClientInfo {
  clientId: string;
  /** After authentication this is the effective user name (an authenticator may set it, e.g. from a certificate CN). */
  username?: string;
  protocolVersion: ProtocolVersion;
  remoteAddress: string;
  remotePort: number;
  /** Name of the listener the client came in on (e.g. "tcp:1883"). */
  listener: string;
  /** Present for TLS connections with a verified client certificate. */
  certificate?: { subjectCN?: string; subjectAltNames?: string[]; fingerprint256?: string };
  /**
   * Opaque per-client data an authenticator may attach (e.g. JWT ACL claims) for its authorizers,
   * through AuthenticateResult.attributes. Read-only for hooks: until an authenticator sets some,
   * every client shares one frozen empty object.
   */
  attributes: Record<string, unknown>;
}

export interface AuthenticateRequest {
  client: ClientInfo;
  connect: ConnectPacket;
}

/**
 * The answer of one authenticator in the chain:
 * - 'allow': accepted; the chain stops.
 * - 'deny': refused with a reason code (MQTT 5 code; mapped to a 3.1.1 return code); the chain stops.
 * - 'next' (or undefined): no opinion; the next authenticator decides.
 */
export type AuthenticateResult =
  | {
      result: 'allow';
      /** Replaces the user name the client sent (e.g. the certificate CN). */
      username?: string;
      /** Wall-clock ms after which the broker closes the connection (e.g. JWT expiry). */
      expiresAt?: number;
      /** Stored in ClientInfo.attributes for the authorizers. */
      attributes?: Record<string, unknown>;
    }
  | { result: 'deny'; reasonCode: number; reasonString?: string }
  | { result: 'next' }
  | undefined;

/** The answer of an authorizer: 'allow' or 'deny' stop the chain; 'next'/undefined asks the next one. */
export type AuthorizeResult = 'allow' | 'deny' | 'next' | undefined;

/**
 * MQTT 5 enhanced authentication (AUTH packets), e.g. SCRAM-SHA-256.
 * One instance per authentication exchange.
 */
export interface EnhancedAuthExchange {
  /**
   * Called with the client's authentication data (from CONNECT or AUTH).
   * 'continue' sends AUTH 0x18 with `data`; 'success' completes (CONNACK / AUTH 0x00 carrying `data`);
   * 'fail' refuses with `reasonCode` (0x87 / 0x86 / 0x8C ...).
   */
  step(data: Buffer | undefined): MaybePromise<
    | { result: 'continue'; data: Buffer }
    | { result: 'success'; data?: Buffer; username?: string; attributes?: Record<string, unknown> }
    | { result: 'fail'; reasonCode: number; reasonString?: string }
  >;
}

export interface EnhancedAuthProvider {
  /** The Authentication Method name, e.g. 'SCRAM-SHA-256'. */
  readonly method: string;
  begin(client: ClientInfo, connect: ConnectPacket | undefined): EnhancedAuthExchange;
}

/** Why a message was not delivered to a subscriber. */
export type DropReason =
  | 'queue-full'
  | 'qos0-backpressure'
  | 'expired'
  | 'packet-too-large'
  | 'not-authorized'
  | 'no-subscribers';

export interface Hooks {
  /** Authenticators, asked in order until one answers allow or deny. */
  authenticate?(request: AuthenticateRequest): MaybePromise<AuthenticateResult>;
  authorizePublish?(client: ClientInfo, packet: PublishPacket): MaybePromise<AuthorizeResult>;
  authorizeSubscribe?(client: ClientInfo, subscription: Subscription): MaybePromise<AuthorizeResult>;

  onClientConnected?(client: ClientInfo): void;
  onClientDisconnected?(client: ClientInfo, reason: { reasonCode?: number; error?: Error }): void;
  onSubscribed?(client: ClientInfo, subscription: Subscription, grantedQoS: QoS | number): void;
  onUnsubscribed?(client: ClientInfo, topicFilter: string): void;
  onPublished?(client: ClientInfo | undefined, packet: PublishPacket): void;
  onDelivered?(client: ClientInfo, packet: PublishPacket): void;
  onDropped?(clientId: string, packet: PublishPacket, reason: DropReason): void;
}
