// Builds the broker configuration from its three sources, lowest precedence first:
// the YAML file, PETREL_* environment variables, then command-line flags. The merged raw
// value is validated once by the zod schema; every problem becomes one line naming the key
// path, the offending value and where that value came from.

import { readFileSync } from 'node:fs';
import YAML from 'yaml';
import type { z } from 'zod';
import { configSchema, type PetrelConfig } from './schema.js';
import { describeExpected, listElement, objectKeys, scalarKind, schemaAt, unionOptions, type KeyPath } from './schema-introspect.js';

export class ConfigError extends Error {
  readonly issues: string[];

  constructor(issues: string[]) {
    super(issues.map((issue) => `config error: ${issue}`).join('\n'));
    this.name = 'ConfigError';
    this.issues = issues;
  }
}

/** Command-line overrides; strings are coerced like environment variables. */
export interface ConfigFlags {
  host?: string;
  port?: string | number;
  dataDir?: string;
  workers?: string | number;
  logLevel?: string;
}

export interface LoadConfigOptions {
  /** YAML file; falls back to PETREL_CONFIG from `env`. */
  file?: string;
  env?: NodeJS.ProcessEnv;
  flags?: ConfigFlags;
}

type RawObject = Record<string, unknown>;

/** Where an override lands: a plain key path, or the host/port of the first TCP listener. */
type Target = { kind: 'path'; path: KeyPath } | { kind: 'listener'; field: 'host' | 'port' };

const environmentPrefix = 'PETREL_';
const configFileVariable = 'PETREL_CONFIG';

/** Short names documented in the README; anything else uses the generic SECTION__KEY mapping. */
const namedVariables: Record<string, Target> = {
  PETREL_HOST: { kind: 'listener', field: 'host' },
  PETREL_PORT: { kind: 'listener', field: 'port' },
  PETREL_DATA_DIR: { kind: 'path', path: ['storage', 'dir'] },
  PETREL_WORKERS: { kind: 'path', path: ['workers'] },
  PETREL_LOG_LEVEL: { kind: 'path', path: ['log', 'level'] },
};

const flagTargets: Record<keyof ConfigFlags, { flag: string; target: Target }> = {
  host: { flag: '--host', target: { kind: 'listener', field: 'host' } },
  port: { flag: '--port', target: { kind: 'listener', field: 'port' } },
  dataDir: { flag: '--data-dir', target: { kind: 'path', path: ['storage', 'dir'] } },
  workers: { flag: '--workers', target: { kind: 'path', path: ['workers'] } },
  logLevel: { flag: '--log-level', target: { kind: 'path', path: ['log', 'level'] } },
};

const defaultListenerPort = 1883;

function isPlainObject(value: unknown): value is RawObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function formatKeyPath(path: KeyPath): string {
  let text = '';
  for (const segment of path) {
    text += typeof segment === 'number' ? `[${segment}]` : text === '' ? segment : `.${segment}`;
  }
  return text === '' ? '(top level)' : text;
}

function pathKey(path: KeyPath): string {
  return path.map(String).join('\u0000');
}

/** Tracks which source supplied each key path, for error messages. */
class Provenance {
  private readonly sources = new Map<string, string>();

  record(path: KeyPath, source: string): void {
    this.sources.set(pathKey(path), source);
  }

  /** The source of the closest recorded ancestor-or-self of `path`. */
  lookup(path: KeyPath): string | undefined {
    for (let length = path.length; length >= 0; length -= 1) {
      const source = this.sources.get(pathKey(path.slice(0, length)));
      if (source !== undefined) return source;
    }
    return undefined;
  }
}

function readYamlFile(file: string): RawObject {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new ConfigError([`cannot read config file ${file}: ${reason}`]);
  }
  const document = YAML.parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      document.errors.map((error) => {
        const position = error.linePos?.[0];
        const where = position === undefined ? file : `${file}:${position.line}:${position.col}`;
        const summary = (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
        return `${where}: invalid YAML: ${summary}`;
      }),
    );
  }
  const value: unknown = document.toJS();
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value)) {
    throw new ConfigError([`${file}: expected a mapping of settings at the top level, got ${describeValue(value)}`]);
  }
  dropEmptySections(value, []);
  return value;
}

/** A section whose keys are all commented out reads as null in YAML; treat it as absent (its defaults apply). */
function dropEmptySections(object: RawObject, path: KeyPath): void {
  for (const [key, child] of Object.entries(object)) {
    const childPath = [...path, key];
    if (child === null && scalarKind(schemaAt(configSchema, childPath)) === 'object') {
      delete object[key];
    } else if (isPlainObject(child)) {
      dropEmptySections(child, childPath);
    }
  }
}

