// Retained messages by topic: a Map for exact lookups and a level trie so that a wildcard
// subscription visits only the branches its filter can reach.

import { hasWildcard } from './topic-validation.js';

class RetainedNode {
  children: Map<string, RetainedNode> | undefined;
  /** Set when a retained message lives at exactly this topic. */
  topic: string | undefined;
}

const dollarSign = 0x24;

export class RetainedIndex<V> {
  readonly #values = new Map<string, V>();
  readonly #root = new RetainedNode();
  #nodeCount = 0;

  get size(): number {
    return this.#values.size;
  }

  /** Trie nodes below the root; zero once every retained message is deleted. */
  get nodeCount(): number {
    return this.#nodeCount;
  }

  get(topic: string): V | undefined {
    return this.#values.get(topic);
  }

  /** Stores or replaces the retained value for a topic name (no wildcards). */
  set(topic: string, value: V): void {
    if (!this.#values.has(topic)) {
      let node = this.#root;
      for (const level of topic.split('/')) {
        node.children ??= new Map();
        let next = node.children.get(level);
        if (next === undefined) {
          next = new RetainedNode();
          this.#nodeCount++;
          node.children.set(level, next);
        }
        node = next;
      }
      node.topic = topic;
    }
    this.#values.set(topic, value);
  }

  delete(topic: string): boolean {
    if (!this.#values.delete(topic)) return false;
    const levels = topic.split('/');
    const path: RetainedNode[] = [this.#root];
    let node = this.#root;
    for (const level of levels) {
      node = node.children!.get(level)!;
      path.push(node);
    }
    node.topic = undefined;
    // Prune nodes that hold nothing and lead nowhere, so memory returns after deletes.
    for (let depth = levels.length; depth > 0; depth--) {
      const current = path[depth]!;
      if (current.topic !== undefined || current.children !== undefined) break;
      const parent = path[depth - 1]!;
      this.#nodeCount--;
      parent.children!.delete(levels[depth - 1]!);
      if (parent.children!.size === 0) parent.children = undefined;
    }
    return true;
  }

  entries(): IterableIterator<[string, V]> {
    return this.#values.entries();
  }

  /**
   * Visits every retained topic matching a filter with '+' and '#'. Filters starting with a wildcard
   * skip topics starting with '$' [MQTT-4.7.2-1]. The visitor must not change the index.
   */
  match(filter: string, visit: (topic: string, value: V) => void): void {
    if (!hasWildcard(filter)) {
      const value = this.#values.get(filter);
      if (value !== undefined || this.#values.has(filter)) visit(filter, value as V);
      return;
    }
    const levels = filter.split('/');
    // Explicit stack rather than recursion: topic depth is bounded only by configuration.
    const nodes: RetainedNode[] = [this.#root];
    const depths: number[] = [0];
    while (nodes.length > 0) {
      const node = nodes.pop()!;
      const depth = depths.pop()!;
      if (depth === levels.length) {
        if (node.topic !== undefined) this.#visitTopic(node.topic, visit);
        continue;
      }
      const level = levels[depth]!;
      const atRoot = depth === 0;
      if (level === '#') {
        // '#' also matches the parent level: 'sport/#' matches 'sport' [MQTT-4.7.1-1].
        if (!atRoot && node.topic !== undefined) this.#visitTopic(node.topic, visit);
        this.#visitDescendants(node, atRoot, visit);
      } else if (level === '+') {
        if (node.children === undefined) continue;
        for (const [childLevel, child] of node.children) {
          if (atRoot && childLevel.charCodeAt(0) === dollarSign) continue; // [MQTT-4.7.2-1]
          nodes.push(child);
          depths.push(depth + 1);
        }
      } else {
        const child = node.children?.get(level);
        if (child !== undefined) {
          nodes.push(child);
          depths.push(depth + 1);
        }
      }
    }
  }

  #visitTopic(topic: string, visit: (topic: string, value: V) => void): void {
    visit(topic, this.#values.get(topic) as V);
  }

  #visitDescendants(start: RetainedNode, skipDollar: boolean, visit: (topic: string, value: V) => void): void {
    if (start.children === undefined) return;
    const pending: RetainedNode[] = [];
    for (const [level, child] of start.children) {
      if (skipDollar && level.charCodeAt(0) === dollarSign) continue; // [MQTT-4.7.2-1]
      pending.push(child);
    }
    while (pending.length > 0) {
      const node = pending.pop()!;
      if (node.topic !== undefined) this.#visitTopic(node.topic, visit);
      if (node.children !== undefined) for (const child of node.children.values()) pending.push(child);
    }
  }
}
