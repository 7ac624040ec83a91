// Topic name and topic filter rules (MQTT 3.1.1 §4.7, MQTT 5 §4.7 and §4.8.2).

const PLUS = 0x2b; // '+'
const HASH = 0x23; // '#'
const SLASH = 0x2f; // '/'

/** True if the string contains a wildcard character ('+' or '#'). */
export function hasWildcard(topic: string): boolean {
  for (let index = 0; index < topic.length; index++) {
    const code = topic.charCodeAt(index);
    if (code === PLUS || code === HASH) return true;
  }
  return false;
}

function byteLengthFits(value: string): boolean {
  // Cheap bound first: a UTF-16 code unit encodes to at most 3 UTF-8 bytes.
  return value.length * 3 <= 65_535 || Buffer.byteLength(value, 'utf8') <= 65_535;
}

/** A topic name a PUBLISH may carry: non-empty, no wildcards, no U+0000, fits a UTF-8 string field. */
export function isValidTopicName(topic: string): boolean {
  if (topic.length === 0) return false; // [MQTT-4.7.3-1]
  if (!byteLengthFits(topic)) return false; // [MQTT-4.7.3-3]
  for (let index = 0; index < topic.length; index++) {
    const code = topic.charCodeAt(index);
    if (code === PLUS || code === HASH) return false; // [MQTT-3.3.2-2]
    if (code === 0) return false; // [MQTT-4.7.3-2]
  }
  return true;
}

/** A topic filter a SUBSCRIBE / UNSUBSCRIBE may carry, including shared subscriptions. */
export function isValidTopicFilter(filter: string): boolean {
  if (filter.length === 0) return false; // [MQTT-4.7.3-1]
  if (!byteLengthFits(filter)) return false;
  if (filter.startsWith('$share/')) {
    const groupEnd = filter.indexOf('/', 7);
    if (groupEnd === -1 || groupEnd === 7) return false; // ShareName must be at least one character [MQTT-4.8.2-1]
    for (let index = 7; index < groupEnd; index++) {
      const code = filter.charCodeAt(index);
      if (code === PLUS || code === HASH) return false; // [MQTT-4.8.2-2]
    }
    const inner = filter.slice(groupEnd + 1);
    return inner.length > 0 && isPlainFilterValid(inner);
  }
  return isPlainFilterValid(filter);
}

function isPlainFilterValid(filter: string): boolean {
  const length = filter.length;
  for (let index = 0; index < length; index++) {
    const code = filter.charCodeAt(index);
    if (code === 0) return false; // [MQTT-4.7.3-2]
    if (code === HASH) {
      // '#' must be the whole last level [MQTT-4.7.1-2]
      if (index !== length - 1) return false;
      if (index > 0 && filter.charCodeAt(index - 1) !== SLASH) return false;
    } else if (code === PLUS) {
      // '+' must occupy an entire level [MQTT-4.7.1-3]
      if (index > 0 && filter.charCodeAt(index - 1) !== SLASH) return false;
      if (index < length - 1 && filter.charCodeAt(index + 1) !== SLASH) return false;
    }
  }
  return true;
}

/** True for a shared subscription filter ($share/{ShareName}/{filter}). */
export function isSharedSubscription(filter: string): boolean {
  return filter.startsWith('$share/');
}
