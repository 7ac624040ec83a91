import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { SubscriptionIndex, type SharedGroup, type SubscriberOptions } from '../../src/topics/subscription-index.js';

const qos1: SubscriberOptions = { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 };

/** The spec's matching rules written as plainly as possible, to check the trie against. */
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

/** Every match as sorted 'client filter' / 'group name filter' strings. */
function collect(index: SubscriptionIndex, topic: string): string[] {
  const found: string[] = [];
  index.match(
    topic,
    (clientId, _options, filter) => found.push(`client ${clientId} ${filter}`),
    (group) => found.push(`group ${group.name} ${group.filter}`),
  );
  return found.sort();
}

function clientsMatching(index: SubscriptionIndex, topic: string): string[] {
  return collect(index, topic).filter((line) => line.startsWith('client '));
}

describe('SubscriptionIndex matching', () => {
  test('exact, + and # filters', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('exact', 'sport/tennis/player1', qos1);
    index.subscribe('plus', 'sport/+/player1', qos1);
    index.subscribe('hash', 'sport/#', qos1);
    index.subscribe('all', '#', qos1);
    index.subscribe('other', 'news/+', qos1);
    assert.deepEqual(clientsMatching(index, 'sport/tennis/player1'), [
      'client all #',
      'client exact sport/tennis/player1',
      'client hash sport/#',
      'client plus sport/+/player1',
    ]);
    assert.deepEqual(clientsMatching(index, 'news/today'), ['client all #', 'client other news/+']);
    assert.deepEqual(clientsMatching(index, 'news/today/late'), ['client all #']);
  });

  test("'#' matches the parent level: sport/# matches sport [MQTT-4.7.1-1]", () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('c', 'sport/#', qos1);
    index.subscribe('d', '+/#', qos1);
    assert.deepEqual(clientsMatching(index, 'sport'), ['client c sport/#', 'client d +/#']);
    assert.deepEqual(clientsMatching(index, 'sport/'), ['client c sport/#', 'client d +/#']);
    assert.deepEqual(clientsMatching(index, 'sports'), ['client d +/#']);
  });

  test("'+' matches exactly one level, empty levels included [MQTT-4.7.1-2]", () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('a', 'sport/+', qos1);
    index.subscribe('b', '+/+', qos1);
    index.subscribe('c', '/+', qos1);
    index.subscribe('d', '+', qos1);
    assert.deepEqual(clientsMatching(index, 'sport'), ['client d +']);
    assert.deepEqual(clientsMatching(index, 'sport/'), ['client a sport/+', 'client b +/+']);
    assert.deepEqual(clientsMatching(index, '/finance'), ['client b +/+', 'client c /+']);
    assert.deepEqual(clientsMatching(index, 'sport/tennis/x'), []);
  });

  test("'$' topics are not matched by filters starting with a wildcard [MQTT-4.7.2-1]", () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('all', '#', qos1);
    index.subscribe('plus', '+/monitor/Clients', qos1);
    index.subscribe('sys', '$SYS/#', qos1);
    index.subscribe('sysplus', '$SYS/monitor/+', qos1);
    index.subscribe('exact', '$SYS/monitor/Clients', qos1);
    index.subscribe('shared', '$share/g/#', qos1);
    assert.deepEqual(collect(index, '$SYS/monitor/Clients'), [
      'client exact $SYS/monitor/Clients',
      'client sys $SYS/#',
      'client sysplus $SYS/monitor/+',
    ]);
    assert.equal(index.hasMatch('$other/x'), false);
    assert.deepEqual(collect(index, 'x/monitor/Clients'), ['client all #', 'client plus +/monitor/Clients', 'group g #']);
  });

  test('overlapping filters of one client are each reported, with their options', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('c', 'a/#', { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 });
    index.subscribe('c', 'a/+', { qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionIdentifier: 7 });
    const seen: Array<[string, SubscriberOptions]> = [];
    index.match('a/b', (_clientId, options, filter) => seen.push([filter, options]), () => assert.fail('no groups'));
    seen.sort((left, right) => left[0].localeCompare(right[0]));
    assert.equal(seen.length, 2);
    assert.deepEqual(seen[0], ['a/#', { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }]);
    assert.deepEqual(seen[1], [
      'a/+',
      { qos: 2, noLocal: true, retainAsPublished: true, retainHandling: 2, subscriptionIdentifier: 7 },
    ]);
  });

  test('a repeated subscribe replaces the options and is not new [MQTT-3.8.4-3]', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    assert.equal(index.subscribe('c', 'a/b', qos1), true);
    assert.equal(index.subscribe('c', 'a/b', { ...qos1, qos: 2 }), false);
    assert.equal(index.subscribe('d', 'a/b', qos1), true);
    assert.equal(index.subscribe('d', 'a/b', { ...qos1, qos: 0 }), false);
    assert.equal(index.subscriptionCount, 2);
    const granted = new Map<string, number>();
    index.match('a/b', (clientId, options) => granted.set(clientId, options.qos), () => undefined);
    assert.deepEqual([...granted].sort(), [
      ['c', 2],
      ['d', 0],
    ]);
  });

  test('stored options are a frozen copy, independent of the caller object', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    const mine = { ...qos1, extra: 'not kept' };
    index.subscribe('c', 'x', mine);
    mine.qos = 2;
    index.match(
      'x',
      (_clientId, options) => {
        assert.equal(options.qos, 1);
        assert.equal(Object.isFrozen(options), true);
        assert.equal('extra' in options, false);
      },
      () => undefined,
    );
  });

  test('hasMatch', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    assert.equal(index.hasMatch('a'), false);
    index.subscribe('c', 'a/+/c', qos1);
    assert.equal(index.hasMatch('a/b/c'), true);
    assert.equal(index.hasMatch('a/b'), false);
    index.subscribe('d', '$share/g/x', qos1);
    assert.equal(index.hasMatch('x'), true);
    index.unsubscribe('d', '$share/g/x');
    assert.equal(index.hasMatch('x'), false);
  });

  test('invalid filters are refused', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    assert.throws(() => index.subscribe('c', 'a/#/b', qos1), RangeError);
    assert.throws(() => index.subscribe('c', '$share/g', qos1), RangeError);
    assert.equal(index.unsubscribe('c', 'a+'), false);
    assert.equal(index.subscriptionCount, 0);
  });
});

