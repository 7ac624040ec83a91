// The ACL file and its authorizer. One rule per line, first matching rule wins:
//
//   <allow|deny> <who> <access> <topic-pattern> [maxqos=0|1|2] [retain=true|false]
//
//   who     all | anonymous | user:<name> | client:<id> | address:<ip or CIDR>,
//           several joined with "," must all match (user:bob,address:10.0.0.0/8)
//   access  publish (write) | subscribe (read) | both (readwrite)
//   pattern a topic filter with + and #, where %u is the user name and %c the client id
//
// See README "Authentication and authorization" for the full semantics.

import { BlockList, isIP } from 'node:net';
import { readFileSync } from 'node:fs';
import type { ClientInfo, Hooks } from '../hooks/hooks.js';
import type { PublishPacket, Subscription } from '../protocol/packets.js';
import type { AuthLogger } from './logger.js';
import { levelsMatchTopic, patternCoversFilter, patternOverlapsFilter, underlyingFilter } from './topic-match.js';

export type AclDecision = 'allow' | 'deny';
type Access = 'publish' | 'subscribe' | 'both';

type Condition =
  | { kind: 'all' }
  | { kind: 'anonymous' }
  | { kind: 'user'; name: string }
  | { kind: 'client'; id: string }
  | { kind: 'address'; networks: BlockList };

export interface AclRule {
  decision: AclDecision;
  conditions: Condition[];
  access: Access;
  pattern: string;
  /** The pattern split on '/', for rules without substitution (the common case). */
  levels: string[];
  /** True when the pattern contains %u or %c and must be expanded per client. */
  substituted: boolean;
  maxQoS?: number;
  /** false: PUBLISH with the retain flag is refused by this rule. */
  retain?: boolean;
  line: number;
}

const accessNames: Record<string, Access> = {
  publish: 'publish',
  write: 'publish',
  subscribe: 'subscribe',
  read: 'subscribe',
  both: 'both',
  readwrite: 'both',
};

/** `::ffff:10.1.2.3` (how dual-stack sockets report IPv4 peers) -> `10.1.2.3`. */
export function normalizeAddress(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address;
}

function parseNetwork(text: string, line: number): BlockList {
  const [address, prefixText] = text.split('/');
  const normalized = normalizeAddress(address);
  const family = isIP(normalized);
  if (family === 0) throw new Error(`line ${line}: "${address}" is not an IP address`);
  const type = family === 4 ? 'ipv4' : 'ipv6';
  const maximumPrefix = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? maximumPrefix : Number(prefixText);
  if (!Number.isInteger(prefix) || prefix < 0 || prefix > maximumPrefix || (prefixText !== undefined && !/^\d+$/.test(prefixText))) {
    throw new Error(`line ${line}: bad prefix length in "${text}"`);
  }
  const networks = new BlockList();
  networks.addSubnet(normalized, prefix, type);
  return networks;
}

function parseCondition(text: string, line: number): Condition {
  if (text === 'all' || text === '*') return { kind: 'all' };
  if (text === 'anonymous') return { kind: 'anonymous' };
  const colon = text.indexOf(':');
  const kind = text.slice(0, colon);
  const value = text.slice(colon + 1);
  if (colon > 0 && value !== '') {
    if (kind === 'user') return { kind: 'user', name: value };
    if (kind === 'client') return { kind: 'client', id: value };
    if (kind === 'address') return { kind: 'address', networks: parseNetwork(value, line) };
  }
  throw new Error(`line ${line}: unknown subject "${text}" (all, anonymous, user:, client:, address:)`);
}

function validPattern(pattern: string): boolean {
  const levels = pattern.split('/');
  return levels.every((level, index) => {
    if (level === '#') return index === levels.length - 1;
    return level === '+' || (!level.includes('+') && !level.includes('#'));
  });
}

