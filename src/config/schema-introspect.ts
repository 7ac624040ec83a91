// Reads the zod configuration schema as data: which schema sits at a key path, what kind of
// scalar it expects (to coerce environment variables and flags, which are always strings),
// and how to describe that expectation in an error message.

import { z } from 'zod';

export type KeyPath = ReadonlyArray<string | number>;

export type ScalarKind = 'number' | 'boolean' | 'string' | 'list' | 'object' | 'unknown';

/** Peels wrappers that do not change the accepted shape (default, prefault, optional, nullable). */
export function unwrapSchema(schema: z.ZodType): z.ZodType {
  let current: z.ZodType = schema;
  for (;;) {
    if (current instanceof z.ZodDefault || current instanceof z.ZodPrefault) {
      current = current.def.innerType as z.ZodType;
    } else if (current instanceof z.ZodOptional || current instanceof z.ZodNullable) {
      current = current.def.innerType as z.ZodType;
    } else {
      return current;
    }
  }
}

/** The schema that validates the value at `path`, or undefined when no such key exists. */
export function schemaAt(root: z.ZodType, path: KeyPath): z.ZodType | undefined {
  let current: z.ZodType | undefined = root;
  for (const segment of path) {
    if (current === undefined) return undefined;
    const core = unwrapSchema(current);
    if (core instanceof z.ZodObject && typeof segment === 'string') {
      current = (core.shape as Record<string, z.ZodType>)[segment];
    } else if (core instanceof z.ZodArray && typeof segment === 'number') {
      current = core.element as z.ZodType;
    } else {
      return undefined;
    }
  }
  return current;
}

/** The keys an object schema accepts (empty for anything else). */
export function objectKeys(schema: z.ZodType | undefined): string[] {
  if (schema === undefined) return [];
  const core = unwrapSchema(schema);
  return core instanceof z.ZodObject ? Object.keys(core.shape) : [];
}

function literalValues(schema: z.ZodType): unknown[] | undefined {
  if (schema instanceof z.ZodLiteral) return [...schema.values];
  if (schema instanceof z.ZodEnum) return schema.options;
  if (schema instanceof z.ZodUnion) {
    const values: unknown[] = [];
    for (const option of schema.options as z.ZodType[]) {
      const optionValues = literalValues(unwrapSchema(option));
      if (optionValues === undefined) return undefined;
      values.push(...optionValues);
    }
    return values;
  }
  return undefined;
}

/** What kind of value a string from the environment or a flag should become. */
export function scalarKind(schema: z.ZodType | undefined): ScalarKind {
  if (schema === undefined) return 'unknown';
  const core = unwrapSchema(schema);
  if (core instanceof z.ZodNumber) return 'number';
  if (core instanceof z.ZodBoolean) return 'boolean';
  if (core instanceof z.ZodString) return 'string';
  if (core instanceof z.ZodArray) return 'list';
  if (core instanceof z.ZodObject) return 'object';
  const values = literalValues(core);
  if (values !== undefined && values.length > 0) {
    if (values.every((value) => typeof value === 'number')) return 'number';
    if (values.every((value) => typeof value === 'string')) return 'string';
  }
  return 'unknown';
}

/** The options of a union schema (after unwrapping), or undefined for anything else. */
export function unionOptions(schema: z.ZodType | undefined): z.ZodType[] | undefined {
  if (schema === undefined) return undefined;
  const core = unwrapSchema(schema);
  return core instanceof z.ZodUnion ? [...(core.options as z.ZodType[])] : undefined;
}

/** The element schema of a list schema. */
export function listElement(schema: z.ZodType | undefined): z.ZodType | undefined {
  if (schema === undefined) return undefined;
  const core = unwrapSchema(schema);
  return core instanceof z.ZodArray ? (core.element as z.ZodType) : undefined;
}

interface NumberBounds {
  integer: boolean;
  minimum?: { value: number; inclusive: boolean };
  maximum?: { value: number; inclusive: boolean };
}

function numberBounds(schema: z.ZodNumber): NumberBounds {
  const bounds: NumberBounds = { integer: false };
  for (const check of schema.def.checks ?? []) {
    const definition = check._zod.def as { check: string; value?: unknown; inclusive?: boolean; format?: string };
    if (definition.check === 'number_format' && (definition.format === 'safeint' || definition.format === 'int32')) {
      bounds.integer = true;
    } else if (definition.check === 'greater_than' && typeof definition.value === 'number') {
      bounds.minimum = { value: definition.value, inclusive: definition.inclusive === true };
    } else if (definition.check === 'less_than' && typeof definition.value === 'number') {
      bounds.maximum = { value: definition.value, inclusive: definition.inclusive === true };
    }
  }
  return bounds;
}

function describeNumber(schema: z.ZodNumber): string {
  const bounds = numberBounds(schema);
  const noun = bounds.integer ? 'integer' : 'number';
  const { minimum, maximum } = bounds;
  const positive = minimum !== undefined && minimum.value === 0 && !minimum.inclusive;
  const nonNegative = minimum !== undefined && minimum.value === 0 && minimum.inclusive;
  if (maximum === undefined) {
    if (positive) return `a positive ${noun}`;
    if (nonNegative) return `a non-negative ${noun}`;
    if (minimum !== undefined) return `${bounds.integer ? 'an' : 'a'} ${noun} ${minimum.inclusive ? '>=' : '>'} ${minimum.value}`;
    return `${bounds.integer ? 'an' : 'a'} ${noun}`;
  }
  const upper = `${maximum.inclusive ? '<=' : '<'} ${maximum.value}`;
  if (positive) return `a positive ${noun} ${upper}`;
  if (minimum !== undefined && minimum.inclusive && maximum.inclusive) {
    return `${bounds.integer ? 'an' : 'a'} ${noun} from ${minimum.value} to ${maximum.value}`;
  }
  if (minimum !== undefined) {
    return `${bounds.integer ? 'an' : 'a'} ${noun} ${minimum.inclusive ? '>=' : '>'} ${minimum.value} and ${upper}`;
  }
  return `${bounds.integer ? 'an' : 'a'} ${noun} ${upper}`;
}

/** A short phrase for what the schema accepts, e.g. "a positive integer" or "one of tcp, tls". */
export function describeExpected(schema: z.ZodType | undefined): string | undefined {
  if (schema === undefined) return undefined;
  const core = unwrapSchema(schema);
  if (core instanceof z.ZodNumber) return describeNumber(core);
  if (core instanceof z.ZodBoolean) return 'true or false';
  if (core instanceof z.ZodString) return core.format === 'url' ? 'a URL' : 'a string';
  if (core instanceof z.ZodObject) return 'a mapping';
  if (core instanceof z.ZodArray) {
    const element = describeExpected(core.element as z.ZodType);
    return element === undefined ? 'a list' : `a list (each ${element})`;
  }
  const values = literalValues(core);
  if (values !== undefined) return `one of ${values.map((value) => String(value)).join(', ')}`;
  if (core instanceof z.ZodUnion) return describeMixedUnion(core.options as z.ZodType[]);
  return undefined;
}

/** A union of different kinds, e.g. a number or the word "auto": "a positive integer <= 64 or auto". */
function describeMixedUnion(options: z.ZodType[]): string | undefined {
  const parts: string[] = [];
  for (const option of options) {
    const core = unwrapSchema(option);
    const values = literalValues(core);
    const part = values === undefined ? describeExpected(core) : values.map((value) => String(value)).join(', ');
    if (part === undefined) return undefined;
    parts.push(part);
  }
  const last = parts.pop();
  return parts.length === 0 ? last : `${parts.join(', ')} or ${String(last)}`;
}