describe('SubscriptionIndex shared subscriptions', () => {
  test('one onGroup per matching group, distinct per (group, filter)', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('a', '$share/g/s/+', qos1);
    index.subscribe('b', '$share/g/s/+', qos1);
    index.subscribe('c', '$share/g/s/#', qos1);
    index.subscribe('d', '$share/h/s/+', qos1);
    index.subscribe('e', 's/+', qos1);
    assert.deepEqual(collect(index, 's/1'), ['client e s/+', 'group g s/#', 'group g s/+', 'group h s/+']);
    const group = index.getSharedGroup('g', 's/+');
    assert.ok(group);
    assert.deepEqual([...group.members.keys()], ['a', 'b']);
    assert.equal(index.subscriptionCount, 5);
  });

  test('a client can be a member and a plain subscriber of the same filter', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    assert.equal(index.subscribe('a', '$share/g/t', qos1), true);
    assert.equal(index.subscribe('a', 't', qos1), true);
    assert.equal(index.subscribe('a', '$share/g/t', { ...qos1, qos: 2 }), false);
    assert.deepEqual(collect(index, 't'), ['client a t', 'group g t']);
    assert.equal(index.getSharedGroup('g', 't')?.members.get('a')?.qos, 2);
    assert.equal(index.unsubscribe('a', 't'), true);
    assert.deepEqual(collect(index, 't'), ['group g t']);
    assert.equal(index.unsubscribe('a', '$share/g/t'), true);
    assert.equal(index.getSharedGroup('g', 't'), undefined);
    assert.equal(index.filterCount, 0);
  });

  test('groups use the index strategy', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'hash-topic' });
    index.subscribe('a', '$share/g/t/+', qos1);
    index.subscribe('b', '$share/g/t/+', qos1);
    let group: SharedGroup | undefined;
    index.match('t/1', () => undefined, (found) => (group = found));
    assert.equal(group?.strategy, 'hash-topic');
  });
});

