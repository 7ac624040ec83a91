// Topic patterns: `%i` stands for the client index (emqtt-bench convention).

export function expandTopic(pattern: string, index: number): string {
  return pattern.includes('%i') ? pattern.split('%i').join(String(index)) : pattern;
}

/**
 * The filter one subscriber uses to receive what every publisher of `pattern`
 * sends: each `%i` level becomes `+`. A `%i` that shares a level with other
 * characters cannot be matched by a single-level wildcard, so that is refused.
 */
export function wildcardFilter(pattern: string): string {
  return pattern
    .split('/')
    .map((level) => {
      if (!level.includes('%i')) return level;
      if (level !== '%i') {
        throw new RangeError(`cannot derive a subscription filter from topic level '${level}': put %i alone in a level`);
      }
      return '+';
    })
    .join('/');
}
