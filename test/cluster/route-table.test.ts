import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ObservedSubscriptionIndex } from '../../src/cluster/observed-index.js';
import { RouteTable } from '../../src/cluster/route-table.js';
import type { SubscriberOptions } from '../../src/topics/subscription-index.js';

const qos0: SubscriberOptions = { qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 };

function sorted(values: number[]): number[] {
  return [...values].sort((left, right) => left - right);
}

describe('route table', () => {
  test('a topic goes only to the workers with a matching filter, each once, never to itself', () => {
    const table = new RouteTable(0, 'round-robin');
    table.add(0, 'a/b');
    table.add(1, 'a/+');
    table.add(1, 'a/#');
    table.add(2, 'x/y');
    table.add(3, '#');
    assert.deepEqual(sorted(table.match('a/b').workers), [1, 3]);
    assert.deepEqual(sorted(table.match('x/y').workers), [2, 3]);
    assert.deepEqual(sorted(table.match('q').workers), [3]);
    // [MQTT-4.7.2-1] '#' does not match a topic starting with '$'
    assert.deepEqual(table.match('$SYS/x').workers, []);
  });

  test('removing a route, or all of a worker, stops forwarding there', () => {
    const table = new RouteTable(0, 'round-robin');
    table.add(1, 'a/+');
    table.add(2, 'a/+');
    table.add(2, 'b');
    table.remove(1, 'a/+');
    assert.deepEqual(table.match('a/z').workers, [2]);
    table.removeWorker(2);
    assert.deepEqual(table.match('a/z').workers, []);
    assert.deepEqual(table.match('b').workers, []);
    assert.equal(table.size, 0);
  });

  test('adding a route twice and removing an unknown one are harmless', () => {
    const table = new RouteTable(0, 'round-robin');
    table.add(1, 'a');
    table.add(1, 'a');
    table.remove(1, 'a');
    table.remove(1, 'a');
    table.remove(5, 'zzz');
    assert.deepEqual(table.match('a').workers, []);
  });

  test('shared groups come back cluster-wide with workers as members, this worker included', () => {
    const table = new RouteTable(0, 'round-robin');
    table.add(0, '$share/g/jobs/+');
    table.add(2, '$share/g/jobs/+');
    table.add(2, '$share/h/jobs/#');
    const { workers, groups } = table.match('jobs/1');
    assert.deepEqual(workers, []);
    const byName = new Map(groups.map((group) => [group.name, [...group.members.keys()].sort()]));
    assert.deepEqual(byName.get('g'), ['0', '2']);
    assert.deepEqual(byName.get('h'), ['2']);
    // Round robin at worker granularity alternates between the workers of the group.
    const group = table.group('g', 'jobs/+')!;
    const picks = [1, 2, 3, 4].map(() => group.pick(undefined, 'jobs/1', () => true));
    assert.deepEqual(picks, ['0', '2', '0', '2']);
  });
});

describe('observed subscription index', () => {
  test('announces a filter on its first local subscriber and withdraws it with the last', () => {
    const changes: string[] = [];
    const index = new ObservedSubscriptionIndex({ sharedStrategy: 'round-robin' }, (filter, present) => changes.push(`${present ? '+' : '-'}${filter}`));
    index.subscribe('c1', 'a/#', qos0);
    index.subscribe('c2', 'a/#', qos0);
    index.subscribe('c1', 'a/#', { ...qos0, qos: 1 }); // a replacement, not a new subscriber
    index.subscribe('c1', '$share/g/a', qos0);
    index.unsubscribe('c1', 'a/#');
    index.unsubscribe('c3', 'a/#'); // never subscribed
    assert.deepEqual([...index.filters()].sort(), ['$share/g/a', 'a/#']);
    index.unsubscribe('c2', 'a/#');
    index.unsubscribe('c1', '$share/g/a');
    assert.deepEqual(changes, ['+a/#', '+$share/g/a', '-a/#', '-$share/g/a']);
    assert.deepEqual([...index.filters()], []);
    // Still a working index underneath.
    index.subscribe('c9', 'x', qos0);
    assert.equal(index.hasMatch('x'), true);
  });
});
