import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { DeliveryBacklog } from '../../src/bench/delivery-backlog.js';

describe('delivery backlog', () => {
  test('the limit is shared between publishers, in messages per publisher', () => {
    const fanin = new DeliveryBacklog([1, 1, 1, 1], 100);
    assert.equal(fanin.allowance(0, 0), 25);
    assert.equal(fanin.allowance(0, 20), 5);
    const fanout = new DeliveryBacklog([50], 1000);
    assert.equal(fanout.allowance(0, 0), 20); // 20 messages x 50 subscribers = 1000 deliveries
    const wide = new DeliveryBacklog([1000], 10);
    assert.equal(wide.allowance(0, 0), 1, 'a publisher may always have one message on its way');
  });

  test('a waiting publisher resumes once half its share has arrived', () => {
    const backlog = new DeliveryBacklog([2], 20); // share: 10 messages, each to 2 subscribers
    assert.equal(backlog.allowance(0, 10), 0);
    backlog.wait(0, 1);
    assert.ok(backlog.isWaiting(0));
    for (let delivery = 0; delivery < 9; delivery++) assert.equal(backlog.recordDelivery(0, 10), false);
    assert.equal(backlog.recordDelivery(0, 10), true, '10 deliveries = 5 messages done = half the share');
    assert.equal(backlog.isWaiting(0), false);
    assert.equal(backlog.allowance(0, 10), 5);
  });

  test('deliveries to a publisher that is not waiting never ask for a resume', () => {
    const backlog = new DeliveryBacklog([1], 10);
    assert.equal(backlog.recordDelivery(0, 5), false);
  });

  test('a stalled backlog is written off after the stall time', () => {
    const backlog = new DeliveryBacklog([1, 1], 20);
    backlog.wait(0, 1000);
    backlog.wait(1, 1900);
    assert.deepEqual(backlog.writeOffStalled(1900, 1000, () => 10), []);
    assert.deepEqual(backlog.writeOffStalled(2001, 1000, () => 10), [0]);
    assert.equal(backlog.allowance(0, 10), 10);
    assert.ok(backlog.isWaiting(1));
  });

  test('disabled: no limit, and publishers without receivers are never limited', () => {
    assert.equal(new DeliveryBacklog([1], 0).allowance(0, 1e9), Number.POSITIVE_INFINITY);
    assert.equal(new DeliveryBacklog([0], 10).allowance(0, 1e9), Number.POSITIVE_INFINITY);
  });
});
