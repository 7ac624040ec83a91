// The PROXY protocol v1 / v2 header parser on its own: every accepted form, every prefix of a
// header being "incomplete", and the malformed headers that must be refused.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatIPv6, parseProxyHeader } from '../../src/listeners/proxy-protocol.js';

const signature = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function v2Header(command: number, familyAndTransport: number, addresses: Buffer): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = 0x20 | command;
  fixed[1] = familyAndTransport;
  fixed.writeUInt16BE(addresses.length, 2);
  return Buffer.concat([signature, fixed, addresses]);
}

function inetAddresses(source: number[], destination: number[], sourcePort: number, destinationPort: number): Buffer {
  const block = Buffer.alloc(12);
  Buffer.from(source).copy(block, 0);
  Buffer.from(destination).copy(block, 4);
  block.writeUInt16BE(sourcePort, 8);
  block.writeUInt16BE(destinationPort, 10);
  return block;
}

test('v1 TCP4 and TCP6 headers give the source address and port, and the header length', () => {
  const header = 'PROXY TCP4 192.0.2.10 198.51.100.1 56324 1883\r\n';
  assert.deepEqual(parseProxyHeader(Buffer.from(`${header}MQTT bytes`)), {
    state: 'complete',
    length: header.length,
    source: { address: '192.0.2.10', port: 56324 },
  });
  const header6 = 'PROXY TCP6 2001:db8::7 2001:db8::1 0 8883\r\n';
  assert.deepEqual(parseProxyHeader(Buffer.from(header6)), { state: 'complete', length: header6.length, source: { address: '2001:db8::7', port: 0 } });
});

test('v1 UNKNOWN keeps the socket address', () => {
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN\r\n')), { state: 'complete', length: 15, source: undefined });
  assert.deepEqual(parseProxyHeader(Buffer.from('PROXY UNKNOWN ffff:: ffff:: 1 2\r\n')), { state: 'complete', length: 33, source: undefined });
});

test('every strict prefix of a header is incomplete', () => {
  const headers = [
    Buffer.from('PROXY TCP4 192.0.2.10 198.51.100.1 56324 1883\r\n'),
    v2Header(1, 0x11, inetAddresses([192, 0, 2, 10], [10, 0, 0, 1], 40000, 1883)),
  ];
  for (const header of headers) {
    for (let length = 0; length < header.length; length++) {
      assert.deepEqual(parseProxyHeader(header.subarray(0, length)), { state: 'incomplete' }, `prefix of ${length} bytes`);
    }
    assert.equal(parseProxyHeader(header).state, 'complete');
  }
});

test('malformed v1 headers are refused', () => {
  const invalid = [
    'PROXY TCP4 192.0.2.10 198.51.100.1 56324\r\n', // a field missing
    'PROXY TCP4 192.0.2.10 198.51.100.1 56324 1883 extra\r\n',
    'PROXY TCP4 2001:db8::7 198.51.100.1 1 2\r\n', // IPv6 in TCP4
    'PROXY TCP6 192.0.2.10 2001:db8::1 1 2\r\n',
    'PROXY TCP4 192.0.2.10 198.51.100.1 65536 1883\r\n',
    'PROXY TCP4 192.0.2.10 198.51.100.1 0123 1883\r\n', // leading zero
    'PROXY TCP4  192.0.2.10 198.51.100.1 1 2\r\n', // double space
    'PROXY UDP4 192.0.2.10 198.51.100.1 1 2\r\n',
    'PROXY TCP4 999.0.2.10 198.51.100.1 1 2\r\n',
  ];
  for (const header of invalid) assert.equal(parseProxyHeader(Buffer.from(header)).state, 'invalid', header);
  // No CRLF within the 107 bytes a v1 line may take.
  assert.equal(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from(`PROXY TCP4 ${'1'.repeat(60)}`)).state, 'incomplete');
});

test('anything that is not a PROXY header is refused from its first differing byte', () => {
  assert.equal(parseProxyHeader(Buffer.from([0x10, 0x0c, 0x00])).state, 'invalid'); // an MQTT CONNECT
  assert.equal(parseProxyHeader(Buffer.from('GET / HTTP/1.1\r\n')).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from([0x16, 0x03, 0x01])).state, 'invalid'); // a TLS ClientHello
  assert.equal(parseProxyHeader(Buffer.from('PROXX')).state, 'invalid');
  assert.equal(parseProxyHeader(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0b])).state, 'invalid');
});

