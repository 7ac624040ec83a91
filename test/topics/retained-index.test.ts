import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RetainedIndex } from '../../src/topics/retained-index.js';

function referenceMatches(filter: string, topic: string): boolean {
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  if (topic.startsWith('$') && (filterLevels[0] === '+' || filterLevels[0] === '#')) return false;
  for (let index = 0; index < filterLevels.length; index++) {
    if (filterLevels[index] === '#') return true;
    if (index >= topicLevels.length) return false;
    if (filterLevels[index] !== '+' && filterLevels[index] !== topicLevels[index]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

function matched<V>(index: RetainedIndex<V>, filter: string): string[] {
  const topics: string[] = [];
  index.match(filter, (topic) => topics.push(topic));
  return topics.sort();
}

describe('RetainedIndex', () => {
  test('set, replace, get, delete, size, entries', () => {
    const index = new RetainedIndex<string>();
    index.set('a/b', 'one');
    index.set('a/b', 'two');
    index.set('a', 'three');
    assert.equal(index.size, 2);
    assert.equal(index.get('a/b'), 'two');
    assert.deepEqual([...index.entries()].sort(), [
      ['a', 'three'],
      ['a/b', 'two'],
    ]);
    assert.equal(index.delete('a/b'), true);
    assert.equal(index.delete('a/b'), false);
    assert.equal(index.get('a/b'), undefined);
    assert.equal(index.size, 1);
    assert.deepEqual(matched(index, 'a/#'), ['a']);
  });

  test('wildcard lookups', () => {
    const index = new RetainedIndex<number>();
    const topics = ['sport', 'sport/tennis', 'sport/tennis/player1', 'sport/golf/player1', 'sport/', '/finance', 'news'];
    topics.forEach((topic, position) => index.set(topic, position));
    assert.deepEqual(matched(index, 'sport/#'), ['sport', 'sport/', 'sport/golf/player1', 'sport/tennis', 'sport/tennis/player1']);
    assert.deepEqual(matched(index, 'sport/+'), ['sport/', 'sport/tennis']);
    assert.deepEqual(matched(index, 'sport/+/player1'), ['sport/golf/player1', 'sport/tennis/player1']);
    assert.deepEqual(matched(index, '+'), ['news', 'sport']);
    assert.deepEqual(matched(index, '+/+'), ['/finance', 'sport/', 'sport/tennis']);
    assert.deepEqual(matched(index, '/+'), ['/finance']);
    assert.deepEqual(matched(index, '#'), [...topics].sort());
    assert.deepEqual(matched(index, 'sport/tennis'), ['sport/tennis']);
    assert.deepEqual(matched(index, 'nothing/#'), []);
  });

  test('values are passed to the visitor', () => {
    const index = new RetainedIndex<{ payload: string }>();
    index.set('x/y', { payload: 'hello' });
    const seen: Array<[string, string]> = [];
    index.match('x/+', (topic, value) => seen.push([topic, value.payload]));
    assert.deepEqual(seen, [['x/y', 'hello']]);
  });

  test("'$' topics are not matched by filters starting with a wildcard [MQTT-4.7.2-1]", () => {
    const index = new RetainedIndex<number>();
    index.set('$SYS/broker/uptime', 1);
    index.set('$SYS', 2);
    index.set('normal', 3);
    assert.deepEqual(matched(index, '#'), ['normal']);
    assert.deepEqual(matched(index, '+'), ['normal']);
    assert.deepEqual(matched(index, '+/broker/uptime'), []);
    assert.deepEqual(matched(index, '$SYS/#'), ['$SYS', '$SYS/broker/uptime']);
    assert.deepEqual(matched(index, '$SYS/+/uptime'), ['$SYS/broker/uptime']);
  });

  test('deleting everything prunes every node', () => {
    const index = new RetainedIndex<number>();
    const topics = ['a/b/c', 'a/b', 'a', 'a//', '/', 'x/y/z/w'];
    topics.forEach((topic, position) => index.set(topic, position));
    assert.ok(index.nodeCount > 0);
    index.delete('a/b');
    assert.deepEqual(matched(index, 'a/#'), ['a', 'a//', 'a/b/c']);
    for (const topic of topics) index.delete(topic);
    assert.equal(index.size, 0);
    assert.equal(index.nodeCount, 0);
    assert.deepEqual(matched(index, '#'), []);
  });

  test('deep topics do not overflow the stack', () => {
    const index = new RetainedIndex<number>();
    const deep = Array.from({ length: 20000 }, () => 'l').join('/');
    index.set(deep, 1);
    assert.deepEqual(matched(index, '#'), [deep]);
    assert.deepEqual(matched(index, 'l/+/#'), [deep]);
    index.delete(deep);
    assert.equal(index.nodeCount, 0);
  });

  test('agrees with the reference matcher (property-based)', () => {
    const level = fc.constantFrom('a', 'b', '', '$s');
    const topic = fc
      .array(level, { minLength: 1, maxLength: 4 })
      .map((levels) => levels.join('/'))
      .filter((text) => text.length > 0);
    const filter = fc
      .tuple(fc.array(fc.oneof(level, fc.constant('+')), { maxLength: 4 }), fc.boolean())
      .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
      .filter((text) => text.length > 0);
    fc.assert(
      fc.property(fc.uniqueArray(topic, { maxLength: 30 }), fc.array(fc.nat()), fc.array(filter, { minLength: 1, maxLength: 10 }), (topics, removals, filters) => {
        const index = new RetainedIndex<string>();
        const model = new Set<string>();
        for (const name of topics) {
          index.set(name, name);
          model.add(name);
        }
        for (const removal of removals) {
          if (topics.length === 0) break;
          const victim = topics[removal % topics.length]!;
          assert.equal(index.delete(victim), model.delete(victim));
        }
        assert.equal(index.size, model.size);
        for (const candidate of filters) {
          const expected = [...model].filter((name) => referenceMatches(candidate, name)).sort();
          const seen: string[] = [];
          index.match(candidate, (name, value) => {
            assert.equal(value, name);
            seen.push(name);
          });
          assert.deepEqual(seen.sort(), expected, candidate);
        }
        for (const name of model) index.delete(name);
        assert.equal(index.nodeCount, 0);
      }),
      { numRuns: 300 },
    );
  });
});
