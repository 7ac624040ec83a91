// One shared subscription '$share/{name}/{filter}': its members, and the choice of the one member
// that receives each message.

import type { SharedStrategy } from '../config/schema.js';
import type { SubscriberOptions } from './subscriber-options.js';

/** FNV-1a over UTF-16 code units: cheap, stable across processes and runs. */
export function hashString(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}

/** Murmur3's finaliser: spreads the combined key/member hash so every bit matters. */
function mix(value: number): number {
  let mixed = value;
  mixed ^= mixed >>> 16;
  mixed = Math.imul(mixed, 0x85ebca6b);
  mixed ^= mixed >>> 13;
  mixed = Math.imul(mixed, 0xc2b2ae35);
  mixed ^= mixed >>> 16;
  return mixed >>> 0;
}

export class SharedGroup {
  readonly name: string;
  /** The underlying filter (without '$share/{name}/'). */
  readonly filter: string;
  readonly strategy: SharedStrategy;
  readonly #members = new Map<string, SubscriberOptions>();
  // Parallel arrays in join order: round-robin needs positions, hashing needs per-member hashes.
  readonly #memberIds: string[] = [];
  readonly #memberHashes: number[] = [];
  #cursor = 0;
  #stickyMember: string | undefined;

  constructor(name: string, filter: string, strategy: SharedStrategy) {
    this.name = name;
    this.filter = filter;
    this.strategy = strategy;
  }

  get members(): ReadonlyMap<string, SubscriberOptions> {
    return this.#members;
  }

  get size(): number {
    return this.#members.size;
  }

  /** Adds or replaces a member's options; true if the member is new. Used by SubscriptionIndex. */
  add(clientId: string, options: SubscriberOptions): boolean {
    const isNew = !this.#members.has(clientId);
    this.#members.set(clientId, options);
    if (isNew) {
      this.#memberIds.push(clientId);
      this.#memberHashes.push(hashString(clientId));
    }
    return isNew;
  }

  /** Removes a member; true if it was one. Used by SubscriptionIndex. */
  remove(clientId: string): boolean {
    if (!this.#members.delete(clientId)) return false;
    const position = this.#memberIds.indexOf(clientId);
    this.#memberIds.splice(position, 1);
    this.#memberHashes.splice(position, 1);
    // Keep the round-robin cursor on the member that was next so nobody is skipped.
    if (position < this.#cursor) this.#cursor--;
    if (this.#cursor >= this.#memberIds.length) this.#cursor = 0;
    if (this.#stickyMember === clientId) this.#stickyMember = undefined;
    return true;
  }

  /**
   * Picks one member for a message, only among members for which eligible(clientId) is true;
   * undefined if none is eligible.
   */
  pick(publisherId: string | undefined, topic: string, eligible: (clientId: string) => boolean): string | undefined {
    switch (this.strategy) {
      case 'round-robin':
        return this.#pickRoundRobin(eligible);
      case 'random':
        return this.#pickRandom(eligible);
      case 'sticky':
        return this.#pickSticky(eligible);
      case 'hash-client':
        return this.#pickByHash(hashString(publisherId ?? ''), eligible);
      case 'hash-topic':
        return this.#pickByHash(hashString(topic), eligible);
    }
  }

  #pickRoundRobin(eligible: (clientId: string) => boolean): string | undefined {
    const count = this.#memberIds.length;
    for (let step = 0; step < count; step++) {
      const position = (this.#cursor + step) % count;
      const candidate = this.#memberIds[position]!;
      if (eligible(candidate)) {
        this.#cursor = (position + 1) % count;
        return candidate;
      }
    }
    return undefined;
  }

  #pickRandom(eligible: (clientId: string) => boolean): string | undefined {
    const count = this.#memberIds.length;
    if (count === 0) return undefined;
    const first = this.#memberIds[Math.floor(Math.random() * count)]!;
    if (eligible(first)) return first;
    // Reservoir sampling over the eligible ones: still uniform, no allocation.
    let chosen: string | undefined;
    let seen = 0;
    for (const candidate of this.#memberIds) {
      if (candidate === first || !eligible(candidate)) continue;
      seen++;
      if (Math.random() * seen < 1) chosen = candidate;
    }
    return chosen;
  }

  #pickSticky(eligible: (clientId: string) => boolean): string | undefined {
    const current = this.#stickyMember;
    if (current !== undefined && eligible(current)) return current;
    this.#stickyMember = this.#pickRoundRobin(eligible);
    return this.#stickyMember;
  }

  // Rendezvous hashing: the member with the highest mix(key, member) wins. Stable while membership
  // is unchanged, and when a member leaves only the keys it owned move elsewhere.
  #pickByHash(keyHash: number, eligible: (clientId: string) => boolean): string | undefined {
    let best: string | undefined;
    let bestScore = -1;
    const count = this.#memberIds.length;
    for (let position = 0; position < count; position++) {
      const score = mix(keyHash ^ this.#memberHashes[position]!);
      if (score > bestScore) {
        const candidate = this.#memberIds[position]!;
        if (eligible(candidate)) {
          best = candidate;
          bestScore = score;
        }
      }
    }
    return best;
  }
}
