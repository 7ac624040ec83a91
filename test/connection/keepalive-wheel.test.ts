import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { currentSlot, KeepaliveWheel, SLOT_MS, type KeepaliveSubject } from '../../src/connection/keepalive-wheel.js';

function subject(limitMs: number): KeepaliveSubject & { expiredAt: number | undefined } {
  return {
    keepaliveLimitMs: limitMs,
    heardAt: 0,
    keepaliveSlot: -1,
    expiredAt: undefined,
    onKeepaliveExpired() {
      this.expiredAt = Date.now();
    },
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('KeepaliveWheel', () => {
  test('a silent subject expires after its limit, not before, and at most two slots late', async () => {
    const wheel = new KeepaliveWheel();
    const silent = subject(300);
    const startedAt = Date.now();
    wheel.watch(silent);
    while (silent.expiredAt === undefined && Date.now() - startedAt < 3000) await sleep(20);
    assert.ok(silent.expiredAt !== undefined, 'never expired');
    const waited = silent.expiredAt - startedAt;
    assert.ok(waited >= 300, `expired after ${waited} ms, before its 300 ms limit`);
    assert.ok(waited <= 300 + 2 * SLOT_MS + 400, `expired ${waited} ms after the start: too late`); // 400 ms of slack for a loaded machine
    assert.equal(silent.keepaliveSlot, -1);
  });

  test('activity postpones the deadline; the wheel stops its timer once nothing is watched', async () => {
    const wheel = new KeepaliveWheel();
    const active = subject(300);
    wheel.watch(active);
    const until = Date.now() + 1000;
    while (Date.now() < until) {
      active.heardAt = currentSlot();
      await sleep(50);
    }
    assert.equal(active.expiredAt, undefined, 'expired although it was active');
    const quietSince = Date.now();
    while (active.expiredAt === undefined && Date.now() - quietSince < 3000) await sleep(20);
    assert.ok(active.expiredAt !== undefined && active.expiredAt - quietSince >= 300 - 60, 'did not expire once quiet');
    assert.equal(wheel.pendingSlots, 0);
  });

  test('an unwatched subject never expires, and watching again restarts its deadline', async () => {
    const wheel = new KeepaliveWheel();
    const closed = subject(200);
    wheel.watch(closed);
    wheel.unwatch(closed);
    await sleep(200 + 3 * SLOT_MS);
    assert.equal(closed.expiredAt, undefined);
    assert.equal(wheel.pendingSlots, 0);

    const rewatched = subject(200);
    wheel.watch(rewatched);
    await sleep(100);
    wheel.watch(rewatched); // a second watch (new CONNECT on the subject) supersedes the first filing
    const restartedAt = Date.now();
    while (rewatched.expiredAt === undefined && Date.now() - restartedAt < 3000) await sleep(20);
    assert.ok(rewatched.expiredAt !== undefined && rewatched.expiredAt - restartedAt >= 200, 'the first filing expired it early');
  });
});
