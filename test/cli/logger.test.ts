import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger } from '../../src/log/logger.js';

function captureLines(): { stream: Writable; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      chunks.push(chunk.toString());
      callback();
    },
  });
  const lines = () =>
    chunks
      .join('')
      .split('\n')
      .filter((line) => line !== '')
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { stream, lines };
}

test('JSON lines carry the level name, an ISO time, the fields and the message', () => {
  const { stream, lines } = captureLines();
  const logger = createLogger({ level: 'info', pretty: false }, { destination: stream });
  logger.info({ clientId: 'c1', reasonCode: 0x87 }, 'connection refused');
  const [line] = lines();
  assert.equal(line?.level, 'info');
  assert.equal(line?.name, 'petrel');
  assert.equal(line?.msg, 'connection refused');
  assert.equal(line?.clientId, 'c1');
  assert.equal(line?.reasonCode, 0x87);
  assert.match(String(line?.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
});

test('the level threshold filters lower levels; silent writes nothing', () => {
  const warn = captureLines();
  const logger = createLogger({ level: 'warn', pretty: false }, { destination: warn.stream });
  logger.info('hidden');
  logger.debug('hidden');
  logger.warn('shown');
  logger.error({ err: new Error('boom') }, 'failed');
  assert.deepEqual(warn.lines().map((line) => [line.level, line.msg]), [['warn', 'shown'], ['error', 'failed']]);
  assert.equal((warn.lines()[1]?.err as { message?: string }).message, 'boom');

  const silent = captureLines();
  createLogger({ level: 'silent', pretty: false }, { destination: silent.stream }).fatal('nothing');
  assert.deepEqual(silent.lines(), []);
});
