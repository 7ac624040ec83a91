// Robustness: arbitrary or corrupted bytes either decode or fail with MqttProtocolError —
// never another exception (RangeError, TypeError) and never a hang.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MqttProtocolError, PacketDecoder, encodePacket } from '../../src/protocol/index.js';
import type { ProtocolVersion } from '../../src/protocol/index.js';
import { packet } from './arbitraries.js';

function feed(bytes: Uint8Array, version: ProtocolVersion, chunkSize: number): void {
  const decoder = new PacketDecoder(() => undefined, { protocolVersion: version, maximumPacketSize: 1 << 20 });
  const buffer = Buffer.from(bytes);
  try {
    for (let offset = 0; offset < buffer.length; offset += chunkSize) decoder.push(buffer.subarray(offset, offset + chunkSize));
  } catch (error) {
    assert.ok(error instanceof MqttProtocolError, `unexpected ${String(error)}`);
  }
}

describe('decoder robustness', () => {
  for (const version of [3, 4, 5] as const) {
    test(`random bytes (version ${version})`, () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 200 }), fc.integer({ min: 1, max: 64 }), (bytes, chunkSize) => feed(bytes, version, chunkSize)),
        { numRuns: 1000 },
      );
    });

    test(`valid packets with corrupted bytes (version ${version})`, () => {
      fc.assert(
        fc.property(
          packet(version),
          fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 4 }),
          fc.integer({ min: 1, max: 16 }),
          (original, corruptions, chunkSize) => {
            const bytes = Buffer.from(encodePacket(original, version));
            for (const [position, value] of corruptions) bytes[position % bytes.length] = value;
            feed(bytes, version, chunkSize);
          },
        ),
        { numRuns: 1000 },
      );
    });
  }
});
