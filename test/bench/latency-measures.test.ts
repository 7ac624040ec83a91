// What a latency run reports besides the stamped-send-time histogram: latency from the
// fixed-rate schedule (coordinated omission), the generator's event-loop stalls, and how long
// the generator and broker waited for a CPU.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { startAedes, type InProcessAedes } from './in-process-aedes.js';
import { readScheduler, runQueueWait } from '../../src/bench/run-queue.js';
import { runLatency, runP2p } from '../../src/bench/scenarios.js';

describe('run-queue wait', () => {
  test('sums the wait of the processes sampled twice and skips missing samples', () => {
    const before = [{ runNs: 0, waitNs: 1e6, slices: 1 }, null, { runNs: 0, waitNs: 0, slices: 1 }];
    const after = [{ runNs: 5e8, waitNs: 21e6, slices: 9 }, { runNs: 1, waitNs: 1, slices: 1 }, { runNs: 5e8, waitNs: 40e6, slices: 9 }];
    // 20 ms + 40 ms over 2 processes for 2 s each.
    assert.deepEqual(runQueueWait(before, after, 2), { waitMs: 60, waitPercent: 1.5 });
    assert.equal(runQueueWait([null], [null], 2), null);
    assert.equal(runQueueWait([], [], 2), null);
  });

  test('reads this process from /proc where the kernel has schedstat', async (context) => {
    if (!existsSync(`/proc/${process.pid}/schedstat`)) {
      context.skip('no /proc/<pid>/schedstat on this system');
      return;
    }
    const first = await readScheduler(process.pid);
    const busyUntil = performance.now() + 20;
    while (performance.now() < busyUntil);
    const second = await readScheduler(process.pid);
    assert.ok(first !== null && second !== null);
    assert.ok(second.runNs - first.runNs >= 10e6, `ran ${second.runNs - first.runNs} ns`);
    assert.ok(second.slices >= first.slices && second.waitNs >= first.waitNs);
    assert.equal(await readScheduler(2 ** 22 + 7), null, 'a process that does not exist');
  });
});

describe('latency from the schedule', () => {
  let aedes: InProcessAedes;
  let port = 0;
  before(async () => {
    aedes = await startAedes();
    port = aedes.port;
  });
  after(() => aedes.close());

  test('a 150 ms generator stall counts against the messages it delayed', async () => {
    // Block this process (generator and broker alike) for 150 ms in the middle of a 1 s run at
    // 2,000 msg/s: the ~300 messages due meanwhile go out late, stamped with the late time.
    const stall = setTimeout(() => {
      const until = performance.now() + 150;
      while (performance.now() < until);
    }, 400);
    const summary = await runLatency({ port, rate: 2000, durationSeconds: 1 });
    clearTimeout(stall);
    const scheduled = summary.latencyFromSchedule;
    assert.ok(scheduled !== null, 'a paced run reports latency from the schedule');
    assert.equal(scheduled.count, summary.latency.count);
    assert.equal(summary.messages.lost, 0);
    // About 15% of the messages were due during the stall, late by 75 ms on average: that adds
    // about 11 ms to the mean from the schedule, and nothing to the mean from the stamped time.
    assert.ok(scheduled.maxMs >= 140, `scheduled max ${scheduled.maxMs} ms`);
    assert.ok(scheduled.meanMs - summary.latency.meanMs >= 5, `means ${scheduled.meanMs} vs ${summary.latency.meanMs} ms`);
    assert.ok(scheduled.p50Ms >= summary.latency.p50Ms, 'never earlier than the stamped send time');
    assert.ok(summary.generator.eventLoopStallMs.max >= 140, `stall max ${summary.generator.eventLoopStallMs.max} ms`);
  });

  test('messages due during the warm-up are delivered and counted, not timed', async () => {
    const summary = await runLatency({ port, rate: 2000, durationSeconds: 0.5, warmupSeconds: 0.5 });
    assert.equal(summary.settings.warmupSeconds, 0.5);
    assert.equal(summary.messages.lost, 0);
    assert.ok(summary.messages.delivered >= 1500, `delivered ${summary.messages.delivered}`);
    // About half the messages were due in the warm-up.
    const timed = summary.latency.count;
    assert.ok(timed > 0.3 * summary.messages.delivered && timed < 0.7 * summary.messages.delivered, `timed ${timed} of ${summary.messages.delivered}`);
    assert.equal(summary.latencyFromSchedule?.count, timed);
  });

  test('an unpaced run has no schedule to measure from', async () => {
    const flood = await runP2p({ port, pairs: 1, durationSeconds: 0.2 });
    assert.ok(flood.messages.delivered > 0);
    assert.equal(flood.latencyFromSchedule, null);
  });
});