describe('SubscriptionIndex cleanup', () => {
  test('unsubscribing everything prunes the trie and the exact map', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    const filters = ['a/b', 'a/+', 'a/#', '#', '+', '+/+/c', 'a/b/c/d/+', '$share/g/a/+', '$share/h/x/#', '/', '//+'];
    for (const clientId of ['one', 'two']) for (const filter of filters) index.subscribe(clientId, filter, qos1);
    assert.equal(index.subscriptionCount, filters.length * 2);
    assert.ok(index.trieNodeCount > 0);
    assert.equal(index.unsubscribe('one', 'no/such'), false);
    assert.equal(index.unsubscribe('three', 'a/b'), false);
    assert.equal(index.unsubscribe('three', '$share/g/a/+'), false);
    for (const clientId of ['one', 'two']) for (const filter of filters) assert.equal(index.unsubscribe(clientId, filter), true);
    assert.equal(index.subscriptionCount, 0);
    assert.equal(index.filterCount, 0);
    assert.equal(index.trieNodeCount, 0);
    assert.deepEqual(collect(index, 'a/b'), []);
  });

  test('partial unsubscribe keeps sibling branches intact', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('c', 'a/+/x', qos1);
    index.subscribe('c', 'a/+/y', qos1);
    index.subscribe('c', 'a/+', qos1);
    index.unsubscribe('c', 'a/+/x');
    assert.deepEqual(clientsMatching(index, 'a/1/y'), ['client c a/+/y']);
    assert.deepEqual(clientsMatching(index, 'a/1'), ['client c a/+']);
    index.unsubscribe('c', 'a/+');
    assert.deepEqual(clientsMatching(index, 'a/1/y'), ['client c a/+/y']);
    assert.equal(index.trieNodeCount, 3);
  });

  test('a node going from one literal child to several and back keeps every branch', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    index.subscribe('c', 'a/x/+', qos1);
    assert.deepEqual(clientsMatching(index, 'a/x/1'), ['client c a/x/+']);
    index.subscribe('c', 'a/y/+', qos1);
    index.subscribe('c', 'a/z/+', qos1);
    assert.deepEqual(clientsMatching(index, 'a/z/1'), ['client c a/z/+']);
    index.unsubscribe('c', 'a/x/+');
    index.unsubscribe('c', 'a/z/+');
    assert.deepEqual(clientsMatching(index, 'a/y/1'), ['client c a/y/+']);
    assert.deepEqual(clientsMatching(index, 'a/x/1'), []);
    index.subscribe('c', 'a/w/+', qos1);
    assert.deepEqual(clientsMatching(index, 'a/w/1'), ['client c a/w/+']);
    assert.deepEqual(clientsMatching(index, 'a/y/1'), ['client c a/y/+']);
    assert.equal(index.hasMatch('a/x/1'), false);
    index.unsubscribe('c', 'a/y/+');
    index.unsubscribe('c', 'a/w/+');
    assert.equal(index.trieNodeCount, 0);
  });

  test('callbacks that unsubscribe during a match do no harm', () => {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    const filters = ['x/+', 'x/#', 'x/y', '+/y', '$share/g/x/+'];
    for (const clientId of ['a', 'b', 'c']) for (const filter of filters) index.subscribe(clientId, filter, qos1);
    const removeEverything = (): void => {
      for (const clientId of ['a', 'b', 'c']) for (const filter of filters) index.unsubscribe(clientId, filter);
    };
    let calls = 0;
    index.match(
      'x/y',
      () => {
        calls++;
        removeEverything();
      },
      () => {
        calls++;
        removeEverything();
      },
    );
    assert.ok(calls >= 1);
    assert.equal(index.subscriptionCount, 0);
    assert.equal(index.trieNodeCount, 0);
    assert.deepEqual(collect(index, 'x/y'), []);
  });

  test('heap returns after unsubscribing everything', () => {
    setFlagsFromString('--expose-gc');
    const collectGarbage = runInNewContext('gc') as () => void;
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    const count = 50_000;
    const clientIds = Array.from({ length: count }, (_, position) => `client-${position}`);
    const filters = clientIds.map((clientId, position) =>
      position % 3 === 0 ? `devices/${clientId}/cmd` : position % 3 === 1 ? `devices/${clientId}/+` : `devices/${clientId}/#`,
    );
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    for (let position = 0; position < count; position++) index.subscribe(clientIds[position]!, filters[position]!, qos1);
    collectGarbage();
    const full = process.memoryUsage().heapUsed;
    for (let position = 0; position < count; position++) index.unsubscribe(clientIds[position]!, filters[position]!);
    collectGarbage();
    const after = process.memoryUsage().heapUsed;
    const grown = full - before;
    assert.ok(grown > 2_000_000, `subscriptions should take measurable memory (grew ${grown})`);
    assert.ok(after - before < grown / 10, `heap should return: before ${before}, full ${full}, after ${after}`);
  });
});

