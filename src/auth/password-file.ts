// The password file: one user per line,
//
//   username:$scrypt$N=..,r=..,p=..$salt$hash[:$scram-sha-256$i=..$salt$StoredKey$ServerKey]
//
// Blank lines and lines starting with # are ignored. The optional third field lets the same
// user log in with SCRAM-SHA-256 (MQTT 5 enhanced authentication); `petrel passwd` writes both.

import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import type { AuthenticateRequest, AuthenticateResult, Hooks } from '../hooks/hooks.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { AuthLogger } from './logger.js';
import {
  parseScramCredentials,
  parseScryptHash,
  verifyPassword,
  hashPassword,
  type ScramCredentials,
} from './password-hash.js';

export interface PasswordEntry {
  username: string;
  passwordHash: string;
  scram?: string;
}

/** Parses the file text; throws (with the line number) on a malformed line so a bad edit is never half-applied. */
export function parsePasswordFile(text: string): Map<string, PasswordEntry> {
  const entries = new Map<string, PasswordEntry>();
  const lines = text.split(/\r?\n/);
  lines.forEach((rawLine, index) => {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#')) return;
    const fields = line.split(':');
    const [username, passwordHash, scram] = fields;
    if (fields.length < 2 || fields.length > 3 || username === '') {
      throw new Error(`line ${index + 1}: expected username:hash[:scram]`);
    }
    if (!parseScryptHash(passwordHash)) throw new Error(`line ${index + 1}: unreadable password hash for "${username}"`);
    if (scram !== undefined && !parseScramCredentials(scram)) {
      throw new Error(`line ${index + 1}: unreadable SCRAM credentials for "${username}"`);
    }
    if (entries.has(username)) throw new Error(`line ${index + 1}: duplicate user "${username}"`);
    entries.set(username, scram === undefined ? { username, passwordHash } : { username, passwordHash, scram });
  });
  return entries;
}

export function formatPasswordFile(entries: Iterable<PasswordEntry>): string {
  let text = '';
  for (const entry of entries) {
    text += entry.scram ? `${entry.username}:${entry.passwordHash}:${entry.scram}\n` : `${entry.username}:${entry.passwordHash}\n`;
  }
  return text;
}

/** Writes atomically (temp file + rename) with owner-only permissions. */
export async function writePasswordFile(path: string, entries: Iterable<PasswordEntry>): Promise<void> {
  const temporary = `${path}.${process.pid}.tmp`;
  await writeFile(temporary, formatPasswordFile(entries), { mode: 0o600 });
  await rename(temporary, path);
}

/** A user name usable in the file: no ':' (field separator) and no line breaks. */
export function validUsername(username: string): boolean {
  return username.length > 0 && username.length <= 65535 && !/[:\r\n]/.test(username);
}

/**
 * The loaded password file. `reload()` swaps in the new content only when the whole file
 * parses; otherwise the previous good state stays and the error is logged (and thrown).
 */
export class PasswordFile {
  private entries = new Map<string, PasswordEntry>();
  private scramCache = new Map<string, ScramCredentials>();
  // Compared against when the user is unknown so the answer takes as long as for a known user.
  private readonly dummyHashPromise = hashPassword('petrel-dummy-password');

  constructor(
    readonly path: string,
    private readonly logger: AuthLogger,
  ) {
    this.load();
  }

  private load(): void {
    this.entries = parsePasswordFile(readFileSync(this.path, 'utf8'));
    this.scramCache = new Map();
  }

  reload(): void {
    try {
      this.load();
      this.logger.info({ file: this.path, users: this.entries.size }, 'password file loaded');
    } catch (error) {
      this.logger.error({ file: this.path, err: error }, 'password file reload failed; keeping the previous users');
      throw error;
    }
  }

  get size(): number {
    return this.entries.size;
  }

  has(username: string): boolean {
    return this.entries.has(username);
  }

  async verify(username: string, password: Buffer): Promise<boolean> {
    const entry = this.entries.get(username);
    if (!entry) {
      await verifyPassword(password, await this.dummyHashPromise);
      return false;
    }
    return verifyPassword(password, entry.passwordHash);
  }

  scramCredentials(username: string): ScramCredentials | undefined {
    const cached = this.scramCache.get(username);
    if (cached) return cached;
    const encoded = this.entries.get(username)?.scram;
    const credentials = encoded === undefined ? undefined : parseScramCredentials(encoded);
    if (credentials) this.scramCache.set(username, credentials);
    return credentials;
  }
}

/**
 * Authenticator over a password file. An unknown user name answers 'next' so a later
 * authenticator (JWT, HTTP) may know it; if none does, the chain ends in 'deny' 0x86.
 * A known user with a wrong or missing password is refused at once (0x86).
 */
export function passwordFileAuthenticator(file: PasswordFile): Hooks {
  return {
    async authenticate({ connect }: AuthenticateRequest): Promise<AuthenticateResult> {
      const username = connect.username;
      if (username === undefined) return { result: 'next' };
      if (!file.has(username)) {
        if (connect.password) await file.verify(username, connect.password);
        return { result: 'next' };
      }
      if (!connect.password || !(await file.verify(username, connect.password))) {
        return { result: 'deny', reasonCode: ReasonCode.BadUserNameOrPassword };
      }
      return { result: 'allow' };
    },
  };
}
