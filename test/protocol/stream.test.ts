// Property-based: random packet sequences, encoded, concatenated, split at random chunk
// boundaries (down to 1 byte), decode to the same packets; encode(decode(bytes)) == bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { PacketDecoder, encodePacket } from '../../src/protocol/index.js';
import type { Packet, ProtocolVersion } from '../../src/protocol/index.js';
import { packet } from './arbitraries.js';
import { withoutUndefined } from './normalise.js';

function decodeChunks(chunks: Buffer[], protocolVersion: ProtocolVersion): Packet[] {
  const packets: Packet[] = [];
  const decoder = new PacketDecoder((decoded) => packets.push(decoded), { protocolVersion });
  for (const chunk of chunks) decoder.push(chunk);
  assert.equal(decoder.bufferedBytes, 0, 'no bytes left over after whole packets');
  return packets;
}

/** Cut `bytes` at the given (sorted, deduplicated) offsets. */
function split(bytes: Buffer, cuts: number[]): Buffer[] {
  const offsets = [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b);
  const chunks: Buffer[] = [];
  let start = 0;
  for (const offset of offsets) {
    chunks.push(bytes.subarray(start, offset));
    start = offset;
  }
  chunks.push(bytes.subarray(start));
  return chunks;
}

for (const version of [3, 4, 5] as const) {
  describe(`codec stream, protocol version ${version}`, () => {
    test('random packet sequences split at random boundaries decode to the same packets', () => {
      fc.assert(
        fc.property(fc.array(packet(version), { minLength: 1, maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }), (packets, cuts) => {
          const bytes = Buffer.concat(packets.map((each) => encodePacket(each, version)));
          const decoded = decodeChunks(split(bytes, cuts), version);
          assert.deepStrictEqual(decoded.map(withoutUndefined), packets.map(withoutUndefined));
        }),
        { numRuns: 300 },
      );
    });

    test('one-byte chunks decode to the same packets', () => {
      fc.assert(
        fc.property(fc.array(packet(version), { minLength: 1, maxLength: 4 }), (packets) => {
          const bytes = Buffer.concat(packets.map((each) => encodePacket(each, version)));
          const chunks = Array.from({ length: bytes.length }, (_, index) => bytes.subarray(index, index + 1));
          assert.deepStrictEqual(decodeChunks(chunks, version).map(withoutUndefined), packets.map(withoutUndefined));
        }),
        { numRuns: 100 },
      );
    });

    test('encode(decode(bytes)) reproduces the bytes', () => {
      fc.assert(
        fc.property(packet(version), (original) => {
          const bytes = encodePacket(original, version);
          const [decoded] = decodeChunks([bytes], version);
          assert.ok(decoded);
          assert.deepStrictEqual(encodePacket(decoded, version), bytes);
        }),
        { numRuns: 300 },
      );
    });
  });
}
