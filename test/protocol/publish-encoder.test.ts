// PublishEncoder: the fan-out header plus the payload equals a full PUBLISH encoding.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { MqttProtocolError, PacketDecoder, PublishEncoder, encodePacket } from '../../src/protocol/index.js';
import type { Packet, Properties, PublishHeaderOptions, QoS } from '../../src/protocol/index.js';
import { properties, topicName } from './arbitraries.js';

const headerOptions: fc.Arbitrary<PublishHeaderOptions> = fc
  .record(
    {
      qos: fc.constantFrom<QoS>(0, 1, 2),
      retain: fc.boolean(),
      dup: fc.boolean(),
      packetId: fc.integer({ min: 1, max: 65_535 }),
      subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { maxLength: 3 }),
      topicAlias: fc.integer({ min: 1, max: 65_535 }),
      omitTopic: fc.boolean(),
      messageExpiryInterval: fc.integer({ min: 0, max: 0xffff_ffff }),
    },
    { requiredKeys: ['qos', 'retain', 'packetId'] },
  )
  .map((options) => (options.omitTopic === true && options.topicAlias === undefined ? { ...options, omitTopic: false } : options));

/** The PUBLISH a subscriber should receive, built the slow way. */
function expectedPacket(topic: string, payload: Buffer, base: Properties | undefined, options: PublishHeaderOptions, v5: boolean): Packet {
  let merged: Properties | undefined;
  if (v5) {
    const { subscriptionIdentifiers: _ids, topicAlias: _alias, ...rest } = base ?? {};
    merged = { ...rest };
    if (options.messageExpiryInterval !== undefined) merged.messageExpiryInterval = options.messageExpiryInterval;
    if (options.subscriptionIdentifiers !== undefined && options.subscriptionIdentifiers.length > 0) merged.subscriptionIdentifiers = options.subscriptionIdentifiers;
    if (options.topicAlias !== undefined) merged.topicAlias = options.topicAlias;
  }
  return {
    type: 'publish',
    topic: v5 && options.omitTopic === true ? '' : topic,
    payload,
    qos: options.qos,
    retain: options.retain,
    dup: options.dup === true && options.qos > 0,
    packetId: options.qos > 0 ? options.packetId : undefined,
    properties: merged,
  };
}

describe('PublishEncoder', () => {
  for (const version of [4, 5] as const) {
    test(`header + payload, and packet(), equal encodePacket for random options (version ${version})`, () => {
      fc.assert(
        fc.property(
          topicName,
          fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
          properties('publish'),
          fc.array(fc.tuple(headerOptions, fc.boolean()), { minLength: 1, maxLength: 6 }),
          (topic, payload, base, optionList) => {
            const encoder = new PublishEncoder({ topic, payload, properties: base }, version);
            // Whole packets handed out earlier must not change when later ones are encoded.
            const handedOut: Array<{ packet: Buffer; copy: Buffer }> = [];
            for (const [options, whole] of optionList) {
              const withId = options.qos > 0 ? options : { ...options, packetId: undefined };
              const expected = encodePacket(expectedPacket(topic, payload, base, withId, version === 5), version);
              const encoded = whole ? encoder.packet(withId) : Buffer.concat([encoder.header(withId), encoder.payload]);
              assert.deepStrictEqual(encoded, expected);
              assert.equal(encoder.packetSize(withId), expected.length);
              if (whole) handedOut.push({ packet: encoded, copy: Buffer.from(encoded) });
            }
            for (const { packet, copy } of handedOut) assert.deepStrictEqual(packet, copy);
          },
        ),
        { numRuns: 300 },
      );
    });
  }

  test('QoS 0 headers are one shared template; QoS 1 headers are copies with their own packet id', () => {
    const encoder = new PublishEncoder({ topic: 'a/b', payload: Buffer.from('x') }, 4);
    assert.equal(encoder.header({ qos: 0, retain: false }), encoder.header({ qos: 0, retain: false }));
    const first = encoder.header({ qos: 1, retain: false, packetId: 1 });
    const second = encoder.header({ qos: 1, retain: false, packetId: 0x1234 });
    assert.notEqual(first, second);
    assert.deepStrictEqual([...first.subarray(-2)], [0x00, 0x01]);
    assert.deepStrictEqual([...second.subarray(-2)], [0x12, 0x34]);
    assert.deepStrictEqual([...first.subarray(-2)], [0x00, 0x01], 'patching the second did not touch the first');
  });

  test('the payload is the very buffer given (never copied)', () => {
    const payload = Buffer.from('payload');
    assert.equal(new PublishEncoder({ topic: 't', payload }, 5).payload, payload);
  });

  test('headers decode as the expected PUBLISH', () => {
    const encoder = new PublishEncoder({ topic: 'x/y', payload: Buffer.from('z'), properties: { contentType: 'c', topicAlias: 9, subscriptionIdentifiers: [3] } }, 5);
    const packets: Packet[] = [];
    const decoder = new PacketDecoder((packet) => packets.push(packet), { protocolVersion: 5 });
    decoder.push(Buffer.concat([encoder.header({ qos: 2, retain: true, packetId: 5, subscriptionIdentifiers: [7] }), encoder.payload]));
    assert.equal(packets.length, 1);
    const [received] = packets;
    assert.ok(received?.type === 'publish');
    assert.equal(received.packetId, 5);
    // The source's topic alias and subscription identifier belong to the publisher's hop and are dropped.
    assert.deepStrictEqual(received.properties, { contentType: 'c', subscriptionIdentifiers: [7] });
  });

  test('rejects a missing packet id for QoS > 0 and an omitted topic without an alias', () => {
    const encoder = new PublishEncoder({ topic: 't', payload: Buffer.alloc(0) }, 5);
    assert.throws(() => encoder.header({ qos: 1, retain: false }), (error: unknown) => error instanceof MqttProtocolError && error.code === 'PACKET_ID_ZERO');
    assert.throws(() => encoder.header({ qos: 0, retain: false, omitTopic: true }), (error: unknown) => error instanceof MqttProtocolError && error.code === 'EMPTY_TOPIC_NAME');
  });
});
