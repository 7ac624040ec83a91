// Password hashing: scrypt for CONNECT passwords and SCRAM-SHA-256 keys (RFC 5802 / 7677) for
// MQTT 5 enhanced authentication. Both are encoded as self-describing strings so parameters can
// be raised later without invalidating existing entries.
//
//   $scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>
//   $scram-sha-256$i=4096$<salt base64>$<StoredKey base64>$<ServerKey base64>

import { createHash, createHmac, pbkdf2Sync, randomBytes, scrypt, timingSafeEqual } from 'node:crypto';

export interface ScryptParameters {
  N: number;
  r: number;
  p: number;
}

export const defaultScryptParameters: ScryptParameters = { N: 16384, r: 8, p: 1 };
export const defaultScramIterations = 4096;

const hashLength = 32;
const saltLength = 16;
// Bounds on what a (possibly hand-edited) password file may ask of us: a huge N would be a DoS.
const maximumScryptN = 1 << 20;
const maximumScramIterations = 1_000_000;

export interface ScramCredentials {
  iterations: number;
  salt: Buffer;
  storedKey: Buffer;
  serverKey: Buffer;
}

function scryptAsync(password: Buffer, salt: Buffer, parameters: ScryptParameters): Promise<Buffer> {
  const { N, r, p } = parameters;
  return new Promise((resolve, reject) => {
    scrypt(password, salt, hashLength, { N, r, p, maxmem: 128 * N * r * p + 1024 * 1024 }, (error, key) =>
      error ? reject(error) : resolve(key),
    );
  });
}

export async function hashPassword(password: string, parameters = defaultScryptParameters): Promise<string> {
  const salt = randomBytes(saltLength);
  const hash = await scryptAsync(Buffer.from(password, 'utf8'), salt, parameters);
  return `$scrypt$N=${parameters.N},r=${parameters.r},p=${parameters.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

interface ParsedScrypt {
  parameters: ScryptParameters;
  salt: Buffer;
  hash: Buffer;
}

export function parseScryptHash(encoded: string): ParsedScrypt | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 5 || parts[0] !== '' || parts[1] !== 'scrypt') return undefined;
  const match = /^N=(\d+),r=(\d+),p=(\d+)$/.exec(parts[2]);
  if (!match) return undefined;
  const parameters = { N: Number(match[1]), r: Number(match[2]), p: Number(match[3]) };
  const powerOfTwo = parameters.N > 1 && (parameters.N & (parameters.N - 1)) === 0;
  if (!powerOfTwo || parameters.N > maximumScryptN || parameters.r < 1 || parameters.r > 32) return undefined;
  if (parameters.p < 1 || parameters.p > 16) return undefined;
  const salt = Buffer.from(parts[3], 'base64');
  const hash = Buffer.from(parts[4], 'base64');
  if (salt.length < 8 || hash.length < 16) return undefined;
  return { parameters, salt, hash };
}

/** Constant-time check of a password against a `$scrypt$` string; false for a malformed string. */
export async function verifyPassword(password: Buffer, encoded: string): Promise<boolean> {
  const parsed = parseScryptHash(encoded);
  if (!parsed) return false;
  const candidate = await scryptAsync(password, parsed.salt, parsed.parameters);
  return candidate.length === parsed.hash.length && timingSafeEqual(candidate, parsed.hash);
}

export function hmacSha256(key: Buffer, data: Buffer | string): Buffer {
  return createHmac('sha256', key).update(data).digest();
}

export function sha256(data: Buffer): Buffer {
  return createHash('sha256').update(data).digest();
}

/** SaltedPassword, ClientKey, StoredKey, ServerKey as defined in RFC 5802 §3. */
export function deriveScramCredentials(password: string, salt: Buffer, iterations: number): ScramCredentials {
  // RFC 7677 asks for SASLprep; passwords are used as given (UTF-8) and this is documented.
  const saltedPassword = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = hmacSha256(saltedPassword, 'Client Key');
  return {
    iterations,
    salt,
    storedKey: sha256(clientKey),
    serverKey: hmacSha256(saltedPassword, 'Server Key'),
  };
}

export function createScramCredentials(password: string, iterations = defaultScramIterations): string {
  const credentials = deriveScramCredentials(password, randomBytes(saltLength), iterations);
  return formatScramCredentials(credentials);
}

export function formatScramCredentials(credentials: ScramCredentials): string {
  return [
    '',
    'scram-sha-256',
    `i=${credentials.iterations}`,
    credentials.salt.toString('base64'),
    credentials.storedKey.toString('base64'),
    credentials.serverKey.toString('base64'),
  ].join('$');
}

export function parseScramCredentials(encoded: string): ScramCredentials | undefined {
  const parts = encoded.split('$');
  if (parts.length !== 6 || parts[0] !== '' || parts[1] !== 'scram-sha-256') return undefined;
  const match = /^i=(\d+)$/.exec(parts[2]);
  if (!match) return undefined;
  const iterations = Number(match[1]);
  if (iterations < 1 || iterations > maximumScramIterations) return undefined;
  const salt = Buffer.from(parts[3], 'base64');
  const storedKey = Buffer.from(parts[4], 'base64');
  const serverKey = Buffer.from(parts[5], 'base64');
  if (salt.length < 8 || storedKey.length !== 32 || serverKey.length !== 32) return undefined;
  return { iterations, salt, storedKey, serverKey };
}
