import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AccessControl, aclAuthorizer, parseAclFile, type AclDecision } from '../../src/auth/acl-file.js';
import {
  filterMatchesTopic,
  patternCoversFilter,
  patternOverlapsFilter,
  underlyingFilter,
} from '../../src/auth/topic-match.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import type { QoS } from '../../src/protocol/packets.js';
import { makeClient, makePublish, makeSubscription } from './helpers.js';

describe('topic matching for rules', () => {
  test('filterMatchesTopic', () => {
    const cases: Array<[string, string, boolean]> = [
      ['a/b', 'a/b', true],
      ['a/+', 'a/b', true],
      ['a/+', 'a/b/c', false],
      ['a/#', 'a', true],
      ['a/#', 'a/b/c', true],
      ['#', '$SYS/x', false],
      ['+/x', '$SYS/x', false],
      ['$SYS/#', '$SYS/broker/uptime', true],
      ['+/+', 'a', false],
      ['a/b', 'a/b/', false],
    ];
    for (const [filter, topic, expected] of cases) assert.equal(filterMatchesTopic(filter, topic), expected, `${filter} ~ ${topic}`);
  });

  test('patternCoversFilter and patternOverlapsFilter', () => {
    const covers: Array<[string, string, boolean]> = [
      ['a/#', 'a/+/c', true],
      ['a/+/c', 'a/#', false],
      ['#', '#', true],
      ['a/+', 'a/b', true],
      ['a/b', 'a/+', false],
      ['#', '$SYS/#', false],
      ['$SYS/#', '$SYS/broker/+', true],
    ];
    for (const [pattern, filter, expected] of covers) assert.equal(patternCoversFilter(pattern, filter), expected, `${pattern} covers ${filter}`);
    const overlaps: Array<[string, string, boolean]> = [
      ['secret/#', '#', true],
      ['secret/#', 'public/#', false],
      ['a/+/c', 'a/b/+', true],
      ['a/b', 'a/b/c', false],
      ['a/#', 'a', true],
      ['$SYS/#', '#', false],
    ];
    for (const [pattern, filter, expected] of overlaps) assert.equal(patternOverlapsFilter(pattern, filter), expected, `${pattern} overlaps ${filter}`);
  });

  test('shared subscriptions reduce to their filter', () => {
    assert.equal(underlyingFilter('$share/group/a/b/#'), 'a/b/#');
    assert.equal(underlyingFilter('a/b'), 'a/b');
  });
});

const rulesText = `
# first match wins
deny   user:mallory                    both       #
allow  user:alice                      both       home/alice/#
allow  all                             both       users/%u/#
allow  all                             publish    devices/%c/status   maxqos=1 retain=false
allow  client:probe-1                  subscribe  devices/+/status
allow  address:10.0.0.0/8              subscribe  $SYS/#
allow  address:2001:db8::/32           subscribe  $SYS/broker/#
allow  user:ops,address:192.168.1.5    subscribe  $SYS/#
deny   all                             subscribe  secret/#
allow  all                             subscribe  public/#
allow  anonymous                       publish    guests/#
`;

