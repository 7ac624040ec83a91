import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { SharedGroup, hashString } from '../../src/topics/shared-group.js';
import type { SharedStrategy } from '../../src/config/schema.js';
import type { SubscriberOptions } from '../../src/topics/subscriber-options.js';

const options: SubscriberOptions = { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 };
const everyone = (): boolean => true;

function groupOf(strategy: SharedStrategy, members: string[]): SharedGroup {
  const group = new SharedGroup('g', 'jobs/+', strategy);
  for (const member of members) group.add(member, options);
  return group;
}

function tally(picks: Array<string | undefined>): Map<string | undefined, number> {
  const counts = new Map<string | undefined, number>();
  for (const pick of picks) counts.set(pick, (counts.get(pick) ?? 0) + 1);
  return counts;
}

describe('SharedGroup membership', () => {
  test('add reports new members, replaces options, remove reports presence', () => {
    const group = groupOf('round-robin', []);
    assert.equal(group.add('a', options), true);
    assert.equal(group.add('a', { ...options, qos: 2 }), false);
    assert.equal(group.members.get('a')?.qos, 2);
    assert.equal(group.size, 1);
    assert.equal(group.remove('b'), false);
    assert.equal(group.remove('a'), true);
    assert.equal(group.size, 0);
    assert.equal(group.pick('p', 'jobs/1', everyone), undefined);
  });

  test('every strategy returns undefined when nobody is eligible', () => {
    for (const strategy of ['round-robin', 'random', 'sticky', 'hash-client', 'hash-topic'] as const) {
      const group = groupOf(strategy, ['a', 'b', 'c']);
      assert.equal(group.pick('p', 'jobs/1', () => false), undefined, strategy);
    }
  });

  test('every strategy picks only eligible members', () => {
    for (const strategy of ['round-robin', 'random', 'sticky', 'hash-client', 'hash-topic'] as const) {
      const group = groupOf(strategy, ['a', 'b', 'c', 'd']);
      for (let attempt = 0; attempt < 200; attempt++) {
        const picked = group.pick(`p${attempt}`, `jobs/${attempt}`, (clientId) => clientId === 'c');
        assert.equal(picked, 'c', strategy);
      }
    }
  });
});

describe('round-robin', () => {
  test('cycles through members in order, evenly', () => {
    const group = groupOf('round-robin', ['a', 'b', 'c']);
    const picks = Array.from({ length: 9 }, () => group.pick(undefined, 't', everyone));
    assert.deepEqual(picks, ['a', 'b', 'c', 'a', 'b', 'c', 'a', 'b', 'c']);
  });

  test('skips ineligible members and stays fair among the rest', () => {
    const group = groupOf('round-robin', ['a', 'b', 'c', 'd']);
    const picks = Array.from({ length: 300 }, () => group.pick(undefined, 't', (clientId) => clientId !== 'b'));
    assert.deepEqual(
      [...tally(picks)].sort(),
      [
        ['a', 100],
        ['c', 100],
        ['d', 100],
      ],
    );
  });

  test('removing a member skips nobody', () => {
    const group = groupOf('round-robin', ['a', 'b', 'c', 'd']);
    assert.equal(group.pick(undefined, 't', everyone), 'a');
    assert.equal(group.pick(undefined, 't', everyone), 'b');
    group.remove('a');
    assert.equal(group.pick(undefined, 't', everyone), 'c');
    group.remove('d');
    assert.equal(group.pick(undefined, 't', everyone), 'b');
    group.add('e', options);
    assert.deepEqual(
      Array.from({ length: 3 }, () => group.pick(undefined, 't', everyone)),
      ['c', 'e', 'b'],
    );
  });
});

describe('random', () => {
  test('spreads roughly uniformly over eligible members', () => {
    const group = groupOf('random', ['a', 'b', 'c', 'd']);
    const picks = Array.from({ length: 6000 }, () => group.pick(undefined, 't', (clientId) => clientId !== 'd'));
    const counts = tally(picks);
    assert.equal(counts.get('d'), undefined);
    for (const member of ['a', 'b', 'c']) {
      const count = counts.get(member) ?? 0;
      // Expected 2000 each; standard deviation is about 37, so this bound never trips by chance.
      assert.ok(count > 1700 && count < 2300, `${member} picked ${count} times`);
    }
  });
});

describe('sticky', () => {
  test('keeps one member until it becomes ineligible, then keeps the next one', () => {
    const group = groupOf('sticky', ['a', 'b', 'c']);
    const online = new Set(['a', 'b', 'c']);
    const eligible = (clientId: string): boolean => online.has(clientId);
    const first = group.pick(undefined, 't', eligible);
    for (let attempt = 0; attempt < 10; attempt++) assert.equal(group.pick(undefined, `t${attempt}`, eligible), first);
    online.delete(first!);
    const second = group.pick(undefined, 't', eligible);
    assert.ok(second !== undefined && second !== first);
    online.add(first!);
    for (let attempt = 0; attempt < 10; attempt++) assert.equal(group.pick(undefined, 't', eligible), second);
    group.remove(second);
    const third = group.pick(undefined, 't', eligible);
    assert.ok(third !== undefined && third !== second);
  });
});

describe('hash strategies', () => {
  const members = ['m1', 'm2', 'm3', 'm4', 'm5'];

  function assignments(
    group: SharedGroup,
    strategy: 'hash-client' | 'hash-topic',
    eligible: (clientId: string) => boolean = everyone,
  ): Map<string, string | undefined> {
    const result = new Map<string, string | undefined>();
    for (let key = 0; key < 1000; key++) {
      const name = `key-${key}`;
      result.set(name, strategy === 'hash-client' ? group.pick(name, 'same/topic', eligible) : group.pick('same-client', name, eligible));
    }
    return result;
  }

  for (const strategy of ['hash-client', 'hash-topic'] as const) {
    test(`${strategy}: stable while membership is unchanged, and spread over members`, () => {
      const group = groupOf(strategy, members);
      const first = assignments(group, strategy);
      const again = assignments(group, strategy);
      assert.deepEqual(again, first);
      // A fresh group with the same members (another process, say) agrees too.
      assert.deepEqual(assignments(groupOf(strategy, [...members].reverse()), strategy), first);
      const counts = tally([...first.values()]);
      for (const member of members) assert.ok((counts.get(member) ?? 0) > 120, `${member}: ${counts.get(member)}`);
    });

    test(`${strategy}: only the keys of a departed or ineligible member move`, () => {
      const group = groupOf(strategy, members);
      const before = assignments(group, strategy);
      const whileOffline = assignments(group, strategy, (clientId) => clientId !== 'm3');
      group.remove('m3');
      const after = assignments(group, strategy);
      assert.deepEqual(whileOffline, after);
      let moved = 0;
      for (const [key, member] of before) {
        if (member === 'm3') {
          moved++;
          assert.notEqual(after.get(key), 'm3');
        } else {
          assert.equal(after.get(key), member, key);
        }
      }
      assert.ok(moved > 0);
    });
  }

  test('hashString is FNV-1a (stable across runs)', () => {
    assert.equal(hashString(''), 0x811c9dc5);
    assert.equal(hashString('a'), 0xe40c292c);
    assert.equal(hashString('foobar'), 0xbf9cf968);
  });
});