/** Converts a string from the environment or a flag to the type the schema expects at `path`. */
function coerce(text: string, schema: z.ZodType | undefined): unknown {
  const trimmed = text.trim();
  switch (scalarKind(schema)) {
    case 'number':
      return /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/.test(trimmed) ? Number(trimmed) : text;
    case 'boolean': {
      const lowered = trimmed.toLowerCase();
      if (['true', '1', 'yes', 'on'].includes(lowered)) return true;
      if (['false', '0', 'no', 'off'].includes(lowered)) return false;
      return text;
    }
    case 'list': {
      // A JSON/YAML flow list sets structured lists (e.g. listeners); otherwise comma-separated scalars.
      if (trimmed.startsWith('[')) return parseFlowValue(trimmed, text);
      if (trimmed === '') return [];
      const element = listElement(schema);
      return trimmed.split(',').map((item) => coerce(item.trim(), element));
    }
    case 'object':
      return trimmed.startsWith('{') ? parseFlowValue(trimmed, text) : text;
    default:
      return coerceUnion(text, schema);
  }
}

/**
 * A union of different kinds (e.g. a number or "auto"): the conversion the first accepting
 * option makes; when none accepts, the first option's (so the error shows "got 0", not "got \"0\"").
 */
function coerceUnion(text: string, schema: z.ZodType | undefined): unknown {
  const options = unionOptions(schema);
  if (options === undefined || options.length === 0) return text;
  const candidates = options.map((option) => coerce(text, option));
  const accepted = candidates.findIndex((candidate, index) => options[index]?.safeParse(candidate).success === true);
  return candidates[accepted === -1 ? 0 : accepted];
}

function parseFlowValue(trimmed: string, original: string): unknown {
  try {
    return YAML.parse(trimmed) as unknown;
  } catch {
    return original;
  }
}

/** Maps SCREAMING_SNAKE segments to schema keys, ignoring case and underscores (so MAXIMUM_QOS finds maximumQoS). */
function resolveSegments(segments: string[]): KeyPath {
  const path: Array<string | number> = [];
  for (const segment of segments) {
    if (/^\d+$/.test(segment)) {
      path.push(Number(segment));
      continue;
    }
    const wanted = segment.replace(/_/g, '').toLowerCase();
    const known = objectKeys(schemaAt(configSchema, path)).find((key) => key.toLowerCase() === wanted);
    path.push(known ?? segment.toLowerCase().replace(/_([a-z0-9])/g, (_match, letter: string) => letter.toUpperCase()));
  }
  return path;
}

/** The target of a PETREL_* variable, or undefined for variables that are not configuration (left alone). */
function environmentTarget(name: string): Target | undefined {
  const named = namedVariables[name];
  if (named !== undefined) return named;
  const rest = name.slice(environmentPrefix.length);
  if (rest === '') return undefined;
  const segments = rest.split('__');
  const path = resolveSegments(segments);
  const topLevelKnown = objectKeys(configSchema).includes(String(path[0]));
  // Variables with "__" are always configuration, so a typo there is an error rather than ignored.
  if (segments.length === 1 && !topLevelKnown) return undefined;
  return { kind: 'path', path };
}

/** Sets `value` at `path`, creating containers; returns the path of the first container it created. */
function setAt(root: RawObject, path: KeyPath, value: unknown): KeyPath | undefined {
  let container: RawObject | unknown[] = root;
  let created: KeyPath | undefined;
  for (let index = 0; index < path.length - 1; index += 1) {
    const segment = path[index] as string | number;
    const nextIsIndex = typeof path[index + 1] === 'number';
    const existing: unknown = (container as Record<string | number, unknown>)[segment];
    const usable = nextIsIndex ? Array.isArray(existing) : isPlainObject(existing);
    if (!usable && created === undefined) created = path.slice(0, index + 1);
    const child: RawObject | unknown[] = usable ? (existing as RawObject | unknown[]) : nextIsIndex ? [] : {};
    (container as Record<string | number, unknown>)[segment] = child;
    container = child;
  }
  (container as Record<string | number, unknown>)[path[path.length - 1] as string | number] = value;
  return created;
}

function getAt(root: unknown, path: KeyPath): unknown {
  let current: unknown = root;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null) return undefined;
    current = (current as Record<string | number, unknown>)[segment];
  }
  return current;
}

/** Index of the first TCP listener, creating one when there is none (--host/--port always take effect). */
function firstTcpListener(raw: RawObject): number | undefined {
  if (raw.listeners === undefined) raw.listeners = [];
  const listeners = raw.listeners;
  if (!Array.isArray(listeners)) return undefined; // the schema reports the bad type
  const index = listeners.findIndex(
    (listener) => isPlainObject(listener) && (listener.type === undefined || listener.type === 'tcp'),
  );
  if (index !== -1) return index;
  listeners.push({ type: 'tcp', port: defaultListenerPort });
  return listeners.length - 1;
}