describe('SubscriptionIndex against a reference matcher (property-based)', () => {
  const level = fc.constantFrom('a', 'b', 'c', '', '$s', 'é');
  // Topics and filters are never empty [MQTT-4.7.3-1], hence the filters on the joined strings.
  const topicArbitrary = fc
    .array(level, { minLength: 1, maxLength: 5 })
    .map((levels) => levels.join('/'))
    .filter((topic) => topic.length > 0);
  const filterArbitrary = fc
    .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 5 }), fc.boolean())
    .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
    .filter((filter) => filter.length > 0);
  const subscriptionArbitrary = fc.record({
    clientId: fc.constantFrom('c1', 'c2', 'c3', 'c4'),
    filter: filterArbitrary,
    group: fc.option(fc.constantFrom('g1', 'g2'), { nil: undefined }),
  });

  test('match and hasMatch agree with the reference for random subscriptions and topics', () => {
    fc.assert(
      fc.property(
        fc.array(subscriptionArbitrary, { maxLength: 40 }),
        fc.array(fc.nat(), { maxLength: 20 }),
        fc.array(topicArbitrary, { minLength: 1, maxLength: 10 }),
        (subscriptions, removals, topics) => {
          const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
          const model = new Map<string, { clientId: string; filter: string; group: string | undefined }>();
          const keyOf = (entry: { clientId: string; filter: string; group: string | undefined }): string =>
            entry.group === undefined ? `${entry.clientId} ${entry.filter}` : `${entry.clientId} $share/${entry.group}/${entry.filter}`;
          for (const subscription of subscriptions) {
            const fullFilter =
              subscription.group === undefined ? subscription.filter : `$share/${subscription.group}/${subscription.filter}`;
            const isNew = !model.has(keyOf(subscription));
            assert.equal(index.subscribe(subscription.clientId, fullFilter, qos1), isNew);
            model.set(keyOf(subscription), subscription);
          }
          for (const removal of removals) {
            if (subscriptions.length === 0) break;
            const victim = subscriptions[removal % subscriptions.length]!;
            const fullFilter = victim.group === undefined ? victim.filter : `$share/${victim.group}/${victim.filter}`;
            assert.equal(index.unsubscribe(victim.clientId, fullFilter), model.delete(keyOf(victim)));
          }
          assert.equal(index.subscriptionCount, model.size);
          for (const topic of topics) {
            const expected = new Set<string>();
            for (const entry of model.values()) {
              if (!referenceMatches(entry.filter, topic)) continue;
              expected.add(entry.group === undefined ? `client ${entry.clientId} ${entry.filter}` : `group ${entry.group} ${entry.filter}`);
            }
            const actual = collect(index, topic);
            assert.equal(new Set(actual).size, actual.length, 'no duplicate callbacks');
            assert.deepEqual(actual, [...expected].sort());
            assert.equal(index.hasMatch(topic), expected.size > 0);
          }
          for (const entry of model.values()) {
            index.unsubscribe(entry.clientId, entry.group === undefined ? entry.filter : `$share/${entry.group}/${entry.filter}`);
          }
          assert.equal(index.subscriptionCount, 0);
          assert.equal(index.trieNodeCount, 0);
          assert.equal(index.filterCount, 0);
        },
      ),
      { numRuns: 300 },
    );
  });
});
