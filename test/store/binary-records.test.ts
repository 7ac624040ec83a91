import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import { createSilentLogger } from '../../src/log/logger.js';
import {
  decodeBodyValue,
  decodeOutgoingInlineBody,
  decodeOutgoingValue,
  decodePairKey,
  encodeBodyValue,
  encodeOutgoingInline,
  encodeOutgoingValue,
  outgoingMessageId,
  pairKey,
} from '../../src/store/binary-records.js';
import { LmdbStore } from '../../src/store/lmdb-store.js';
import type { OutgoingRecord } from '../../src/store/store.js';
import { durable, message, outgoing, session, temporaryDirectory } from './store-contract.js';

describe('binary records', () => {
  test('a pair key gives back its client key and number, including numbers above 2^32', () => {
    for (const [clientKey, value] of [
      ['pclient', 0],
      ['pé€𝄞', 65535],
      ['p', 2 ** 40 + 7],
      ['h' + 'a'.repeat(64), Number.MAX_SAFE_INTEGER],
    ] as const) {
      assert.deepEqual(decodePairKey(pairKey(Buffer.from(clientKey), value)), { clientKey, value });
    }
  });

  test('pair keys of one client sort by number, and a client key that extends another does not interleave', () => {
    const seqs = [0, 1, 255, 256, 65536, 2 ** 32 - 1, 2 ** 32, 2 ** 45];
    const keys = [...seqs.map((seq) => pairKey(Buffer.from('pa'), seq)), ...seqs.map((seq) => pairKey(Buffer.from('pab'), seq))];
    const sorted = [...keys].sort(Buffer.compare).map((key) => decodePairKey(key));
    assert.deepEqual(sorted, [...seqs.map((value) => ({ clientKey: 'pa', value })), ...seqs.map((value) => ({ clientKey: 'pab', value }))]);
  });

  test('an outgoing record reads back as written, in every state', () => {
    const stored = message('t', 'x');
    const records: OutgoingRecord[] = [
      outgoing(1, stored, { qos: 0, retain: false, state: 'queued' }),
      outgoing(2, stored, { qos: 1, retain: true, state: 'sent', packetId: 65535 }),
      outgoing(3, stored, { qos: 2, retain: false, state: 'released', packetId: 1, subscriptionIdentifiers: [1, 268435455] }),
    ];
    for (const record of records) {
      const value = encodeOutgoingValue(record, 2 ** 40 + 3);
      assert.equal(outgoingMessageId(value), 2 ** 40 + 3);
      assert.deepEqual(decodeOutgoingValue(record.seq, value, stored), record);
    }
  });

  test('an outgoing record with its body inline reads back as written, with no message id', () => {
    const stored = message('in/line', 'payload', { qos: 2, expiresAt: 1_700_000_999_000, publisherId: 'p', properties: { correlationData: Buffer.from([1, 2]) } });
    const record = outgoing(9, stored, { qos: 2, state: 'released', packetId: 12, subscriptionIdentifiers: [4, 5] });
    const value = encodeOutgoingInline(record);
    assert.equal(outgoingMessageId(value), undefined);
    const body = decodeOutgoingInlineBody(value);
    assert.deepEqual(body, stored);
    assert.deepEqual(decodeOutgoingValue(9, value, body), record);
    assert.throws(() => decodeOutgoingInlineBody(encodeOutgoingValue(record, 1)), /no inline body/);
    assert.throws(() => decodeOutgoingValue(9, value.subarray(0, 20), body), /wrong length/);
  });

  test('a message body reads back as written, with and without its optional fields', () => {
    const bare = message('a/b', '');
    const full = message('ü/𝄞', 'payload bytes', {
      qos: 2,
      retain: true,
      expiresAt: 1_700_000_123_456,
      publisherId: 'publisher-é',
      properties: {
        payloadFormatIndicator: 1,
        messageExpiryInterval: 60,
        contentType: 'text/plain',
        responseTopic: 'reply/to',
        correlationData: Buffer.from([0, 1, 2, 255]),
        userProperties: [
          ['k', 'v'],
          ['k', 'second'],
        ],
        willDelayInterval: 5,
      },
    });
    for (const stored of [bare, full]) assert.deepEqual(decodeBodyValue(encodeBodyValue(stored)), stored);
  });

  test('a malformed message body is refused', () => {
    const value = encodeBodyValue(message('t', 'x'));
    value.writeUInt32LE(1000, 18);
    assert.throws(() => decodeBodyValue(value), /exceed/);
    assert.throws(() => decodeBodyValue(Buffer.from([2])), /malformed/);
  });

  test('a malformed outgoing value is refused', () => {
    assert.throws(() => outgoingMessageId(Buffer.from([1, 2, 3])), /malformed/);
    const value = encodeOutgoingValue(outgoing(1, message('t', 'x')), 1);
    value[1] = 3 << 3;
    assert.throws(() => decodeOutgoingValue(1, value, message('t', 'x')), /unknown state/);
  });
});

describe('lmdb store coalescing', () => {
  test('a record put and deleted before the next commit writes nothing, inline body included', async () => {
    const dir = await temporaryDirectory();
    const store = new LmdbStore({ dir, mode: 'sync', asyncFlushMs: 10, logger: createSilentLogger() });
    try {
      await store.open();
      store.putSession(session('c'));
      await durable(store);
      store.putOutgoing('c', outgoing(1, message('t', 'x')));
      store.putOutgoing('c', outgoing(1, message('t', 'x'), { state: 'sent', packetId: 1 }));
      // One pending write: the record, encoded at the flush with its body inline.
      assert.equal(store.stats().pendingWrites, 1);
      store.deleteOutgoing('c', 1);
      assert.equal(store.stats().pendingWrites, 0);
      await durable(store);
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a seq deleted on disk, put again and deleted again stays deleted after reopening', async () => {
    const dir = await temporaryDirectory();
    const options = { dir, mode: 'sync' as const, asyncFlushMs: 10, logger: createSilentLogger() };
    try {
      const store = new LmdbStore(options);
      await store.open();
      store.putSession(session('c'));
      const stored = message('t', 'x');
      store.putOutgoing('c', outgoing(1, stored));
      await durable(store);
      // The delete is pending when the same seq comes back: the second delete must still reach the disk.
      store.deleteOutgoing('c', 1);
      store.putOutgoing('c', outgoing(1, stored));
      store.deleteOutgoing('c', 1);
      await durable(store);
      await store.close();
      const reopened = new LmdbStore(options);
      const state = await reopened.open();
      await reopened.close();
      assert.equal(state.outgoing.get('c'), undefined);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