/** Parses the whole file; throws with the line number on the first bad line. */
export function parseAclFile(text: string): AclRule[] {
  const rules: AclRule[] = [];
  text.split(/\r?\n/).forEach((rawLine, index) => {
    const line = index + 1;
    const trimmed = rawLine.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const [decision, who, accessName, pattern, ...options] = trimmed.split(/\s+/);
    if (decision !== 'allow' && decision !== 'deny') throw new Error(`line ${line}: expected allow or deny`);
    if (who === undefined || accessName === undefined || pattern === undefined) {
      throw new Error(`line ${line}: expected <allow|deny> <who> <access> <topic-pattern>`);
    }
    const access = accessNames[accessName];
    if (!access) throw new Error(`line ${line}: unknown access "${accessName}" (publish, subscribe, both)`);
    if (!validPattern(pattern)) throw new Error(`line ${line}: invalid topic pattern "${pattern}"`);
    const rule: AclRule = {
      decision,
      conditions: who.split(',').map((part) => parseCondition(part, line)),
      access,
      pattern,
      levels: pattern.split('/'),
      substituted: pattern.includes('%u') || pattern.includes('%c'),
      line,
    };
    for (const option of options) {
      const [key, value] = option.split('=');
      if (key === 'maxqos' && /^[012]$/.test(value ?? '')) rule.maxQoS = Number(value);
      else if (key === 'retain' && (value === 'true' || value === 'false')) rule.retain = value === 'true';
      else throw new Error(`line ${line}: unknown option "${option}" (maxqos=0|1|2, retain=true|false)`);
    }
    rules.push(rule);
  });
  return rules;
}

function conditionMatches(condition: Condition, client: ClientInfo, address: string): boolean {
  switch (condition.kind) {
    case 'all':
      return true;
    case 'anonymous':
      return client.username === undefined;
    case 'user':
      return client.username === condition.name;
    case 'client':
      return client.clientId === condition.id;
    case 'address': {
      const family = isIP(address);
      return family !== 0 && condition.networks.check(address, family === 4 ? 'ipv4' : 'ipv6');
    }
  }
}

