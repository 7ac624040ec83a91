// The generator against Aedes (in this process, on a loopback port).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startAedes, type InProcessAedes } from './in-process-aedes.js';
import { runConn } from '../../src/bench/conn.js';
import { runFanin, runFanout } from '../../src/bench/scenarios.js';

describe('bench scenarios against aedes', () => {
  let aedes: InProcessAedes;
  let port = 0;
  before(async () => {
    aedes = await startAedes();
    port = aedes.port;
  });
  after(() => aedes.close());

  test('fanin QoS 1, 4 -> 1 at a fixed rate: nothing lost or reordered', async () => {
    const summary = await runFanin({ port, qos: 1, publishers: 4, rate: 4000, durationSeconds: 1, inflight: 1000 });
    // Never above the rate; below it only if this (shared, loaded) machine starves the in-process broker.
    assert.ok(summary.messages.sent > 400 && summary.messages.sent <= 4400, `sent ${summary.messages.sent}`);
    assert.equal(summary.messages.acknowledged, summary.messages.sent);
    assert.equal(summary.messages.delivered, summary.messages.sent);
    assert.equal(summary.messages.lost, 0);
    assert.equal(summary.messages.outOfOrder, 0);
    assert.equal(summary.errors.total, 0);
  });

  test('fanout QoS 0, 1 -> 10 flat out: every subscriber gets every message', async () => {
    const summary = await runFanout({ port, qos: 0, subscribers: 10, durationSeconds: 0.5, drainSeconds: 10 });
    assert.ok(summary.messages.sent > 0);
    assert.equal(summary.messages.delivered, summary.messages.sent * 10);
    assert.equal(summary.messages.lost, 0);
    assert.equal(summary.messages.outOfOrder, 0);
  });

  test('conn: 200 idle connections', async () => {
    const summary = await runConn({ port, clients: 200, rate: 0, holdSeconds: 0.2 });
    assert.equal(summary.connections.connected, 200);
    assert.equal(summary.connections.openAfterHold, 200);
  });
});
