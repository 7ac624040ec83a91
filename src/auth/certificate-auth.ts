// mTLS: a verified client certificate's subject CN (or, without a CN, its first SAN) becomes the user name.

import type { AuthenticateRequest, AuthenticateResult, Hooks } from '../hooks/hooks.js';

/** "DNS:device-7" / "email:a@b" -> "device-7" / "a@b" (Node's subjectaltname format). */
function sanValue(name: string): string {
  const colon = name.indexOf(':');
  return colon === -1 ? name : name.slice(colon + 1);
}

export function certificateUsername(certificate: NonNullable<AuthenticateRequest['client']['certificate']>): string | undefined {
  if (certificate.subjectCN) return certificate.subjectCN;
  const first = certificate.subjectAltNames?.[0];
  return first === undefined ? undefined : sanValue(first.trim()) || undefined;
}

/**
 * @param listeners names of the listeners where the certificate identifies the user; undefined = all.
 */
export function certificateAuthenticator(listeners?: ReadonlySet<string>): Hooks {
  return {
    authenticate({ client }: AuthenticateRequest): AuthenticateResult {
      if (!client.certificate || (listeners && !listeners.has(client.listener))) return { result: 'next' };
      const username = certificateUsername(client.certificate);
      return username === undefined ? { result: 'next' } : { result: 'allow', username };
    },
  };
}
