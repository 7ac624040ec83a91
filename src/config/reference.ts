// Lists every leaf key of the configuration schema with its default, its environment
// variable and what it accepts. The README's configuration table is checked against this
// list by a test, so the documentation cannot drift from the schema.

import { z } from 'zod';
import { configSchema } from './schema.js';
import { describeExpected, unwrapSchema } from './schema-introspect.js';

export interface ConfigKey {
  /** Dotted path; list items are written `listeners[]`. */
  path: string;
  /** The generic environment variable (list items use index 0). */
  environment: string;
  /** The schema default; undefined when the key is optional or required. */
  defaultValue: unknown;
  required: boolean;
  expected: string;
}

function screamingSnake(key: string): string {
  // "QoS" is one word: maximumQoS -> MAXIMUM_QOS.
  return key
    .replace(/QoS/g, 'Qos')
    .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
    .toUpperCase();
}

function leafDefault(schema: z.ZodType): { required: boolean; value: unknown } {
  const result = schema.safeParse(undefined);
  return result.success ? { required: false, value: result.data } : { required: true, value: undefined };
}

function collect(schema: z.ZodType, path: string, environment: string, keys: ConfigKey[]): void {
  const core = unwrapSchema(schema);
  if (core instanceof z.ZodObject) {
    for (const [key, child] of Object.entries(core.shape as Record<string, z.ZodType>)) {
      const childPath = path === '' ? key : `${path}.${key}`;
      const childEnvironment = environment === '' ? `PETREL_${screamingSnake(key)}` : `${environment}__${screamingSnake(key)}`;
      collect(child, childPath, childEnvironment, keys);
    }
    return;
  }
  if (core instanceof z.ZodArray && unwrapSchema(core.element as z.ZodType) instanceof z.ZodObject) {
    collect(core.element as z.ZodType, `${path}[]`, `${environment}__0`, keys);
    return;
  }
  const { required, value } = leafDefault(schema);
  keys.push({ path, environment, defaultValue: value, required, expected: describeExpected(schema) ?? 'a value' });
}

export function configKeys(): ConfigKey[] {
  const keys: ConfigKey[] = [];
  collect(configSchema, '', '', keys);
  return keys;
}

/** How a default is written in the README table. */
export function formatDefault(key: ConfigKey): string {
  if (key.required) return 'required';
  if (key.defaultValue === undefined) return 'unset';
  return JSON.stringify(key.defaultValue);
}
