import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { AcknowledgementBatcher, Confirmations } from '../../src/cluster/confirmations.js';

function send(confirmations: Confirmations, peer: number): number {
  const sequence = confirmations.next(peer);
  confirmations.record(peer, sequence);
  return sequence;
}

describe('confirmations', () => {
  test('with nothing sent, a waiter is called at once (synchronously)', () => {
    const confirmations = new Confirmations();
    let called = false;
    confirmations.whenConfirmed(() => (called = true));
    assert.equal(called, true);
    assert.equal(confirmations.pending, false);
  });

  test('a waiter waits for every peer to acknowledge what was sent before it, not after', () => {
    const confirmations = new Confirmations();
    send(confirmations, 1);
    send(confirmations, 1);
    send(confirmations, 2);
    const calls: string[] = [];
    confirmations.whenConfirmed((error) => calls.push(`first ${error?.message ?? 'ok'}`));
    send(confirmations, 1); // after the waiter: not needed by it
    confirmations.acknowledge(1, 1);
    confirmations.acknowledge(2, 1);
    assert.deepEqual(calls, []);
    confirmations.acknowledge(1, 2);
    assert.deepEqual(calls, ['first ok']);
    assert.equal(confirmations.pending, true);
    confirmations.acknowledge(1, 3);
    assert.equal(confirmations.pending, false);
  });

  test('a stale acknowledgement changes nothing', () => {
    const confirmations = new Confirmations();
    send(confirmations, 1);
    send(confirmations, 1);
    confirmations.acknowledge(1, 2);
    confirmations.acknowledge(1, 1);
    assert.equal(confirmations.pending, false);
  });

  test('a peer that goes away releases its waiters, with the failure when one is given', () => {
    const confirmations = new Confirmations();
    send(confirmations, 1);
    send(confirmations, 2);
    const calls: string[] = [];
    confirmations.whenConfirmed((error) => calls.push(error?.message ?? 'ok'));
    confirmations.peerGone(1, undefined);
    assert.equal(calls.length, 0);
    confirmations.acknowledge(2, 1);
    assert.deepEqual(calls, ['ok']);

    send(confirmations, 3);
    confirmations.whenConfirmed((error) => calls.push(error?.message ?? 'ok'));
    confirmations.peerGone(3, new Error('lost'));
    assert.deepEqual(calls, ['ok', 'lost']);
    // A restarted peer numbers from 1 again.
    assert.equal(confirmations.next(3), 1);
  });
});

describe('acknowledgement batcher', () => {
  test('one acknowledgement per peer and tick, carrying the highest sequence', async () => {
    const sent: Array<[number, number]> = [];
    const batcher = new AcknowledgementBatcher((peer, sequence) => sent.push([peer, sequence]));
    batcher.handled(1, 1);
    batcher.handled(1, 2);
    batcher.handled(2, 7);
    batcher.handled(1, 3);
    assert.deepEqual(sent, []);
    await new Promise((resolve) => process.nextTick(resolve));
    assert.deepEqual(sent, [
      [1, 3],
      [2, 7],
    ]);
  });
});