/** A value substituted into a pattern must be a single plain level, or it could widen the pattern. */
function safeLevel(value: string | undefined): value is string {
  return value !== undefined && value !== '' && !/[/+#]/.test(value);
}

/** %u / %c expanded for this client, or undefined when the rule cannot apply to it. */
function expandPattern(rule: AclRule, client: ClientInfo): string | undefined {
  if (!rule.substituted) return rule.pattern;
  if (rule.pattern.includes('%u') && !safeLevel(client.username)) return undefined;
  if (rule.pattern.includes('%c') && !safeLevel(client.clientId)) return undefined;
  return rule.pattern.replaceAll('%u', client.username ?? '').replaceAll('%c', client.clientId);
}

export interface AclOptions {
  /** Decision when no rule matches (auth.aclDefault). $SYS is never covered by this default. */
  defaultDecision: AclDecision;
  /**
   * true (an ACL file is in use): subscribing to $SYS needs an explicit allow rule.
   * false (no ACL file): $SYS subscriptions follow the default. Publishing to $SYS always needs a rule.
   */
  protectSysReads: boolean;
}

interface ClientCache {
  generation: number;
  username: string | undefined;
  decisions: Map<string, AclDecision>;
}

// Enough for the topics a typical client uses; a client cycling through more just rebuilds.
const maximumCachedDecisions = 512;

/** The rule set plus a per-client decision cache that a reload invalidates. */
export class AccessControl {
  private rules: AclRule[];
  private generation = 0;
  private readonly caches = new WeakMap<ClientInfo, ClientCache>();

  constructor(
    rules: AclRule[],
    private readonly options: AclOptions,
  ) {
    this.rules = rules;
  }

  replaceRules(rules: AclRule[]): void {
    this.rules = rules;
    // Every cached decision is now stale: clients are re-checked on their next operation.
    this.generation++;
  }

  get ruleCount(): number {
    return this.rules.length;
  }

  private cacheFor(client: ClientInfo): Map<string, AclDecision> {
    let cache = this.caches.get(client);
    if (!cache || cache.generation !== this.generation || cache.username !== client.username) {
      cache = { generation: this.generation, username: client.username, decisions: new Map() };
      this.caches.set(client, cache);
    } else if (cache.decisions.size >= maximumCachedDecisions) {
      cache.decisions.clear();
    }
    return cache.decisions;
  }

  checkPublish(client: ClientInfo, topic: string, qos: number, retain: boolean): AclDecision {
    // No rules (no ACL file): what evaluatePublish would answer, without a cache key per publish.
    if (this.rules.length === 0) return topic.startsWith('$SYS') ? 'deny' : this.options.defaultDecision;
    const decisions = this.cacheFor(client);
    const key = `p${qos}${retain ? 'r' : '-'}${topic}`;
    let decision = decisions.get(key);
    if (decision === undefined) {
      decision = this.evaluatePublish(client, topic, qos, retain);
      decisions.set(key, decision);
    }
    return decision;
  }

  checkSubscribe(client: ClientInfo, topicFilter: string, qos: number): AclDecision {
    const decisions = this.cacheFor(client);
    const key = `s${qos}${topicFilter}`;
    let decision = decisions.get(key);
    if (decision === undefined) {
      decision = this.evaluateSubscribe(client, underlyingFilter(topicFilter), qos);
      decisions.set(key, decision);
    }
    return decision;
  }

  /** Whether the rule's subject (who) matches the client and its access covers the operation. */
  private applies(rule: AclRule, client: ClientInfo, address: string, access: Access): boolean {
    if (rule.access !== 'both' && rule.access !== access) return false;
    for (const condition of rule.conditions) if (!conditionMatches(condition, client, address)) return false;
    return true;
  }

  private evaluatePublish(client: ClientInfo, topic: string, qos: number, retain: boolean): AclDecision {
    const address = normalizeAddress(client.remoteAddress);
    const topicLevels = topic.split('/');
    for (const rule of this.rules) {
      if (!this.applies(rule, client, address, 'publish')) continue;
      let levels = rule.levels;
      if (rule.substituted) {
        const pattern = expandPattern(rule, client);
        if (pattern === undefined) continue;
        levels = pattern.split('/');
      }
      if (!levelsMatchTopic(levels, topicLevels)) continue;
      if (rule.decision === 'deny') return 'deny';
      if (rule.maxQoS !== undefined && qos > rule.maxQoS) return 'deny';
      if (rule.retain === false && retain) return 'deny';
      return 'allow';
    }
    // Clients never publish into $SYS unless a rule says so explicitly.
    if (topic.startsWith('$SYS')) return 'deny';
    return this.options.defaultDecision;
  }

  private evaluateSubscribe(client: ClientInfo, filter: string, qos: number): AclDecision {
    const address = normalizeAddress(client.remoteAddress);
    for (const rule of this.rules) {
      if (!this.applies(rule, client, address, 'subscribe')) continue;
      const pattern = expandPattern(rule, client);
      if (pattern === undefined) continue;
      // An allow must cover everything the filter can receive; a deny applies as soon as they overlap.
      if (rule.decision === 'deny') {
        if (patternOverlapsFilter(pattern, filter)) return 'deny';
        continue;
      }
      if (!patternCoversFilter(pattern, filter)) continue;
      if (rule.maxQoS !== undefined && qos > rule.maxQoS) return 'deny';
      return 'allow';
    }
    if (this.options.protectSysReads && filter.startsWith('$SYS')) return 'deny';
    return this.options.defaultDecision;
  }
}

export function loadAclFile(path: string): AclRule[] {
  return parseAclFile(readFileSync(path, 'utf8'));
}

/** Reloads the rules from the file; on error the previous rules stay in force. */
export function reloadAclFile(control: AccessControl, path: string, logger: AuthLogger): void {
  try {
    control.replaceRules(loadAclFile(path));
    logger.info({ file: path, rules: control.ruleCount }, 'ACL file loaded');
  } catch (error) {
    logger.error({ file: path, err: error }, 'ACL file reload failed; keeping the previous rules');
    throw error;
  }
}

/** Synchronous authorizer hooks (they sit on the publish hot path). */
export function aclAuthorizer(control: AccessControl): Hooks {
  return {
    authorizePublish(client: ClientInfo, packet: PublishPacket) {
      return control.checkPublish(client, packet.topic, packet.qos, packet.retain);
    },
    authorizeSubscribe(client: ClientInfo, subscription: Subscription) {
      return control.checkSubscribe(client, subscription.topicFilter, subscription.qos);
    },
  };
}
