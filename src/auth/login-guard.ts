// Failed-login throttling per remote address: after `failedLoginLimit` failures each further
// attempt waits a doubling delay (250 ms, 500 ms, ... up to 10 s); at twice the limit the address is
// banned for `banSeconds`. A success clears the address. Memory is bounded: at most
// `maxTrackedAddresses` entries (oldest dropped first) and idle entries expire after the ban time.

import { normalizeAddress } from './acl-file.js';

export interface LoginGuardOptions {
  failedLoginLimit: number;
  banSeconds: number;
  maxTrackedAddresses?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
  now?: () => number;
}

interface AddressRecord {
  failures: number;
  lastFailureAt: number;
  bannedUntil: number;
}

export class LoginGuard {
  private readonly records = new Map<string, AddressRecord>();
  private readonly maxTracked: number;
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly now: () => number;

  constructor(private readonly options: LoginGuardOptions) {
    this.maxTracked = options.maxTrackedAddresses ?? 100_000;
    this.baseDelayMs = options.baseDelayMs ?? 250;
    this.maxDelayMs = options.maxDelayMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  private get banMs(): number {
    return this.options.banSeconds * 1000;
  }

  private current(address: string): AddressRecord | undefined {
    const key = normalizeAddress(address);
    const record = this.records.get(key);
    if (!record) return undefined;
    const now = this.now();
    const banOver = record.bannedUntil !== 0 && record.bannedUntil <= now;
    const idle = record.bannedUntil === 0 && now - record.lastFailureAt >= this.banMs;
    if (banOver || idle) {
      this.records.delete(key);
      return undefined;
    }
    return record;
  }

  check(address: string): { allowed: boolean; delayMs: number } {
    const record = this.current(address);
    if (!record) return { allowed: true, delayMs: 0 };
    if (record.bannedUntil > this.now()) return { allowed: false, delayMs: 0 };
    const excess = record.failures - this.options.failedLoginLimit;
    if (excess < 0) return { allowed: true, delayMs: 0 };
    return { allowed: true, delayMs: Math.min(this.maxDelayMs, this.baseDelayMs * 2 ** Math.min(excess, 30)) };
  }

  recordFailure(address: string): void {
    const key = normalizeAddress(address);
    const record = this.current(address) ?? { failures: 0, lastFailureAt: 0, bannedUntil: 0 };
    record.failures++;
    record.lastFailureAt = this.now();
    if (record.failures >= 2 * this.options.failedLoginLimit) record.bannedUntil = record.lastFailureAt + this.banMs;
    // Re-inserting keeps the Map ordered by last activity, so the first key is the one to evict.
    this.records.delete(key);
    this.records.set(key, record);
    while (this.records.size > this.maxTracked) {
      const oldest = this.records.keys().next();
      if (oldest.done) break;
      this.records.delete(oldest.value);
    }
  }

  recordSuccess(address: string): void {
    const key = normalizeAddress(address);
    const record = this.records.get(key);
    // A success during a ban (e.g. a certificate login) does not lift the ban.
    if (record && record.bannedUntil === 0) this.records.delete(key);
  }

  get trackedAddresses(): number {
    return this.records.size;
  }
}
