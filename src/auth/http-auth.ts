// HTTP authentication hook: POSTs the credentials as JSON to a configured URL.
//
// Request body: { clientId, username, password, passwordEncoding: 'utf8' | 'base64',
//                 remoteAddress, listener } (password is base64 when it is not valid UTF-8).
// Response: a JSON body { "result": "allow" | "deny" | "next", "username"?, "reasonCode"? } decides;
// without such a body the status does: 2xx allow, 401 deny 0x86, 403 deny 0x87, 404 next.
// Any other status, a network error or the timeout yields auth.http.onError.
// Answers (not errors) are cached in a bounded LRU keyed by a SHA-256 of the request, never the password itself.

import { createHash } from 'node:crypto';
import type { AuthenticateRequest, AuthenticateResult, Hooks } from '../hooks/hooks.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AuthLogger } from './logger.js';
import { LruCache } from './lru-cache.js';

export interface HttpAuthOptions {
  url: string;
  timeoutMs: number;
  cacheSize: number;
  cacheTtlMs: number;
  onError: 'allow' | 'deny' | 'next';
}

function passwordField(password: Buffer | undefined): { password: string | null; passwordEncoding: 'utf8' | 'base64' } {
  if (!password) return { password: null, passwordEncoding: 'utf8' };
  const text = password.toString('utf8');
  // A round trip that changes the bytes means the password is not valid UTF-8.
  if (Buffer.from(text, 'utf8').equals(password)) return { password: text, passwordEncoding: 'utf8' };
  return { password: password.toString('base64'), passwordEncoding: 'base64' };
}

function fromStatus(status: number): AuthenticateResult | undefined {
  if (status >= 200 && status < 300) return { result: 'allow' };
  if (status === 401) return { result: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword };
  if (status === 403) return { result: 'deny', reasonCode: ReasonCode.NotAuthorized };
  if (status === 404) return { result: 'next' };
  return undefined;
}

function fromBody(body: unknown): AuthenticateResult | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const answer = body as Record<string, unknown>;
  if (answer.result === 'allow') {
    return typeof answer.username === 'string' ? { result: 'allow', username: answer.username } : { result: 'allow' };
  }
  if (answer.result === 'deny') {
    const code = typeof answer.reasonCode === 'number' && answer.reasonCode >= 0x80 && answer.reasonCode <= 0xff
      ? answer.reasonCode
      : ReasonCode.BadUserNameOrPassword;
    return { result: 'deny', reasonCode: code };
  }
  if (answer.result === 'next') return { result: 'next' };
  return undefined;
}

export class HttpAuthenticator {
  private readonly cache: LruCache<AuthenticateResult>;
  /** Requests actually sent (for tests and metrics). */
  requestCount = 0;

  constructor(
    private readonly options: HttpAuthOptions,
    private readonly logger: AuthLogger,
  ) {
    this.cache = new LruCache(options.cacheSize, options.cacheTtlMs);
  }

  private errorResult(): AuthenticateResult {
    if (this.options.onError === 'allow') return { result: 'allow' };
    if (this.options.onError === 'next') return { result: 'next' };
    return { result: 'deny', reasonCode: ReasonCode.ServerUnavailable, reasonString: 'authentication service unavailable' };
  }

  async authenticate({ client, connect }: AuthenticateRequest): Promise<AuthenticateResult> {
    const body = JSON.stringify({
      clientId: connect.clientId,
      username: connect.username ?? null,
      ...passwordField(connect.password),
      remoteAddress: client.remoteAddress,
      listener: client.listener,
    });
    const cacheKey = createHash('sha256').update(body).digest('base64');
    const cached = this.cache.get(cacheKey);
    if (cached) return cached;
    this.requestCount++;
    let result: AuthenticateResult | undefined;
    try {
      const response = await fetch(this.options.url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      const text = await response.text();
      let parsed: unknown;
      try {
        parsed = text === '' ? undefined : JSON.parse(text);
      } catch {
        parsed = undefined;
      }
      result = (response.ok ? fromBody(parsed) : undefined) ?? fromStatus(response.status);
      if (!result) this.logger.warn({ url: this.options.url, status: response.status }, 'HTTP auth: unexpected status');
    } catch (error) {
      this.logger.warn({ url: this.options.url, err: (error as Error).message }, 'HTTP auth request failed');
    }
    if (!result) return this.errorResult();
    this.cache.set(cacheKey, result);
    return result;
  }

  clearCache(): void {
    this.cache.clear();
  }
}

export function httpAuthenticator(authenticator: HttpAuthenticator): Hooks {
  return { authenticate: (request) => authenticator.authenticate(request) };
}
