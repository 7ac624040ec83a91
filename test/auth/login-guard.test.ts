import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LoginGuard } from '../../src/auth/login-guard.js';
import { LruCache } from '../../src/auth/lru-cache.js';

test('growing delay after the limit, then a ban that expires', () => {
  let now = 1_000_000;
  const guard = new LoginGuard({ failedLoginLimit: 3, banSeconds: 60, now: () => now });
  const address = '192.0.2.1';
  for (let attempt = 0; attempt < 3; attempt++) {
    assert.deepEqual(guard.check(address), { allowed: true, delayMs: 0 });
    guard.recordFailure(address);
  }
  assert.deepEqual(guard.check(address), { allowed: true, delayMs: 250 });
  guard.recordFailure(address);
  assert.deepEqual(guard.check(address), { allowed: true, delayMs: 500 });
  guard.recordFailure(address);
  assert.deepEqual(guard.check(address), { allowed: true, delayMs: 1000 });
  guard.recordFailure(address);
  assert.deepEqual(guard.check(address), { allowed: false, delayMs: 0 });
  assert.deepEqual(guard.check('192.0.2.2'), { allowed: true, delayMs: 0 }, 'other addresses are unaffected');
  guard.recordSuccess(address);
  assert.equal(guard.check(address).allowed, false, 'a success does not lift a ban');
  now += 60_000;
  assert.deepEqual(guard.check(address), { allowed: true, delayMs: 0 });
});

test('success clears failures; IPv4-mapped addresses count as IPv4; idle entries expire', () => {
  let now = 0;
  const guard = new LoginGuard({ failedLoginLimit: 1, banSeconds: 10, now: () => now });
  guard.recordFailure('::ffff:198.51.100.7');
  assert.equal(guard.check('198.51.100.7').delayMs, 250);
  guard.recordSuccess('198.51.100.7');
  assert.equal(guard.check('198.51.100.7').delayMs, 0);
  guard.recordFailure('198.51.100.8');
  now += 10_000;
  assert.equal(guard.check('198.51.100.8').delayMs, 0);
  assert.equal(guard.trackedAddresses, 0);
});

test('memory is bounded by maxTrackedAddresses', () => {
  const guard = new LoginGuard({ failedLoginLimit: 5, banSeconds: 60, maxTrackedAddresses: 100 });
  for (let index = 0; index < 10_000; index++) guard.recordFailure(`10.0.${index >> 8}.${index & 255}`);
  assert.equal(guard.trackedAddresses, 100);
});

test('LRU cache honours TTL and capacity', () => {
  let now = 0;
  const cache = new LruCache<string>(2, 100, () => now);
  cache.set('a', '1');
  cache.set('b', '2');
  assert.equal(cache.get('a'), '1');
  cache.set('c', '3');
  assert.equal(cache.get('b'), undefined, 'least recently used was evicted');
  assert.equal(cache.get('a'), '1');
  now += 100;
  assert.equal(cache.get('a'), undefined, 'expired');
});
