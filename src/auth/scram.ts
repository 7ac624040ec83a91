// SCRAM-SHA-256 (RFC 5802 / RFC 7677, no channel binding) as an MQTT 5 enhanced authentication method:
//
//   CONNECT  Authentication Data = client-first-message   ("n,,n=user,r=<client nonce>")
//   AUTH 0x18 (server)           = server-first-message   ("r=<nonce>,s=<salt>,i=<iterations>")
//   AUTH 0x18 (client)           = client-final-message   ("c=biws,r=<nonce>,p=<proof>")
//   CONNACK 0x00 (or AUTH 0x00 when re-authenticating) = server-final-message ("v=<signature>")
//
// Credentials (salt, iterations, StoredKey, ServerKey) come from the password file; the password
// itself is never stored or seen. Unknown users get a consistent fake salt so their existence is not revealed.

import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { ClientInfo, EnhancedAuthExchange, EnhancedAuthProvider } from '../hooks/hooks.js';
import type { ConnectPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { defaultScramIterations, hmacSha256, sha256, type ScramCredentials } from './password-hash.js';

export const scramMethod = 'SCRAM-SHA-256';
const maximumMessageLength = 4096;

export interface ScramCredentialSource {
  scramCredentials(username: string): ScramCredentials | undefined;
}

type StepResult = Awaited<ReturnType<EnhancedAuthExchange['step']>>;

/** RFC 5802 §5.1: "=2C" is ",", "=3D" is "="; any other "=" is malformed. */
function decodeSaslName(name: string): string | undefined {
  if (/=(?!2C|3D)/.test(name)) return undefined;
  return name.replaceAll('=2C', ',').replaceAll('=3D', '=');
}

/** Splits "a=1,b=2" into ordered [key, value] pairs; undefined when a part is not key=value. */
function attributes(message: string): Array<[string, string]> | undefined {
  const pairs: Array<[string, string]> = [];
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') return undefined;
    pairs.push([part[0], part.slice(2)]);
  }
  return pairs;
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.alloc(a.length);
  for (let index = 0; index < a.length; index++) out[index] = a[index] ^ b[index];
  return out;
}

const malformed = (reasonString: string): StepResult => ({ result: 'fail', reasonCode: ReasonCode.NotAuthorized, reasonString });
const badCredentials: StepResult = { result: 'fail', reasonCode: ReasonCode.BadUserNameOrPassword };

class ScramExchange implements EnhancedAuthExchange {
  private state: 'client-first' | 'client-final' | 'done' = 'client-first';
  private username = '';
  private credentials: ScramCredentials | undefined;
  private known = false;
  private gs2Header = '';
  private clientFirstBare = '';
  private serverFirst = '';
  private nonce = '';

  constructor(
    private readonly provider: ScramProvider,
    private readonly requiredUsername: string | undefined,
  ) {}

  step(data: Buffer | undefined): StepResult {
    if (!data || data.length === 0 || data.length > maximumMessageLength) {
      this.state = 'done';
      return malformed('missing or oversized SCRAM message');
    }
    const message = data.toString('utf8');
    if (this.state === 'client-first') return this.clientFirst(message);
    if (this.state === 'client-final') return this.clientFinal(message);
    return malformed('SCRAM exchange already finished');
  }

  private clientFirst(message: string): StepResult {
    this.state = 'done';
    const match = /^([nyp][^,]*),(a=[^,]*)?,(.*)$/.exec(message);
    if (!match) return malformed('bad gs2 header');
    if (match[1].startsWith('p')) return malformed('channel binding is not supported');
    if (match[1] !== 'n' && match[1] !== 'y') return malformed('bad gs2 header');
    this.gs2Header = `${match[1]},${match[2] ?? ''},`;
    this.clientFirstBare = match[3];
    const pairs = attributes(this.clientFirstBare);
    if (!pairs || pairs.length < 2 || pairs[0][0] !== 'n' || pairs[1][0] !== 'r' || pairs[1][1] === '') {
      return malformed('bad client-first-message');
    }
    const username = decodeSaslName(pairs[0][1]);
    if (username === undefined || username === '') return malformed('bad user name');
    if (match[2] !== undefined && decodeSaslName(match[2].slice(2)) !== username) {
      return malformed('authorization identity must equal the user name');
    }
    // Re-authentication must prove the same identity the connection already has.
    if (this.requiredUsername !== undefined && username !== this.requiredUsername) return badCredentials;
    this.username = username;
    this.credentials = this.provider.source.scramCredentials(username);
    this.known = this.credentials !== undefined;
    const credentials = this.credentials ?? this.provider.fakeCredentials(username);
    this.credentials = credentials;
    this.nonce = pairs[1][1] + randomBytes(18).toString('base64');
    this.serverFirst = `r=${this.nonce},s=${credentials.salt.toString('base64')},i=${credentials.iterations}`;
    this.state = 'client-final';
    return { result: 'continue', data: Buffer.from(this.serverFirst, 'utf8') };
  }

  private clientFinal(message: string): StepResult {
    this.state = 'done';
    const proofAt = message.lastIndexOf(',p=');
    if (proofAt === -1) return malformed('client-final-message without proof');
    const withoutProof = message.slice(0, proofAt);
    const pairs = attributes(withoutProof);
    if (!pairs || pairs.length < 2 || pairs[0][0] !== 'c' || pairs[1][0] !== 'r') return malformed('bad client-final-message');
    if (pairs[0][1] !== Buffer.from(this.gs2Header, 'utf8').toString('base64')) return malformed('channel binding data mismatch');
    if (pairs[1][1] !== this.nonce) return malformed('nonce mismatch');
    const proof = Buffer.from(message.slice(proofAt + 3), 'base64');
    const credentials = this.credentials as ScramCredentials;
    const authMessage = `${this.clientFirstBare},${this.serverFirst},${withoutProof}`;
    const clientSignature = hmacSha256(credentials.storedKey, authMessage);
    if (proof.length !== clientSignature.length) return badCredentials;
    const clientKey = xor(proof, clientSignature);
    const proofValid = timingSafeEqual(sha256(clientKey), credentials.storedKey);
    if (!proofValid || !this.known) return badCredentials;
    const serverSignature = hmacSha256(credentials.serverKey, authMessage);
    return { result: 'success', data: Buffer.from(`v=${serverSignature.toString('base64')}`, 'utf8'), username: this.username };
  }
}

export class ScramProvider implements EnhancedAuthProvider {
  readonly method = scramMethod;
  // Keyed per process: a fake salt is stable for a user name (so probing twice looks like a real user).
  private readonly fakeSecret = randomBytes(32);

  constructor(readonly source: ScramCredentialSource) {}

  fakeCredentials(username: string): ScramCredentials {
    return {
      iterations: defaultScramIterations,
      salt: hmacSha256(this.fakeSecret, `salt:${username}`).subarray(0, 16),
      storedKey: randomBytes(32),
      serverKey: randomBytes(32),
    };
  }

  /** `connect` is undefined for re-authentication (AUTH 0x19), which must use the connection's user name. */
  begin(client: ClientInfo, connect: ConnectPacket | undefined): EnhancedAuthExchange {
    return new ScramExchange(this, connect === undefined ? client.username : undefined);
  }
}