describe('ACL file', () => {
  const rules = parseAclFile(rulesText);

  function check(defaultDecision: AclDecision) {
    const control = new AccessControl(rules, { defaultDecision, protectSysReads: true });
    const hooks = aclAuthorizer(control);
    return {
      publish: (client: ClientInfo, topic: string, qos: QoS = 0, retain = false) => hooks.authorizePublish?.(client, makePublish(topic, qos, retain)),
      subscribe: (client: ClientInfo, filter: string, qos: QoS = 0) => hooks.authorizeSubscribe?.(client, makeSubscription(filter, qos)),
      control,
    };
  }

  test('decision table', () => {
    const { publish, subscribe } = check('deny');
    const alice = makeClient({ username: 'alice', clientId: 'a-1' });
    const bob = makeClient({ username: 'bob', clientId: 'bob-phone' });
    const mallory = makeClient({ username: 'mallory' });
    const anonymous = makeClient({ clientId: 'guest-1' });
    const slashUser = makeClient({ username: 'bob/../alice' });
    const wildcardUser = makeClient({ username: '#' });
    const cases: Array<[string, unknown, AclDecision]> = [
      ['alice publishes her home', publish(alice, 'home/alice/lights'), 'allow'],
      ['alice subscribes her home with +', subscribe(alice, 'home/alice/+/temp'), 'allow'],
      ['bob cannot touch alice home', publish(bob, 'home/alice/lights'), 'deny'],
      ['%u expands to the user name', publish(bob, 'users/bob/inbox'), 'allow'],
      ['%u does not reach other users', subscribe(bob, 'users/alice/#'), 'deny'],
      ['%u needs a user name', publish(anonymous, 'users//x'), 'deny'],
      ['a user name with / is not substituted', publish(slashUser, 'users/bob/../alice/x'), 'deny'],
      ['a user name that is a wildcard is not substituted', subscribe(wildcardUser, 'users/#'), 'deny'],
      ['%c expands to the client id', publish(bob, 'devices/bob-phone/status', 1), 'allow'],
      ['maxqos limits the publish QoS', publish(bob, 'devices/bob-phone/status', 2), 'deny'],
      ['retain=false refuses retained publishes', publish(bob, 'devices/bob-phone/status', 0, true), 'deny'],
      ['client id rule', subscribe(makeClient({ clientId: 'probe-1' }), 'devices/+/status'), 'allow'],
      ['client id rule does not cover a wider filter', subscribe(makeClient({ clientId: 'probe-1' }), 'devices/#'), 'deny'],
      ['first match wins: mallory is denied even her own users/ tree', publish(mallory, 'users/mallory/x'), 'deny'],
      ['deny overlapping a wildcard subscription', subscribe(bob, '#'), 'deny'],
      ['public subscribe allowed', subscribe(bob, 'public/news/#'), 'allow'],
      ['secret subscribe denied', subscribe(bob, 'secret/plans'), 'deny'],
      ['shared subscription authorized on the underlying filter', subscribe(bob, '$share/workers/public/jobs'), 'allow'],
      ['shared subscription to a denied filter', subscribe(bob, '$share/workers/secret/x'), 'deny'],
      ['anonymous rule', publish(anonymous, 'guests/hello'), 'allow'],
      ['anonymous rule does not apply to users', publish(bob, 'guests/hello'), 'deny'],
      ['$SYS from an allowed IPv4 network', subscribe(makeClient({ remoteAddress: '10.20.30.40' }), '$SYS/#'), 'allow'],
      ['$SYS via an IPv4-mapped IPv6 address', subscribe(makeClient({ remoteAddress: '::ffff:10.1.1.1' }), '$SYS/broker/load'), 'allow'],
      ['$SYS from outside the network', subscribe(makeClient({ remoteAddress: '11.0.0.1' }), '$SYS/#'), 'deny'],
      ['IPv6 CIDR narrower pattern', subscribe(makeClient({ remoteAddress: '2001:db8:1::5' }), '$SYS/broker/clients'), 'allow'],
      ['IPv6 CIDR does not cover all of $SYS', subscribe(makeClient({ remoteAddress: '2001:db8:1::5' }), '$SYS/#'), 'deny'],
      ['combined user and address: both match', subscribe(makeClient({ username: 'ops', remoteAddress: '192.168.1.5' }), '$SYS/#'), 'allow'],
      ['combined user and address: wrong address', subscribe(makeClient({ username: 'ops', remoteAddress: '192.168.1.6' }), '$SYS/#'), 'deny'],
      ['publishing to $SYS is denied', publish(makeClient({ remoteAddress: '10.0.0.1' }), '$SYS/broker/uptime'), 'deny'],
      ['no rule: default deny', publish(bob, 'elsewhere'), 'deny'],
    ];
    for (const [name, actual, expected] of cases) assert.equal(actual, expected, name);
  });

  test('default allow still protects $SYS reads and $SYS writes', () => {
    const { publish, subscribe } = check('allow');
    const bob = makeClient({ username: 'bob' });
    assert.equal(publish(bob, 'elsewhere'), 'allow');
    assert.equal(subscribe(bob, '$SYS/#'), 'deny');
    assert.equal(publish(bob, '$SYS/fake'), 'deny');
    assert.equal(subscribe(bob, '#'), 'deny', 'the secret/# deny rule overlaps #');
    assert.equal(subscribe(bob, 'other/#'), 'allow');
  });

  test('without an ACL file $SYS reads follow the default', () => {
    const control = new AccessControl([], { defaultDecision: 'allow', protectSysReads: false });
    assert.equal(control.checkSubscribe(makeClient(), '$SYS/#', 0), 'allow');
    assert.equal(control.checkPublish(makeClient(), '$SYS/x', 0, false), 'deny');
  });

  test('replacing rules invalidates cached decisions', () => {
    const control = new AccessControl(parseAclFile('allow all both a/#'), { defaultDecision: 'deny', protectSysReads: true });
    const client = makeClient();
    assert.equal(control.checkPublish(client, 'a/1', 0, false), 'allow');
    assert.equal(control.checkPublish(client, 'a/1', 0, false), 'allow');
    control.replaceRules(parseAclFile('deny all both a/#'));
    assert.equal(control.checkPublish(client, 'a/1', 0, false), 'deny');
    client.username = 'changed';
    control.replaceRules(parseAclFile('allow user:changed both a/#'));
    assert.equal(control.checkPublish(client, 'a/1', 0, false), 'allow');
  });

  test('parse errors name the line', () => {
    assert.throws(() => parseAclFile('allow all both'), /line 1/);
    assert.throws(() => parseAclFile('\npermit all both a'), /line 2/);
    assert.throws(() => parseAclFile('allow who:x both a'), /unknown subject/);
    assert.throws(() => parseAclFile('allow all everything a'), /unknown access/);
    assert.throws(() => parseAclFile('allow all both a/#/b'), /invalid topic pattern/);
    assert.throws(() => parseAclFile('allow address:10.0.0.0/33 both a'), /prefix/);
    assert.throws(() => parseAclFile('allow address:not-an-ip both a'), /not an IP/);
    assert.throws(() => parseAclFile('allow all both a maxqos=3'), /unknown option/);
  });

  test('decisions stay right past the per-client cache bound', () => {
    // The cache is cleared when full: answers must not change across that boundary.
    const control = new AccessControl(rules, { defaultDecision: 'deny', protectSysReads: true });
    const client = makeClient({ username: 'bob', clientId: 'bob-phone' });
    for (let round = 0; round < 2; round++) {
      for (let index = 0; index < 5000; index++) {
        assert.equal(control.checkPublish(client, `users/bob/inbox/${index}`, 0, false), 'allow');
        assert.equal(control.checkPublish(client, `users/alice/inbox/${index}`, 0, false), 'deny');
      }
    }
  });
});
