// Hand-written valid packets decode to the expected packet, and encode back to the same bytes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { PacketDecoder, encodePacket } from '../../src/protocol/index.js';
import type { Packet } from '../../src/protocol/index.js';
import { validCases } from './fixtures/valid.js';
import { withoutUndefined } from './normalise.js';

function bytesOf(hex: string): Buffer {
  return Buffer.from(hex.replace(/\s+/g, ''), 'hex');
}

describe('valid packet table', () => {
  for (const fixture of validCases) {
    test(`${fixture.name} (MQTT ${fixture.version === 3 ? '3.1' : fixture.version === 4 ? '3.1.1' : '5.0'})`, () => {
      const bytes = bytesOf(fixture.hex);
      const packets: Packet[] = [];
      new PacketDecoder((packet) => packets.push(packet), { protocolVersion: fixture.version }).push(bytes);
      assert.equal(packets.length, 1);
      assert.deepStrictEqual(withoutUndefined(packets[0]), withoutUndefined(fixture.packet));
      if (fixture.encodes !== false) assert.deepStrictEqual(encodePacket(fixture.packet, fixture.version), bytes);
    });
  }
});
