import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isSharedSubscription, isValidTopicFilter, isValidTopicName } from '../../src/protocol/index.js';

describe('topic validation', () => {
  test('topic names', () => {
    for (const name of ['a', 'a/b', '/', '//', 'a/b/', '$SYS/x', 'café/🐦', ' ']) assert.equal(isValidTopicName(name), true, name);
    for (const name of ['', 'a/+', '#', 'a/#', 'a+b', 'a\u0000b', 'x'.repeat(65_536)]) assert.equal(isValidTopicName(name), false, name.slice(0, 20));
  });

  test('topic filters', () => {
    const valid = ['#', '+', 'a/#', 'a/+/b', '+/+', '/+', 'a/b', '$share/g/a/#', '$share/g/+', '$SYS/#', '+/#', 'a//b'];
    const invalid = ['', 'a#', 'a/#/b', '#/a', 'a+', 'a/b+', '+a', 'a/\u0000', '$share/g', '$share//a', '$share/g+/a', '$share/g#/a', '$share/g/', '$share/g/a#'];
    for (const filter of valid) assert.equal(isValidTopicFilter(filter), true, filter);
    for (const filter of invalid) assert.equal(isValidTopicFilter(filter), false, filter);
  });

  test('shared subscription detection', () => {
    assert.equal(isSharedSubscription('$share/g/a'), true);
    assert.equal(isSharedSubscription('$shared/g/a'), false);
    assert.equal(isSharedSubscription('a/$share/g'), false);
  });
});
