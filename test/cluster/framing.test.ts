import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { encodeFrame, encodeFrameHeader, FrameDecoder, FrameError } from '../../src/cluster/frame-codec.js';
import { decodeForwarded, encodeForwarded, ForwardDecodeError, type ForwardedMessage } from '../../src/cluster/forwarded-message.js';
import type { StoredMessage } from '../../src/store/store.js';
import type { BrokerStats } from '../../src/broker/broker.js';
import { sumStats } from '../../src/cluster/cluster-stats.js';
import { decodeSnapshot, encodeSnapshot } from '../../src/cluster/retained-snapshot.js';

function collectFrames(chunks: Buffer[]): Array<[number, string]> {
  const frames: Array<[number, string]> = [];
  const decoder = new FrameDecoder((type, body) => frames.push([type, body.toString('hex')]));
  for (const chunk of chunks) decoder.push(chunk);
  assert.equal(decoder.bufferedBytes, 0);
  return frames;
}

describe('mesh frames', () => {
  test('several frames in one chunk come out in order', () => {
    const stream = Buffer.concat([encodeFrame(1, Buffer.from([7])), encodeFrame(3, Buffer.alloc(0)), encodeFrame(9, Buffer.from('abc'))]);
    assert.deepEqual(collectFrames([stream]), [
      [1, '07'],
      [3, ''],
      [9, Buffer.from('abc').toString('hex')],
    ]);
  });

  test('header plus separate body equals a whole frame', () => {
    const body = Buffer.from('hello');
    assert.deepEqual(Buffer.concat([encodeFrameHeader(4, body.length), body]), encodeFrame(4, body));
  });

  test('any split of a stream of frames decodes to the same frames', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.integer({ min: 0, max: 255 }), fc.uint8Array({ maxLength: 300 })), { minLength: 1, maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { maxLength: 40 }),
        (frames, cuts) => {
          const stream = Buffer.concat(frames.map(([type, body]) => encodeFrame(type, Buffer.from(body))));
          const chunks: Buffer[] = [];
          let position = 0;
          for (const cut of cuts) {
            if (position >= stream.length) break;
            chunks.push(stream.subarray(position, Math.min(stream.length, position + cut)));
            position += cut;
          }
          if (position < stream.length) chunks.push(stream.subarray(position));
          const expected = frames.map(([type, body]) => [type, Buffer.from(body).toString('hex')]);
          assert.deepEqual(collectFrames(chunks), expected);
        },
      ),
      { numRuns: 300 },
    );
  });

  test('a zero length is refused', () => {
    const decoder = new FrameDecoder(() => assert.fail('no frame expected'));
    assert.throws(() => decoder.push(Buffer.from([0, 0, 0, 0, 1])), FrameError);
  });

  test('a length beyond the maximum is refused, also when the header arrives in pieces', () => {
    const decoder = new FrameDecoder(() => assert.fail('no frame expected'));
    decoder.push(Buffer.from([0xff, 0xff]));
    assert.throws(() => decoder.push(Buffer.from([0xff, 0xff, 1])), FrameError);
  });
});

function sample(overrides: Partial<StoredMessage> = {}): StoredMessage {
  return { topic: 'a/b', payload: Buffer.from('payload'), qos: 1, retain: false, receivedAt: 1_700_000_000_123, ...overrides };
}

describe('forwarded message codec', () => {
  test('a plain message round-trips', () => {
    const forwarded: ForwardedMessage = { message: sample() };
    assert.deepEqual(decodeForwarded(encodeForwarded(forwarded)), forwarded);
  });

  test('publisher, exact expiry, properties, retain, shared target and tried workers round-trip', () => {
    const forwarded: ForwardedMessage = {
      message: sample({
        topic: 'température/ü',
        qos: 2,
        retain: true,
        expiresAt: 1_700_000_012_345.5,
        publisherId: 'client-é',
        properties: {
          contentType: 'text/plain',
          responseTopic: 'reply/here',
          correlationData: Buffer.from([1, 2, 3]),
          payloadFormatIndicator: 1,
          userProperties: [
            ['k', 'v'],
            ['k', 'w'],
          ],
        },
      }),
      shared: { group: 'workers', filter: 'jobs/+' },
      tried: [0, 3],
      allowOffline: true,
    };
    assert.deepEqual(decodeForwarded(encodeForwarded(forwarded)), forwarded);
  });

  test('an empty payload (retained delete) stays empty', () => {
    const decoded = decodeForwarded(encodeForwarded({ message: sample({ payload: Buffer.alloc(0), retain: true, qos: 0 }) }));
    assert.equal(decoded.message.payload.length, 0);
    assert.equal(decoded.message.retain, true);
    assert.equal(decoded.message.qos, 0);
  });

  test('a small payload is copied out of a large buffer', () => {
    const encoded = encodeForwarded({ message: sample() });
    const big = Buffer.alloc(64 * 1024);
    encoded.copy(big, 100);
    const decoded = decodeForwarded(big.subarray(100, 100 + encoded.length));
    assert.notEqual(decoded.message.payload.buffer, big.buffer);
    assert.equal(decoded.message.payload.toString(), 'payload');
  });

  test('truncated input is refused', () => {
    const encoded = encodeForwarded({ message: sample({ publisherId: 'someone' }) });
    for (const length of [0, 1, 5, 12, encoded.length - 1]) {
      assert.throws(() => decodeForwarded(encoded.subarray(0, length)), (error: unknown) => error instanceof Error, `length ${length}`);
    }
  });

  test('QoS 3 in the header is refused', () => {
    const encoded = encodeForwarded({ message: sample() });
    encoded[0] = encoded[0]! | 0x03;
    assert.throws(() => decodeForwarded(encoded), ForwardDecodeError);
  });
});

describe('retained snapshot', () => {
  test('messages round-trip in order; an empty snapshot is empty', () => {
    const messages = [sample({ topic: 'r/1', retain: true }), sample({ topic: 'r/2', retain: true, payload: Buffer.from('second'), publisherId: 'p' })];
    assert.deepEqual(decodeSnapshot(encodeSnapshot(messages)), messages);
    assert.deepEqual(decodeSnapshot(encodeSnapshot([])), []);
  });

  test('a truncated snapshot is refused', () => {
    const encoded = encodeSnapshot([sample({ retain: true })]);
    assert.throws(() => decodeSnapshot(encoded.subarray(0, encoded.length - 1)), /truncated/);
    assert.throws(() => decodeSnapshot(encoded.subarray(0, 2)), /truncated/);
  });
});

describe('cluster statistics', () => {
  const base: BrokerStats = {
    clientsConnected: 1,
    clientsDisconnected: 2,
    clientsTotal: 3,
    connectionsOpen: 4,
    messagesReceived: 5,
    messagesSent: 6,
    messagesDropped: 7,
    bytesReceived: 8,
    bytesSent: 9,
    subscriptionsCount: 10,
    retainedCount: 11,
    retainedBytes: 12,
    uptimeSeconds: 13,
  };

  test('counts add up over workers; replicated retained figures and uptime stay this worker’s', () => {
    const total = sumStats(base, [base, { ...base, uptimeSeconds: 99, retainedCount: 50 }]);
    assert.equal(total.clientsConnected, 3);
    assert.equal(total.subscriptionsCount, 30);
    assert.equal(total.bytesSent, 27);
    assert.equal(total.retainedCount, 11);
    assert.equal(total.retainedBytes, 12);
    assert.equal(total.uptimeSeconds, 13);
    assert.equal(base.clientsConnected, 1, 'the local figures are not modified');
  });
});
