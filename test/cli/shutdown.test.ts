import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { installShutdownHandlers } from '../../src/cli/shutdown.js';
import { createLogger } from '../../src/log/logger.js';

const logger = createLogger({ level: 'silent', pretty: false });

function harness(stop: () => Promise<void>) {
  const source = new EventEmitter();
  const exits: number[] = [];
  const clock = { now: 1000 };
  let stopCalls = 0;
  installShutdownHandlers({
    stop: () => {
      stopCalls += 1;
      return stop();
    },
    logger,
    exit: (code) => exits.push(code),
    source,
    duplicateWindowMs: 500,
    now: () => clock.now,
  });
  return { source, exits, clock, stopCalls: () => stopCalls };
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test('SIGTERM stops once and exits 0', async () => {
  const { source, exits, stopCalls } = harness(() => Promise.resolve());
  source.emit('SIGTERM', 'SIGTERM');
  await settle();
  assert.equal(stopCalls(), 1);
  assert.deepEqual(exits, [0]);
});

test('SIGINT is handled like SIGTERM', async () => {
  const { source, exits } = harness(() => Promise.resolve());
  source.emit('SIGINT', 'SIGINT');
  await settle();
  assert.deepEqual(exits, [0]);
});

test('a failing stop exits 1', async () => {
  const { source, exits } = harness(() => Promise.reject(new Error('store would not close')));
  source.emit('SIGTERM', 'SIGTERM');
  await settle();
  assert.deepEqual(exits, [1]);
});

test('a second signal during a slow stop exits 1 at once, without a second stop', async () => {
  let finishStop: () => void = () => undefined;
  const { source, exits, clock, stopCalls } = harness(() => new Promise<void>((resolve) => (finishStop = resolve)));
  source.emit('SIGTERM', 'SIGTERM');
  await settle();
  assert.deepEqual(exits, []);
  clock.now += 499;
  source.emit('SIGINT', 'SIGINT');
  assert.deepEqual(exits, [], 'a repeat within the window is the same request delivered twice');
  clock.now += 1;
  source.emit('SIGINT', 'SIGINT');
  assert.deepEqual(exits, [1]);
  assert.equal(stopCalls(), 1);
  finishStop();
  await settle();
});