test('v2 PROXY over IPv4 and IPv6, with TLVs after the addresses', () => {
  const inet = v2Header(1, 0x11, inetAddresses([203, 0, 113, 5], [10, 0, 0, 1], 61000, 1883));
  assert.deepEqual(parseProxyHeader(Buffer.concat([inet, Buffer.from([0x10])])), {
    state: 'complete',
    length: 28,
    source: { address: '203.0.113.5', port: 61000 },
  });
  const inet6Block = Buffer.alloc(36 + 7);
  Buffer.from('20010db8000000000000000000000042', 'hex').copy(inet6Block, 0);
  Buffer.from('20010db8000000000000000000000001', 'hex').copy(inet6Block, 16);
  inet6Block.writeUInt16BE(4242, 32);
  inet6Block.writeUInt16BE(1883, 34);
  // A TLV (type 0x04 NOOP, length 4) the parser must skip.
  Buffer.from([0x04, 0x00, 0x04, 0, 0, 0, 0]).copy(inet6Block, 36);
  assert.deepEqual(parseProxyHeader(v2Header(1, 0x21, inet6Block)), {
    state: 'complete',
    length: 16 + 43,
    source: { address: '2001:db8::42', port: 4242 },
  });
});

test('v2 LOCAL, UNSPEC and UNIX keep the socket address', () => {
  assert.deepEqual(parseProxyHeader(v2Header(0, 0x00, Buffer.alloc(0))), { state: 'complete', length: 16, source: undefined });
  assert.deepEqual(parseProxyHeader(v2Header(0, 0x11, inetAddresses([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))), { state: 'complete', length: 28, source: undefined });
  assert.deepEqual(parseProxyHeader(v2Header(1, 0x00, Buffer.alloc(0))), { state: 'complete', length: 16, source: undefined });
  assert.deepEqual(parseProxyHeader(v2Header(1, 0x31, Buffer.alloc(216))), { state: 'complete', length: 232, source: undefined });
});

test('malformed v2 headers are refused', () => {
  const wrongVersion = v2Header(1, 0x11, inetAddresses([1, 2, 3, 4], [5, 6, 7, 8], 1, 2));
  wrongVersion[12] = 0x11;
  assert.equal(parseProxyHeader(wrongVersion).state, 'invalid');
  assert.equal(parseProxyHeader(v2Header(2, 0x11, inetAddresses([1, 2, 3, 4], [5, 6, 7, 8], 1, 2))).state, 'invalid'); // command 2
  assert.equal(parseProxyHeader(v2Header(1, 0x41, Buffer.alloc(12))).state, 'invalid'); // family 4
  assert.equal(parseProxyHeader(v2Header(1, 0x13, Buffer.alloc(12))).state, 'invalid'); // transport 3
  assert.equal(parseProxyHeader(v2Header(1, 0x11, Buffer.alloc(8))).state, 'invalid'); // IPv4 block too short
  assert.equal(parseProxyHeader(v2Header(1, 0x21, Buffer.alloc(20))).state, 'invalid'); // IPv6 block too short
});

test('IPv6 addresses are written the RFC 5952 way', () => {
  const hex = (text: string) => Buffer.from(text, 'hex');
  assert.equal(formatIPv6(hex('00000000000000000000000000000001')), '::1');
  assert.equal(formatIPv6(hex('00000000000000000000000000000000')), '::');
  assert.equal(formatIPv6(hex('20010db8000000000001000000000001')), '2001:db8::1:0:0:1');
  assert.equal(formatIPv6(hex('20010db8000100000001000100010001')), '2001:db8:1:0:1:1:1:1'); // a single zero group is not shortened
  assert.equal(formatIPv6(hex('00000000000000000000ffffc0000205')), '::ffff:192.0.2.5');
  assert.equal(formatIPv6(hex('fe800000000000000000000000000000')), 'fe80::');
});
