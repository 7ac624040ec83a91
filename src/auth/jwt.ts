// JWT authentication: the token travels in the CONNECT password field.
//
// - Keys: an HMAC secret (HS*), a PEM public key file (RS*/PS*/ES*/EdDSA), and/or a JWKS file;
//   the token's `alg` picks which one is used. Files are re-read by reload().
// - `exp` is enforced; the connection's expiresAt is set to it so the broker can close the
//   connection at expiry (5.0: DISCONNECT 0xA0 Maximum connect time).
// - If the client sends a user name it must equal `sub`; the effective user name becomes `sub`.
// - ACL claim (default name "acl"): { "pub": [filters], "sub": [filters] }. When present, it is the
//   complete list of what this client may do (anything else is denied), enforced by jwtAuthorizer.

import { createPublicKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, errors, jwtVerify, type JSONWebKeySet, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import type { AuthenticateRequest, AuthenticateResult, ClientInfo, Hooks } from '../hooks/hooks.js';
import type { PublishPacket, Subscription } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AuthLogger } from './logger.js';
import { filterMatchesTopic, patternCoversFilter, underlyingFilter } from './topic-match.js';

export interface JwtOptions {
  secret?: string;
  publicKeyFile?: string;
  jwksFile?: string;
  algorithms?: string[];
  issuer?: string;
  audience?: string;
  aclClaim: string;
}

export interface JwtAcl {
  pub: string[];
  sub: string[];
}

/** Where the verified ACL claim is kept in ClientInfo.attributes. */
export const jwtAclAttribute = 'jwtAcl';

const hmacAlgorithms = ['HS256', 'HS384', 'HS512'];
const asymmetricAlgorithms = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const jwtShape = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function parseAclClaim(value: unknown): JwtAcl | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const claim = value as Record<string, unknown>;
  const list = (entry: unknown): string[] | undefined =>
    entry === undefined ? [] : Array.isArray(entry) && entry.every((item) => typeof item === 'string') ? entry : undefined;
  const pub = list(claim.pub);
  const sub = list(claim.sub);
  return pub && sub ? { pub, sub } : undefined;
}

export class JwtVerifier {
  private secret: Uint8Array | undefined;
  private publicKey: KeyObject | undefined;
  private jwks: ReturnType<typeof createLocalJWKSet> | undefined;
  private readonly algorithms: string[];

  constructor(
    private readonly options: JwtOptions,
    private readonly logger: AuthLogger,
  ) {
    this.secret = options.secret === undefined ? undefined : new TextEncoder().encode(options.secret);
    this.loadKeyFiles();
    const configured = [...(this.secret ? hmacAlgorithms : []), ...(options.publicKeyFile || options.jwksFile ? asymmetricAlgorithms : [])];
    this.algorithms = options.algorithms ?? configured;
    if (this.algorithms.length === 0) throw new Error('auth.jwt needs a secret, publicKeyFile or jwksFile');
  }

  private loadKeyFiles(): void {
    const publicKey = this.options.publicKeyFile ? createPublicKey(readFileSync(this.options.publicKeyFile, 'utf8')) : undefined;
    let jwks: ReturnType<typeof createLocalJWKSet> | undefined;
    if (this.options.jwksFile) {
      const set = JSON.parse(readFileSync(this.options.jwksFile, 'utf8')) as JSONWebKeySet;
      if (!Array.isArray(set.keys)) throw new Error(`${this.options.jwksFile}: not a JWKS (no "keys" array)`);
      jwks = createLocalJWKSet(set);
    }
    // Assigned only after both files were read, so a failed reload changes nothing.
    this.publicKey = publicKey;
    this.jwks = jwks;
  }

  reload(): void {
    if (!this.options.publicKeyFile && !this.options.jwksFile) return;
    try {
      this.loadKeyFiles();
      this.logger.info({ publicKeyFile: this.options.publicKeyFile, jwksFile: this.options.jwksFile }, 'JWT keys loaded');
    } catch (error) {
      this.logger.error({ err: error }, 'JWT key reload failed; keeping the previous keys');
      throw error;
    }
  }

  private readonly resolveKey: JWTVerifyGetKey = async (header, token) => {
    const algorithm = header.alg ?? '';
    if (hmacAlgorithms.includes(algorithm)) {
      if (!this.secret) throw new Error('no HMAC secret configured');
      return this.secret;
    }
    if (this.jwks && (header.kid !== undefined || !this.publicKey)) return this.jwks(header, token);
    if (this.publicKey) return this.publicKey;
    throw new Error('no public key configured');
  };

  verify(token: string): Promise<JWTPayload> {
    return jwtVerify(token, this.resolveKey, {
      algorithms: this.algorithms,
      issuer: this.options.issuer,
      audience: this.options.audience,
    }).then((result) => result.payload);
  }

  async authenticate({ connect }: AuthenticateRequest): Promise<AuthenticateResult> {
    const token = connect.password?.toString('utf8');
    if (token === undefined || !jwtShape.test(token)) return { result: 'next' };
    let payload: JWTPayload;
    try {
      payload = await this.verify(token);
    } catch (error) {
      const expired = error instanceof errors.JWTExpired;
      return { result: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reasonString: expired ? 'token expired' : 'invalid token' };
    }
    if (connect.username && payload.sub !== undefined && connect.username !== payload.sub) {
      return { result: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword, reasonString: 'user name does not match the token subject' };
    }
    const attributes: Record<string, unknown> = {};
    const claim = payload[this.options.aclClaim];
    if (claim !== undefined) {
      const acl = parseAclClaim(claim);
      if (!acl) return { result: 'deny', reasonCode: ReasonCode.NotAuthorized, reasonString: 'malformed ACL claim' };
      attributes[jwtAclAttribute] = acl;
    }
    return {
      result: 'allow',
      username: payload.sub ?? connect.username,
      expiresAt: payload.exp === undefined ? undefined : payload.exp * 1000,
      attributes,
    };
  }
}

export function jwtAuthenticator(verifier: JwtVerifier): Hooks {
  return { authenticate: (request) => verifier.authenticate(request) };
}

/** Enforces the token's ACL claim; clients authenticated another way (no claim) are left to the next authorizer. */
export function jwtAuthorizer(): Hooks {
  const aclOf = (client: ClientInfo): JwtAcl | undefined => client.attributes[jwtAclAttribute] as JwtAcl | undefined;
  return {
    authorizePublish(client: ClientInfo, packet: PublishPacket) {
      const acl = aclOf(client);
      if (!acl) return 'next';
      return acl.pub.some((filter) => filterMatchesTopic(filter, packet.topic)) ? 'allow' : 'deny';
    },
    authorizeSubscribe(client: ClientInfo, subscription: Subscription) {
      const acl = aclOf(client);
      if (!acl) return 'next';
      const filter = underlyingFilter(subscription.topicFilter);
      return acl.sub.some((pattern) => patternCoversFilter(pattern, filter)) ? 'allow' : 'deny';
    },
  };
}
