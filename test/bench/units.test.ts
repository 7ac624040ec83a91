import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePidList, processCpuSeconds, processRssBytes } from '../../src/bench/broker-memory.js';
import { LatencyRecorder } from '../../src/bench/latency.js';
import { automaticLocalAddresses, parseLocalAddresses } from '../../src/bench/local-addresses.js';
import {
  isBenchPayload,
  nowMicros,
  PAYLOAD_HEADER_SIZE,
  payloadPublisher,
  payloadSequence,
  payloadTemplate,
  payloadTime,
  stampPayload,
} from '../../src/bench/payload.js';
import { SequenceTracker } from '../../src/bench/sequence-tracker.js';
import { expandTopic, wildcardFilter } from '../../src/bench/topic-pattern.js';

describe('payload', () => {
  test('carries publisher id, sequence and send time', () => {
    const payload = payloadTemplate(64, 7);
    assert.equal(payload.length, 64);
    const time = nowMicros();
    stampPayload(payload, 0, 123_456, time);
    assert.ok(isBenchPayload(payload));
    assert.equal(payloadPublisher(payload), 7);
    assert.equal(payloadSequence(payload), 123_456);
    assert.equal(payloadTime(payload), time);
  });

  test('stamps a payload inside a larger buffer at an offset', () => {
    const target = Buffer.alloc(100);
    payloadTemplate(30, 3).copy(target, 50);
    stampPayload(target, 50, 9, 42.5);
    const payload = target.subarray(50, 80);
    assert.equal(payloadSequence(payload), 9);
    assert.equal(payloadTime(payload), 42.5);
  });

  test('refuses sizes too small for the header and recognises foreign payloads', () => {
    assert.throws(() => payloadTemplate(PAYLOAD_HEADER_SIZE - 1, 0), RangeError);
    assert.equal(isBenchPayload(Buffer.from('hello world, this is not ours')), false);
    assert.equal(isBenchPayload(Buffer.alloc(4)), false);
  });
});

describe('sequence tracker', () => {
  test('counts gaps and late messages per publisher', () => {
    const tracker = new SequenceTracker(true);
    for (const sequence of [0, 1, 2, 5, 3, 6]) tracker.record(1, sequence);
    for (const sequence of [0, 1]) tracker.record(2, sequence);
    assert.equal(tracker.gaps, 2); // 3 and 4 skipped when 5 arrived
    assert.equal(tracker.outOfOrder, 1); // 3 after 5
    assert.equal(tracker.receivedFrom(1), 6);
    assert.equal(tracker.receivedFrom(2), 2);
    assert.equal(tracker.receivedFrom(3), 0);
    assert.equal(tracker.publisherCount, 2);
  });

  test('counting from zero sees a missing start; joining late does not', () => {
    const fromZero = new SequenceTracker(true);
    fromZero.record(1, 10);
    assert.equal(fromZero.gaps, 10);
    const late = new SequenceTracker(false);
    late.record(1, 10);
    late.record(1, 11);
    assert.equal(late.gaps, 0);
  });
});

describe('topic patterns', () => {
  test('%i expands to the client index everywhere', () => {
    assert.equal(expandTopic('bench/%i/x/%i', 12), 'bench/12/x/12');
    assert.equal(expandTopic('bench/all', 12), 'bench/all');
  });

  test('a whole-level %i becomes + in the collecting filter', () => {
    assert.equal(wildcardFilter('bench/fanin/%i'), 'bench/fanin/+');
    assert.equal(wildcardFilter('a/%i/b'), 'a/+/b');
    assert.equal(wildcardFilter('same/topic'), 'same/topic');
    assert.throws(() => wildcardFilter('bench/client-%i'), RangeError);
  });
});

describe('local addresses', () => {
  test('ranges and lists', () => {
    assert.deepEqual(parseLocalAddresses('127.0.0.1-127.0.0.3'), ['127.0.0.1', '127.0.0.2', '127.0.0.3']);
    assert.deepEqual(parseLocalAddresses('127.0.0.254-127.0.1.1,10.0.0.1'), ['127.0.0.254', '127.0.0.255', '127.0.1.0', '127.0.1.1', '10.0.0.1']);
    assert.throws(() => parseLocalAddresses('127.0.0.5-127.0.0.1'), RangeError);
    assert.throws(() => parseLocalAddresses('localhost'), RangeError);
    assert.throws(() => parseLocalAddresses(''), RangeError);
  });

  test('automatic choice: several loopback addresses only when one is not enough', () => {
    assert.deepEqual(automaticLocalAddresses('127.0.0.1', 1000), []);
    const spread = automaticLocalAddresses('127.0.0.1', 100_000);
    assert.equal(spread.length, 25);
    assert.deepEqual(spread.slice(0, 2), ['127.0.0.1', '127.0.0.2']);
    assert.equal(spread.at(-1), '127.0.0.25');
    assert.deepEqual(automaticLocalAddresses('192.0.2.1', 100_000), []);
  });
});

describe('latency recorder', () => {
  test('percentiles in milliseconds', () => {
    const recorder = new LatencyRecorder();
    for (let micros = 1; micros <= 1000; micros++) recorder.record(micros);
    recorder.record(-5); // clock skew between processes: recorded as the minimum
    const summary = recorder.summary();
    recorder.destroy();
    assert.equal(summary.count, 1001);
    assert.equal(summary.minMs, 0.001);
    assert.ok(Math.abs(summary.p50Ms - 0.5) < 0.002, `p50 ${summary.p50Ms}`);
    assert.ok(Math.abs(summary.p99Ms - 0.99) < 0.002, `p99 ${summary.p99Ms}`);
    assert.ok(Math.abs(summary.maxMs - 1) < 0.002, `max ${summary.maxMs}`);
  });

  test('an empty recorder reports zeros', () => {
    const recorder = new LatencyRecorder();
    assert.equal(recorder.summary().count, 0);
    assert.equal(recorder.summary().p99Ms, 0);
    recorder.destroy();
  });
});

describe('broker process figures', () => {
  test('reads RSS and CPU time of a live process', async () => {
    const rss = await processRssBytes(process.pid);
    assert.ok(rss > 10 * 1024 * 1024 && rss < 4 * 1024 ** 3, `rss ${rss}`);
    const cpu = await processCpuSeconds(process.pid);
    assert.ok(cpu > 0 && cpu < 3600, `cpu ${cpu}`);
  });

  test('PID lists', () => {
    assert.deepEqual(parsePidList('12, 34'), [12, 34]);
    assert.throws(() => parsePidList('12,x'), RangeError);
    assert.throws(() => parsePidList('0'), RangeError);
  });
});
