// Comparison helpers: decoded packets carry `undefined` for absent optional fields
// (a stable object shape); generated ones omit them.

/** Deep copy without undefined-valued keys. Buffers and arrays are kept as they are (arrays mapped). */
export function withoutUndefined(value: unknown): unknown {
  if (Buffer.isBuffer(value)) return value;
  if (Array.isArray(value)) return value.map(withoutUndefined);
  if (value !== null && typeof value === 'object') {
    const result: Record<string, unknown> = {};
    for (const [key, entry] of Object.entries(value)) {
      if (entry !== undefined) result[key] = withoutUndefined(entry);
    }
    return result;
  }
  return value;
}
