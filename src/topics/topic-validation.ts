// Syntax rules for topic names (PUBLISH) and topic filters (SUBSCRIBE/UNSUBSCRIBE).
// Spec ids are MQTT 5.0 numbering; the 3.1.1 equivalent is given where it differs.

export interface TopicLimits {
  /** Longest topic in UTF-8 bytes; the protocol ceiling is 65535 [MQTT-4.7.3-3]. */
  maxLength?: number;
  /** Most levels ('/'-separated parts); for a shared filter, counted in its inner filter. */
  maxLevels?: number;
}

export interface SharedFilter {
  group: string;
  filter: string;
}

const sharePrefix = '$share/';
const protocolMaxLength = 65535;

const slash = 0x2f;
const plus = 0x2b;
const hash = 0x23;
const nul = 0x00;

/** Number of levels in a topic or filter: 'a' → 1, 'a/b' → 2, '/' → 2. */
export function topicLevelCount(topic: string): number {
  let count = 1;
  for (let index = topic.indexOf('/'); index !== -1; index = topic.indexOf('/', index + 1)) count++;
  return count;
}

function withinLength(topic: string, maxLength: number | undefined): boolean {
  const limit = Math.min(maxLength ?? protocolMaxLength, protocolMaxLength);
  // A UTF-16 unit encodes to at most 3 UTF-8 bytes, so short strings skip the byte count.
  if (topic.length * 3 <= limit) return true;
  if (topic.length > limit) return false;
  return Buffer.byteLength(topic, 'utf8') <= limit;
}

/** A topic name a PUBLISH (or will) may carry. */
export function isValidTopicName(topic: string, limits?: TopicLimits): boolean {
  if (topic.length === 0) return false; // [MQTT-4.7.3-1]
  if (!withinLength(topic, limits?.maxLength)) return false; // [MQTT-4.7.3-3]
  let levels = 1;
  for (let index = 0; index < topic.length; index++) {
    const code = topic.charCodeAt(index);
    if (code === plus || code === hash) return false; // [MQTT-4.7.0-1] (3.1.1: [MQTT-4.7.1-1])
    if (code === nul) return false; // [MQTT-4.7.3-2]
    if (code === slash) levels++;
  }
  return limits?.maxLevels === undefined || levels <= limits.maxLevels;
}

/** Wildcard placement of a plain (non-shared) filter; returns its level count, or -1 if invalid. */
function plainFilterLevels(filter: string): number {
  if (filter.length === 0) return -1; // [MQTT-4.7.3-1]
  let levels = 1;
  for (let index = 0; index < filter.length; index++) {
    const code = filter.charCodeAt(index);
    if (code === slash) {
      levels++;
    } else if (code === nul) {
      return -1; // [MQTT-4.7.3-2]
    } else if (code === hash) {
      // [MQTT-4.7.1-1] (3.1.1: [MQTT-4.7.1-2]) '#' alone in its level and the last character.
      if (index !== filter.length - 1) return -1;
      if (index > 0 && filter.charCodeAt(index - 1) !== slash) return -1;
    } else if (code === plus) {
      // [MQTT-4.7.1-2] (3.1.1: [MQTT-4.7.1-3]) '+' occupies an entire level.
      if (index > 0 && filter.charCodeAt(index - 1) !== slash) return -1;
      if (index < filter.length - 1 && filter.charCodeAt(index + 1) !== slash) return -1;
    }
  }
  return levels;
}

/** True when the filter uses the shared-subscription prefix, whether or not the rest is well formed. */
export function isSharedFilter(filter: string): boolean {
  return filter.startsWith(sharePrefix);
}

/**
 * Splits '$share/{group}/{filter}'. Returns undefined for a filter that is not shared and also for a
 * malformed shared one; callers tell those apart with isSharedFilter (or validate first).
 */
export function parseSharedFilter(filter: string): SharedFilter | undefined {
  if (!filter.startsWith(sharePrefix)) return undefined;
  const separator = filter.indexOf('/', sharePrefix.length);
  if (separator === -1) return undefined; // [MQTT-4.8.2-2] ShareName must be followed by '/'
  const group = filter.slice(sharePrefix.length, separator);
  if (group.length === 0) return undefined; // [MQTT-4.8.2-1]
  if (group.includes('+') || group.includes('#')) return undefined; // [MQTT-4.8.2-2]
  const inner = filter.slice(separator + 1);
  if (plainFilterLevels(inner) === -1) return undefined; // [MQTT-4.8.2-2] followed by a Topic Filter
  return { group, filter: inner };
}

/** A topic filter a SUBSCRIBE/UNSUBSCRIBE may carry, including '$share/{group}/{filter}'. */
export function isValidTopicFilter(filter: string, limits?: TopicLimits): boolean {
  if (filter.length === 0) return false; // [MQTT-4.7.3-1]
  if (!withinLength(filter, limits?.maxLength)) return false; // [MQTT-4.7.3-3]
  let levels: number;
  if (isSharedFilter(filter)) {
    const shared = parseSharedFilter(filter);
    if (shared === undefined) return false;
    levels = topicLevelCount(shared.filter);
  } else {
    levels = plainFilterLevels(filter);
    if (levels === -1) return false;
  }
  return limits?.maxLevels === undefined || levels <= limits.maxLevels;
}

/** True when the filter contains '+' or '#' (assumes a valid filter). */
export function hasWildcard(filter: string): boolean {
  return filter.includes('+') || filter.includes('#');
}
