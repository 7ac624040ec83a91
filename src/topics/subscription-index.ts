// Every subscription on this node, arranged so that matching a PUBLISH topic costs one Map lookup
// (wildcard-free filters) plus a walk over only the wildcard filters' trie: unrelated subscriptions
// add nothing to the cost.

import type { SharedStrategy } from '../config/schema.js';
import { SharedGroup } from './shared-group.js';
import { internSubscriberOptions, type SubscriberOptions } from './subscriber-options.js';
import { hasWildcard, isSharedFilter, isValidTopicFilter, parseSharedFilter } from './topic-validation.js';

export type { SharedStrategy } from '../config/schema.js';
export type { SubscriberOptions } from './subscriber-options.js';
export { SharedGroup } from './shared-group.js';

export type SubscriberVisitor = (clientId: string, options: SubscriberOptions, filter: string) => void;
export type GroupVisitor = (group: SharedGroup) => void;

/** Subscribers of one filter. A lone subscriber is kept inline, which is the common case. */
class FilterEntry {
  readonly filter: string;
  soleClientId: string | undefined;
  soleOptions: SubscriberOptions | undefined;
  /** Used instead of the sole fields once there are two or more non-shared subscribers. */
  clients: Map<string, SubscriberOptions> | undefined;
  groups: Map<string, SharedGroup> | undefined;

  constructor(filter: string) {
    this.filter = filter;
  }

  get isEmpty(): boolean {
    return this.soleClientId === undefined && this.clients === undefined && this.groups === undefined;
  }

  /** [MQTT-3.8.4-3] a repeated filter replaces the existing subscription; true if it was new. */
  addClient(clientId: string, options: SubscriberOptions): boolean {
    if (this.clients !== undefined) {
      const isNew = !this.clients.has(clientId);
      this.clients.set(clientId, options);
      return isNew;
    }
    if (this.soleClientId === undefined || this.soleClientId === clientId) {
      const isNew = this.soleClientId === undefined;
      this.soleClientId = clientId;
      this.soleOptions = options;
      return isNew;
    }
    this.clients = new Map([
      [this.soleClientId, this.soleOptions!],
      [clientId, options],
    ]);
    this.soleClientId = undefined;
    this.soleOptions = undefined;
    return true;
  }

  removeClient(clientId: string): boolean {
    if (this.clients !== undefined) {
      if (!this.clients.delete(clientId)) return false;
      if (this.clients.size === 1) {
        // Back to the inline form so a filter that had a crowd costs little again.
        const [[remainingId, remainingOptions]] = this.clients;
        this.soleClientId = remainingId;
        this.soleOptions = remainingOptions;
        this.clients = undefined;
      }
      return true;
    }
    if (this.soleClientId !== clientId) return false;
    this.soleClientId = undefined;
    this.soleOptions = undefined;
    return true;
  }

  emit(onSubscriber: SubscriberVisitor, onGroup: GroupVisitor): void {
    if (this.soleClientId !== undefined) {
      onSubscriber(this.soleClientId, this.soleOptions!, this.filter);
    } else if (this.clients !== undefined) {
      for (const [clientId, options] of this.clients) onSubscriber(clientId, options, this.filter);
    }
    if (this.groups !== undefined) {
      for (const group of this.groups.values()) onGroup(group);
    }
  }
}

/** A trie level. Only filters containing a wildcard live in the trie. */
class TrieNode {
  /** This node's level in its parent ('+' for a plus child, '' for the root). */
  readonly level: string;
  /**
   * Literal children. A lone child is held directly: most nodes deep in a device-style tree have
   * one, and a one-entry Map would cost about 180 bytes and two more pointer hops per match.
   */
  children: Map<string, TrieNode> | TrieNode | undefined;
  /** The '+' child, kept apart so matching needs no Map lookup for it. */
  plus: TrieNode | undefined;
  /** The filter whose last level is this node. */
  entry: FilterEntry | undefined;
  /** The filter '{path to this node}/#' (or '#' at the root). */
  hashEntry: FilterEntry | undefined;

  get isEmpty(): boolean {
    return (
      this.entry === undefined && this.hashEntry === undefined && this.plus === undefined && this.children === undefined
    );
  }

  constructor(level: string) {
    this.level = level;
  }

  child(level: string): TrieNode | undefined {
    const children = this.children;
    if (children === undefined) return undefined;
    if (children instanceof TrieNode) return children.level === level ? children : undefined;
    return children.get(level);
  }

  addChild(child: TrieNode): void {
    const children = this.children;
    if (children === undefined) {
      this.children = child;
    } else if (children instanceof TrieNode) {
      this.children = new Map([
        [children.level, children],
        [child.level, child],
      ]);
    } else {
      children.set(child.level, child);
    }
  }

  removeChild(level: string): void {
    const children = this.children;
    if (children instanceof TrieNode) {
      if (children.level === level) this.children = undefined;
    } else if (children !== undefined && children.delete(level) && children.size === 1) {
      this.children = children.values().next().value;
    }
  }
}