function applyOverride(raw: RawObject, target: Target, value: string | number, source: string, provenance: Provenance): void {
  let path: KeyPath;
  if (target.kind === 'listener') {
    const index = firstTcpListener(raw);
    if (index === undefined) return;
    path = ['listeners', index, target.field];
  } else {
    path = target.path;
  }
  const coerced = typeof value === 'string' ? coerce(value, schemaAt(configSchema, path)) : value;
  const created = setAt(raw, path, coerced);
  // Keys missing from a container this override created are blamed on the override too.
  if (created !== undefined) provenance.record(created, source);
  provenance.record(path, source);
}

function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const shown = value.length > 80 ? `${value.slice(0, 77)}...` : value;
    return JSON.stringify(shown);
  }
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return 'a mapping';
  return String(value);
}

function editDistance(left: string, right: string): number {
  const previous = Array.from({ length: right.length + 1 }, (_unused, index) => index);
  for (let row = 1; row <= left.length; row += 1) {
    let diagonal = previous[0] as number;
    previous[0] = row;
    for (let column = 1; column <= right.length; column += 1) {
      const above = previous[column] as number;
      const cost = left[row - 1] === right[column - 1] ? 0 : 1;
      previous[column] = Math.min(above + 1, (previous[column - 1] as number) + 1, diagonal + cost);
      diagonal = above;
    }
  }
  return previous[right.length] as number;
}

function suggestKey(unknownKey: string, allowed: string[]): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const key of allowed) {
    const distance = editDistance(unknownKey.toLowerCase(), key.toLowerCase());
    if (best === undefined || distance < best.distance) best = { key, distance };
  }
  return best !== undefined && best.distance <= Math.max(2, Math.floor(unknownKey.length / 3)) ? best.key : undefined;
}

function formatIssue(issue: z.core.$ZodIssue, raw: RawObject, provenance: Provenance): string[] {
  const suffix = (path: KeyPath): string => {
    const source = provenance.lookup(path);
    return source === undefined ? '' : ` (from ${source})`;
  };
  const path = issue.path as KeyPath;
  const where = formatKeyPath(path);

  if (issue.code === 'unrecognized_keys') {
    const allowed = objectKeys(schemaAt(configSchema, path));
    return issue.keys.map((key) => {
      const keyPath = [...path, key];
      const suggestion = suggestKey(key, allowed);
      const hint = suggestion === undefined ? '' : ` (did you mean ${suggestion}?)`;
      return `${formatKeyPath(keyPath)}: unknown key${hint}; allowed keys: ${allowed.join(', ')}${suffix(keyPath)}`;
    });
  }
  if (issue.code === 'custom') return [`${where}: ${issue.message}${suffix(path)}`];

  const value = getAt(raw, path);
  const expected = describeExpected(schemaAt(configSchema, path));
  if (issue.code === 'too_small' && issue.origin === 'array') {
    return [`${where}: expected at least ${String(issue.minimum)} item(s), got ${describeValue(value)}${suffix(path)}`];
  }
  if (value === undefined && issue.code === 'invalid_type') {
    return [`${where}: missing, expected ${expected ?? issue.expected}${suffix(path)}`];
  }
  const expectation = expected === undefined ? issue.message : `expected ${expected}`;
  return [`${where}: ${expectation}, got ${describeValue(value)}${suffix(path)}`];
}

/**
 * Loads and validates the configuration. Precedence: file < PETREL_* environment < flags.
 * Throws ConfigError with one line per problem.
 */
export function loadConfig(options: LoadConfigOptions = {}): PetrelConfig {
  const environment = options.env ?? {};
  const provenance = new Provenance();
  const file = options.file ?? environment[configFileVariable];

  let raw: RawObject = {};
  if (file !== undefined && file !== '') {
    raw = readYamlFile(file);
    provenance.record([], file);
  }

  for (const name of Object.keys(environment).sort()) {
    if (!name.startsWith(environmentPrefix) || name === configFileVariable) continue;
    const value = environment[name];
    const target = environmentTarget(name);
    if (value === undefined || target === undefined) continue;
    applyOverride(raw, target, value, name, provenance);
  }

  const flags = options.flags ?? {};
  for (const key of Object.keys(flagTargets) as Array<keyof ConfigFlags>) {
    const value = flags[key];
    if (value === undefined) continue;
    const { flag, target } = flagTargets[key];
    applyOverride(raw, target, value, flag, provenance);
  }

  const result = configSchema.safeParse(raw);
  if (!result.success) {
    throw new ConfigError(result.error.issues.flatMap((issue) => formatIssue(issue, raw, provenance)));
  }
  return result.data;
}
