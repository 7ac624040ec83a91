import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hasWildcard,
  isSharedFilter,
  isValidTopicFilter,
  isValidTopicName,
  parseSharedFilter,
  topicLevelCount,
} from '../../src/topics/topic-validation.js';

describe('isValidTopicName', () => {
  test('accepts ordinary names, empty levels and $ topics', () => {
    for (const name of ['a', 'sport/tennis/player1', '/', '/finance', 'a//b', 'a/', '$SYS/broker/uptime', ' ', 'ü/€/𝄞']) {
      assert.equal(isValidTopicName(name), true, name);
    }
  });

  test('rejects the empty name [MQTT-4.7.3-1]', () => {
    assert.equal(isValidTopicName(''), false);
  });

  test('rejects wildcards anywhere [MQTT-4.7.0-1]', () => {
    for (const name of ['+', '#', 'a/+', 'a/#', 'a+b', 'a#', 'sport/tennis/#']) {
      assert.equal(isValidTopicName(name), false, name);
    }
  });

  test('rejects U+0000 [MQTT-4.7.3-2]', () => {
    assert.equal(isValidTopicName('a\u0000b'), false);
  });

  test('enforces the length limit in UTF-8 bytes [MQTT-4.7.3-3]', () => {
    assert.equal(isValidTopicName('a'.repeat(65535)), true);
    assert.equal(isValidTopicName('a'.repeat(65536)), false);
    assert.equal(isValidTopicName('abcd', { maxLength: 4 }), true);
    assert.equal(isValidTopicName('abcde', { maxLength: 4 }), false);
    // 'é' is two bytes in UTF-8: three of them are six bytes although only three UTF-16 units.
    assert.equal(isValidTopicName('ééé', { maxLength: 6 }), true);
    assert.equal(isValidTopicName('ééé', { maxLength: 5 }), false);
    // A limit above the protocol ceiling does not lift the ceiling.
    assert.equal(isValidTopicName('é'.repeat(40000), { maxLength: 100000 }), false);
  });

  test('enforces the level limit', () => {
    assert.equal(isValidTopicName('a/b/c', { maxLevels: 3 }), true);
    assert.equal(isValidTopicName('a/b/c/d', { maxLevels: 3 }), false);
    assert.equal(isValidTopicName('//', { maxLevels: 2 }), false);
  });
});

describe('isValidTopicFilter', () => {
  test('accepts the spec examples and edge cases', () => {
    for (const filter of [
      '#',
      '+',
      'sport/#',
      'sport/tennis/#',
      'sport/+',
      '+/+',
      '/+',
      '+/tennis/#',
      'sport/+/player1',
      '/',
      '//',
      'a//+/#',
      '$SYS/#',
      '$share/group/sport/#',
      '$share/g/+',
      '$share/g//finance',
      '$share',
      '$sharex/a',
    ]) {
      assert.equal(isValidTopicFilter(filter), true, filter);
    }
  });

  test("rejects misplaced '#' [MQTT-4.7.1-1]", () => {
    for (const filter of ['sport/tennis#', 'sport/tennis/#/ranking', '#/a', 'a#', '##', 'a/#/']) {
      assert.equal(isValidTopicFilter(filter), false, filter);
    }
  });

  test("rejects '+' that does not fill its level [MQTT-4.7.1-2]", () => {
    for (const filter of ['sport+', 'sport/+tennis', '+a', 'a/b+/c', '++', '+#', '+/#a']) {
      assert.equal(isValidTopicFilter(filter), false, filter);
    }
  });

  test('rejects empty filters and U+0000 [MQTT-4.7.3-1] [MQTT-4.7.3-2]', () => {
    assert.equal(isValidTopicFilter(''), false);
    assert.equal(isValidTopicFilter('a/\u0000'), false);
  });

  test('rejects malformed shared filters [MQTT-4.8.2-1] [MQTT-4.8.2-2]', () => {
    for (const filter of [
      '$share/',
      '$share//a',
      '$share/group',
      '$share/group/',
      '$share/gr+oup/a',
      '$share/gr#oup/a',
      '$share/+/a',
      '$share/#/a',
      '$share/g/a#',
      '$share/g/a+/b',
    ]) {
      assert.equal(isValidTopicFilter(filter), false, filter);
    }
  });

  test('applies limits (levels counted in the inner filter of a shared one)', () => {
    assert.equal(isValidTopicFilter('a/b/#', { maxLevels: 3 }), true);
    assert.equal(isValidTopicFilter('a/b/c/#', { maxLevels: 3 }), false);
    assert.equal(isValidTopicFilter('$share/g/a/b/#', { maxLevels: 3 }), true);
    assert.equal(isValidTopicFilter('$share/g/a/b/c/#', { maxLevels: 3 }), false);
    assert.equal(isValidTopicFilter('abc/#', { maxLength: 5 }), true);
    assert.equal(isValidTopicFilter('abcd/#', { maxLength: 5 }), false);
  });
});

describe('parseSharedFilter', () => {
  test('splits group and filter', () => {
    assert.deepEqual(parseSharedFilter('$share/consumer1/sport/tennis/+'), {
      group: 'consumer1',
      filter: 'sport/tennis/+',
    });
    assert.deepEqual(parseSharedFilter('$share/g//finance'), { group: 'g', filter: '/finance' });
    assert.deepEqual(parseSharedFilter('$share/g/#'), { group: 'g', filter: '#' });
    assert.deepEqual(parseSharedFilter('$share/g/$SYS/#'), { group: 'g', filter: '$SYS/#' });
  });

  test('undefined for non-shared and malformed shared filters', () => {
    for (const filter of ['sport/#', '$share', '$SHARE/g/a', '$share/g', '$share//a', '$share/g+/a', '$share/g/']) {
      assert.equal(parseSharedFilter(filter), undefined, filter);
    }
    assert.equal(isSharedFilter('$share/g'), true);
    assert.equal(isSharedFilter('$share'), false);
  });
});

describe('helpers', () => {
  test('topicLevelCount', () => {
    assert.equal(topicLevelCount('a'), 1);
    assert.equal(topicLevelCount('a/b'), 2);
    assert.equal(topicLevelCount('/'), 2);
    assert.equal(topicLevelCount('a//b/'), 4);
  });

  test('hasWildcard', () => {
    assert.equal(hasWildcard('a/b'), false);
    assert.equal(hasWildcard('a/+'), true);
    assert.equal(hasWildcard('#'), true);
  });
});