const dollarSign = 0x24;

export interface SubscriptionIndexOptions {
  sharedStrategy: SharedStrategy;
}

export class SubscriptionIndex {
  readonly #sharedStrategy: SharedStrategy;
  /** Wildcard-free filters, keyed by the filter (which equals the only topic it matches). */
  readonly #exact = new Map<string, FilterEntry>();
  readonly #root = new TrieNode('');
  #wildcardEntryCount = 0;
  #trieNodeCount = 0;
  #subscriptionCount = 0;

  constructor(options: SubscriptionIndexOptions) {
    this.#sharedStrategy = options.sharedStrategy;
  }

  /** (client, filter) pairs, shared memberships included. */
  get subscriptionCount(): number {
    return this.#subscriptionCount;
  }

  /** Distinct filters with at least one subscriber (shared or not). */
  get filterCount(): number {
    return this.#exact.size + this.#wildcardEntryCount;
  }

  /** Trie nodes below the root; zero once every wildcard subscription is gone. */
  get trieNodeCount(): number {
    return this.#trieNodeCount;
  }

  /**
   * Adds or replaces clientId's subscription to topicFilter (which may be '$share/g/f'); returns
   * true if it was new. Throws RangeError for an invalid filter: validate before calling.
   * The stored options are an interned frozen copy (see internSubscriberOptions).
   */
  subscribe(clientId: string, topicFilter: string, options: SubscriberOptions): boolean {
    if (!isValidTopicFilter(topicFilter)) throw new RangeError(`invalid topic filter: ${topicFilter}`);
    const stored = internSubscriberOptions(options);
    const shared = isSharedFilter(topicFilter) ? parseSharedFilter(topicFilter) : undefined;
    const filter = shared === undefined ? topicFilter : shared.filter;
    const entry = this.#entryFor(filter, true)!;
    let added: boolean;
    if (shared === undefined) {
      added = entry.addClient(clientId, stored);
    } else {
      entry.groups ??= new Map();
      let group = entry.groups.get(shared.group);
      if (group === undefined) {
        group = new SharedGroup(shared.group, filter, this.#sharedStrategy);
        entry.groups.set(shared.group, group);
      }
      added = group.add(clientId, stored);
    }
    if (added) this.#subscriptionCount++;
    return added;
  }

  /** Removes clientId's subscription to topicFilter; false if there was none. */
  unsubscribe(clientId: string, topicFilter: string): boolean {
    if (!isValidTopicFilter(topicFilter)) return false;
    const shared = isSharedFilter(topicFilter) ? parseSharedFilter(topicFilter) : undefined;
    const filter = shared === undefined ? topicFilter : shared.filter;
    const entry = this.#entryFor(filter, false);
    if (entry === undefined) return false;
    let removed: boolean;
    if (shared === undefined) {
      removed = entry.removeClient(clientId);
    } else {
      const group = entry.groups?.get(shared.group);
      removed = group !== undefined && group.remove(clientId);
      if (group !== undefined && group.size === 0) {
        entry.groups!.delete(shared.group);
        if (entry.groups!.size === 0) entry.groups = undefined;
      }
    }
    if (removed) this.#subscriptionCount--;
    if (entry.isEmpty) this.#dropEntry(filter);
    return removed;
  }

  /** The shared group '$share/{group}/{filter}', e.g. to re-route a departed member's in-flight messages. */
  getSharedGroup(group: string, filter: string): SharedGroup | undefined {
    return this.#entryFor(filter, false)?.groups?.get(group);
  }

  /**
   * For a PUBLISH to `topic`: onSubscriber once per matching non-shared (clientId, filter) and
   * onGroup once per matching shared group. A client with overlapping filters is reported once per
   * filter; combining them is the caller's job. Synchronous. A callback that subscribes or
   * unsubscribes does no harm, but the ongoing walk may or may not see that change.
   */
  match(topic: string, onSubscriber: SubscriberVisitor, onGroup: GroupVisitor): void {
    this.#exact.get(topic)?.emit(onSubscriber, onGroup);
    if (this.#wildcardEntryCount === 0) return;
    const root = this.#root;
    // [MQTT-4.7.2-1] filters starting with a wildcard do not match topics starting with '$'.
    if (topic.charCodeAt(0) !== dollarSign) {
      root.hashEntry?.emit(onSubscriber, onGroup);
      if (root.plus !== undefined) matchBelow(root.plus, topic, nextLevelStart(topic, 0), onSubscriber, onGroup);
    }
    if (root.children !== undefined) {
      const child = root.child(levelAt(topic, 0));
      if (child !== undefined) matchBelow(child, topic, nextLevelStart(topic, 0), onSubscriber, onGroup);
    }
  }

  /** Whether any subscription at all matches (for PUBACK/PUBREC 0x10 No matching subscribers). */
  hasMatch(topic: string): boolean {
    if (this.#exact.has(topic)) return true;
    if (this.#wildcardEntryCount === 0) return false;
    const root = this.#root;
    if (topic.charCodeAt(0) !== dollarSign) {
      // [MQTT-4.7.2-1]
      if (root.hashEntry !== undefined) return true;
      if (root.plus !== undefined && anyBelow(root.plus, topic, nextLevelStart(topic, 0))) return true;
    }
    const child = root.child(levelAt(topic, 0));
    return child !== undefined && anyBelow(child, topic, nextLevelStart(topic, 0));
  }

  #entryFor(filter: string, create: boolean): FilterEntry | undefined {
    if (!hasWildcard(filter)) {
      let entry = this.#exact.get(filter);
      if (entry === undefined && create) {
        entry = new FilterEntry(filter);
        this.#exact.set(filter, entry);
      }
      return entry;
    }
    const levels = filter.split('/');
    const endsWithHash = levels[levels.length - 1] === '#';
    const pathLength = endsWithHash ? levels.length - 1 : levels.length;
    let node: TrieNode | undefined = this.#root;
    for (let index = 0; index < pathLength; index++) {
      const level = levels[index]!;
      let next: TrieNode | undefined = level === '+' ? node.plus : node.child(level);
      if (next === undefined) {
        if (!create) return undefined;
        next = new TrieNode(level);
        this.#trieNodeCount++;
        if (level === '+') {
          node.plus = next;
        } else {
          node.addChild(next);
        }
      }
      node = next;
    }
    let entry = endsWithHash ? node.hashEntry : node.entry;
    if (entry === undefined && create) {
      entry = new FilterEntry(filter);
      if (endsWithHash) node.hashEntry = entry;
      else node.entry = entry;
      this.#wildcardEntryCount++;
    }
    return entry;
  }

  /** Removes an emptied entry and the trie nodes that no longer lead anywhere. */
  #dropEntry(filter: string): void {
    if (!hasWildcard(filter)) {
      this.#exact.delete(filter);
      return;
    }
    const levels = filter.split('/');
    const endsWithHash = levels[levels.length - 1] === '#';
    const pathLength = endsWithHash ? levels.length - 1 : levels.length;
    const path: TrieNode[] = [this.#root];
    let node = this.#root;
    for (let index = 0; index < pathLength; index++) {
      const level = levels[index]!;
      const next = level === '+' ? node.plus : node.child(level);
      if (next === undefined) return;
      path.push(next);
      node = next;
    }
    if (endsWithHash) node.hashEntry = undefined;
    else node.entry = undefined;
    this.#wildcardEntryCount--;
    for (let depth = pathLength; depth > 0; depth--) {
      const current = path[depth]!;
      if (!current.isEmpty) break;
      const parent = path[depth - 1]!;
      const level = levels[depth - 1]!;
      this.#trieNodeCount--;
      if (level === '+') {
        parent.plus = undefined;
      } else {
        parent.removeChild(level);
      }
    }
  }
}

// Levels are read in place with indexOf/slice: String.prototype.split costs more than the whole
// rest of a typical match. A position past topic.length means every level has been consumed.

function levelAt(topic: string, start: number): string {
  const end = topic.indexOf('/', start);
  return end === -1 ? topic.slice(start) : topic.slice(start, end);
}

function nextLevelStart(topic: string, start: number): number {
  const end = topic.indexOf('/', start);
  return end === -1 ? topic.length + 1 : end + 1;
}

// `node` has consumed the levels before `start`.
function matchBelow(
  node: TrieNode,
  topic: string,
  start: number,
  onSubscriber: SubscriberVisitor,
  onGroup: GroupVisitor,
): void {
  // '#' matches any number of further levels, zero included ('sport/#' matches 'sport') [MQTT-4.7.1-1].
  node.hashEntry?.emit(onSubscriber, onGroup);
  if (start > topic.length) {
    node.entry?.emit(onSubscriber, onGroup);
    return;
  }
  if (node.children === undefined && node.plus === undefined) return;
  const end = topic.indexOf('/', start);
  const next = end === -1 ? topic.length + 1 : end + 1;
  if (node.children !== undefined) {
    const child = node.child(end === -1 ? topic.slice(start) : topic.slice(start, end));
    if (child !== undefined) matchBelow(child, topic, next, onSubscriber, onGroup);
  }
  // '+' matches exactly one level, an empty one included [MQTT-4.7.1-2].
  if (node.plus !== undefined) matchBelow(node.plus, topic, next, onSubscriber, onGroup);
}

function anyBelow(node: TrieNode, topic: string, start: number): boolean {
  if (node.hashEntry !== undefined) return true;
  if (start > topic.length) return node.entry !== undefined;
  const end = topic.indexOf('/', start);
  const next = end === -1 ? topic.length + 1 : end + 1;
  if (node.children !== undefined) {
    const child = node.child(end === -1 ? topic.slice(start) : topic.slice(start, end));
    if (child !== undefined && anyBelow(child, topic, next)) return true;
  }
  return node.plus !== undefined && anyBelow(node.plus, topic, next);
}
