// Framing behaviour of PacketDecoder: zero-copy slices, size limit enforced from the
// fixed header, buffering across chunks, protocol version taken from CONNECT.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MqttProtocolError, PacketDecoder, encodePacket } from '../../src/protocol/index.js';
import type { Packet, PublishPacket } from '../../src/protocol/index.js';

function collect(options?: ConstructorParameters<typeof PacketDecoder>[1]): { decoder: PacketDecoder; packets: Packet[] } {
  const packets: Packet[] = [];
  return { decoder: new PacketDecoder((packet) => packets.push(packet), options), packets };
}

const publish = (payload: Buffer, packetId?: number): PublishPacket => ({
  type: 'publish',
  topic: 'a/b',
  payload,
  qos: packetId === undefined ? 0 : 1,
  retain: false,
  dup: false,
  packetId,
});

describe('PacketDecoder', () => {
  test('payloads of packets received in one chunk are slices of that chunk (no copy)', () => {
    const chunk = Buffer.concat([encodePacket(publish(Buffer.from('one')), 4), encodePacket(publish(Buffer.from('two'), 7), 4)]);
    const { decoder, packets } = collect();
    decoder.push(chunk);
    assert.equal(packets.length, 2);
    for (const packet of packets) {
      assert.equal(packet.type, 'publish');
      assert.equal(packet.payload.buffer, chunk.buffer, 'payload shares the chunk memory');
    }
    chunk[chunk.length - 1] = 0x21; // visible through the slice: proves it is not a copy
    assert.equal((packets[1] as PublishPacket).payload.toString(), 'tw!');
  });

  test('a packet split across chunks is assembled and the next packet in the last chunk is still a slice', () => {
    const first = encodePacket(publish(Buffer.alloc(1000, 1)), 4);
    const second = encodePacket(publish(Buffer.from('tail')), 4);
    const { decoder, packets } = collect();
    decoder.push(first.subarray(0, 1));
    assert.equal(decoder.bufferedBytes, 1);
    decoder.push(first.subarray(1, 600));
    assert.equal(decoder.bufferedBytes, 600);
    const last = Buffer.concat([first.subarray(600), second]);
    decoder.push(last);
    assert.equal(decoder.bufferedBytes, 0);
    assert.equal(packets.length, 2);
    assert.deepStrictEqual((packets[0] as PublishPacket).payload, Buffer.alloc(1000, 1));
    assert.equal((packets[1] as PublishPacket).payload.buffer, last.buffer);
  });

  test('the maximum packet size is enforced from the fixed header, before the body arrives', () => {
    const { decoder, packets } = collect({ maximumPacketSize: 1024 });
    // PUBLISH announcing a remaining length of 1,000,000 bytes: only 4 header bytes sent.
    assert.throws(
      () => decoder.push(Buffer.from([0x30, 0xc0, 0x84, 0x3d])),
      (error: unknown) => error instanceof MqttProtocolError && error.code === 'PACKET_TOO_LARGE' && error.reasonCode === 0x95,
    );
    assert.equal(packets.length, 0);
    assert.ok(decoder.bufferedBytes <= 4);
  });

  test('maximumPacketSize is settable after construction and counts the whole packet', () => {
    const bytes = encodePacket(publish(Buffer.alloc(10)), 4); // 2 + 5 + 10 = 17 bytes
    assert.equal(bytes.length, 17);
    const { decoder, packets } = collect();
    decoder.maximumPacketSize = 17;
    decoder.push(bytes);
    assert.equal(packets.length, 1);
    decoder.maximumPacketSize = 16;
    assert.throws(() => decoder.push(bytes), (error: unknown) => error instanceof MqttProtocolError && error.code === 'PACKET_TOO_LARGE');
  });

  test('the protocol version follows the decoded CONNECT', () => {
    const { decoder, packets } = collect();
    assert.equal(decoder.protocolVersion, 4);
    decoder.push(encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 0, clientId: 'x' }, 5));
    assert.equal(decoder.protocolVersion, 5);
    // A 5.0 PUBLISH carries a property length byte; decoding it as 3.1.1 would put it in the payload.
    decoder.push(encodePacket({ ...publish(Buffer.from('p')), properties: { contentType: 'c' } }, 5));
    const received = packets[1] as PublishPacket;
    assert.deepStrictEqual(received.payload, Buffer.from('p'));
    assert.equal(received.properties?.contentType, 'c');

    const legacy = collect();
    legacy.decoder.push(encodePacket({ type: 'connect', protocolName: 'MQIsdp', protocolVersion: 3, clean: true, keepalive: 0, clientId: 'x' }, 3));
    assert.equal(legacy.decoder.protocolVersion, 3);
  });

  test('AUTH is accepted only once the version is 5', () => {
    const auth = Buffer.from([0xf0, 0x00]);
    assert.throws(() => collect().decoder.push(auth), (error: unknown) => error instanceof MqttProtocolError && error.code === 'RESERVED_PACKET_TYPE');
    const { decoder, packets } = collect({ protocolVersion: 5 });
    decoder.push(auth);
    assert.deepStrictEqual(packets, [{ type: 'auth', reasonCode: 0 }]);
  });

  test('an empty chunk is harmless', () => {
    const { decoder, packets } = collect();
    decoder.push(Buffer.alloc(0));
    decoder.push(Buffer.from([0xc0]));
    decoder.push(Buffer.alloc(0));
    decoder.push(Buffer.from([0x00]));
    assert.deepStrictEqual(packets, [{ type: 'pingreq' }]);
  });

  test('a large remaining length split inside the variable-length header', () => {
    const payload = Buffer.alloc(300_000, 7);
    const bytes = encodePacket(publish(payload), 4);
    const { decoder, packets } = collect();
    decoder.push(bytes.subarray(0, 2)); // first byte + 1 of 3 remaining-length bytes
    decoder.push(bytes.subarray(2, 3));
    decoder.push(bytes.subarray(3));
    assert.equal(packets.length, 1);
    assert.ok((packets[0] as PublishPacket).payload.equals(payload));
  });

  test('errors carry the packet type when it is known', () => {
    const { decoder } = collect();
    assert.throws(
      () => decoder.push(Buffer.from('3005000361 2f2b'.replace(/ /g, ''), 'hex')),
      (error: unknown) => error instanceof MqttProtocolError && error.packetType === 'publish',
    );
  });

  test('after onPacket throws, the decoder refuses further input (the rest of the chunk is lost)', () => {
    const failure = new Error('consumer failed');
    const decoder = new PacketDecoder(() => {
      throw failure;
    });
    assert.throws(() => decoder.push(Buffer.from([0xc0, 0x00, 0xc0, 0x00])), (error: unknown) => error === failure);
    assert.throws(() => decoder.push(Buffer.from([0xc0, 0x00])), (error: unknown) => error === failure);
  });
});
