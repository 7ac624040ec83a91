// What the broker (and the certificate authenticator) learns from a verified client certificate.

import type { TLSSocket } from 'node:tls';
import type { ConnectionMeta } from '../connection/connection.js';

export type PeerCertificate = NonNullable<ConnectionMeta['certificate']>;

/** Undefined unless the client presented a certificate that verified against the configured CA. */
export function verifiedPeerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  if (!socket.authorized) return undefined;
  const peer = socket.getPeerCertificate();
  // Node returns an empty object when there is no peer certificate.
  if (peer === null || peer.fingerprint256 === undefined) return undefined;
  // A subject with several CNs comes back as an array; the first is the conventional one.
  const commonName: unknown = peer.subject?.CN;
  const subjectCN = Array.isArray(commonName) ? (commonName[0] as string | undefined) : (commonName as string | undefined);
  const subjectAltNames = peer.subjectaltname ? peer.subjectaltname.split(', ').filter((name) => name.length > 0) : undefined;
  return { subjectCN, subjectAltNames, fingerprint256: peer.fingerprint256 };
}
