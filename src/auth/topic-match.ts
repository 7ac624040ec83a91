// Topic matching for access rules. Kept here (not in the router) because ACL checks need two
// relations the router does not: "does this filter match this topic name" for PUBLISH, and
// "does this rule pattern cover / overlap this subscription filter" for SUBSCRIBE.

/** True when a topic name matches a filter with + and # wildcards. */
export function filterMatchesTopic(filter: string, topic: string): boolean {
  return levelsMatchTopic(filter.split('/'), topic.split('/'));
}

/** filterMatchesTopic on pre-split levels (the ACL keeps its patterns split). */
export function levelsMatchTopic(filterLevels: readonly string[], topicLevels: readonly string[]): boolean {
  // Wildcards at the first level never match topics starting with $. [MQTT-4.7.2-1]
  if (topicLevels[0].startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let index = 0; index < filterLevels.length; index++) {
    const level = filterLevels[index];
    if (level === '#') return true;
    if (index >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[index]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** True when every topic the subscription filter can match is also matched by the pattern. */
export function patternCoversFilter(pattern: string, filter: string): boolean {
  // A $ filter is only covered by a literal first level. [MQTT-4.7.2-1]
  if (filter.startsWith('$') && (pattern.startsWith('+') || pattern.startsWith('#'))) return false;
  const patternLevels = pattern.split('/');
  const filterLevels = filter.split('/');
  for (let index = 0; index < patternLevels.length; index++) {
    const level = patternLevels[index];
    if (level === '#') return true;
    if (index >= filterLevels.length) return false;
    const filterLevel = filterLevels[index];
    if (filterLevel === '#') return false;
    if (level === '+') continue;
    if (filterLevel === '+' || filterLevel !== level) return false;
  }
  return patternLevels.length === filterLevels.length;
}

/** True when at least one topic name is matched by both the pattern and the filter. */
export function patternOverlapsFilter(pattern: string, filter: string): boolean {
  const patternDollar = pattern.startsWith('$');
  const filterDollar = filter.startsWith('$');
  // A $ topic is only reachable by a literal first level; a leading wildcard cannot reach it. [MQTT-4.7.2-1]
  if (patternDollar && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  if (filterDollar && (pattern.startsWith('+') || pattern.startsWith('#'))) return false;
  const patternLevels = pattern.split('/');
  const filterLevels = filter.split('/');
  const shared = Math.min(patternLevels.length, filterLevels.length);
  for (let index = 0; index < shared; index++) {
    const a = patternLevels[index];
    const b = filterLevels[index];
    if (a === '#' || b === '#') return true;
    if (a === '+' || b === '+') continue;
    if (a !== b) return false;
  }
  if (patternLevels.length === filterLevels.length) return true;
  // One is longer: they still overlap if the longer one continues with a lone '#' ("a/#" matches "a").
  const longer = patternLevels.length > filterLevels.length ? patternLevels : filterLevels;
  return longer.length === shared + 1 && longer[shared] === '#';
}

/** `$share/group/filter` -> `filter`; other filters unchanged. Shared subscriptions are authorized on the underlying filter. */
export function underlyingFilter(filter: string): string {
  if (!filter.startsWith('$share/')) return filter;
  const groupEnd = filter.indexOf('/', '$share/'.length);
  return groupEnd === -1 ? filter : filter.slice(groupEnd + 1);
}
