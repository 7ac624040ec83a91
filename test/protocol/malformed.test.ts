// Every hand-written malformed packet must fail with its specific code and reason code,
// whether it arrives in one chunk or one byte at a time.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MqttProtocolError, PacketDecoder } from '../../src/protocol/index.js';
import type { Packet } from '../../src/protocol/index.js';
import { malformedCases, type MalformedCase } from './fixtures/malformed.js';

function bytesOf(hex: string): Buffer {
  return Buffer.from(hex.replace(/\s+/g, ''), 'hex');
}

function expectFailure(fixture: MalformedCase, chunks: Buffer[]): void {
  const packets: Packet[] = [];
  const decoder = new PacketDecoder((packet) => packets.push(packet), {
    protocolVersion: fixture.version,
    ...(fixture.maximumPacketSize === undefined ? {} : { maximumPacketSize: fixture.maximumPacketSize }),
  });
  assert.throws(
    () => {
      for (const chunk of chunks) decoder.push(chunk);
    },
    (error: unknown) => {
      assert.ok(error instanceof MqttProtocolError, `expected MqttProtocolError, got ${String(error)}`);
      assert.equal(error.code, fixture.code);
      assert.equal(error.reasonCode, fixture.reasonCode);
      return true;
    },
  );
  assert.equal(packets.length, 0, 'no packet is delivered from malformed input');
  // The decoder stays failed: further input is refused with the same error.
  assert.throws(() => decoder.push(Buffer.from([0xc0, 0x00])), (error: unknown) => error instanceof MqttProtocolError && error.code === fixture.code);
}

describe('malformed packet corpus', () => {
  test('has at least 40 cases with distinct names', () => {
    assert.ok(malformedCases.length >= 40);
    assert.equal(new Set(malformedCases.map((fixture) => fixture.name)).size, malformedCases.length);
  });

  for (const fixture of malformedCases) {
    test(`${fixture.name} -> ${fixture.code} (${fixture.spec})`, () => {
      const bytes = bytesOf(fixture.hex);
      expectFailure(fixture, [bytes]);
      expectFailure(fixture, Array.from({ length: bytes.length }, (_, index) => bytes.subarray(index, index + 1)));
    });
  }
});
