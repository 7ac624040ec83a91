// PROXY protocol v1 (text) and v2 (binary) headers, as sent by haproxy and most TCP load
// balancers in front of the broker: they carry the real client address. Specification:
// https://www.haproxy.org/download/2.6/doc/proxy-protocol.txt

import { isIPv4, isIPv6, type Socket } from 'node:net';
import type { Logger } from 'pino';

export interface ProxySource {
  address: string;
  port: number;
}

export type ProxyParseResult =
  | { state: 'incomplete' }
  | { state: 'invalid'; reason: string }
  /** `source` is undefined for LOCAL / UNKNOWN / non-IP headers: the socket's own address stands. */
  | { state: 'complete'; length: number; source: ProxySource | undefined };

const v1Prefix = Buffer.from('PROXY ', 'latin1');
/** v1 line including CRLF is at most 107 bytes (section 2.1). */
const v1MaxLength = 107;
const v2Signature = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const v2FixedLength = 16;
const v2AddressLength = { inet: 12, inet6: 36 } as const;

/** True when `buffer` could still become `prefix` once more bytes arrive. */
function isPrefixOf(buffer: Buffer, prefix: Buffer): boolean {
  const length = Math.min(buffer.length, prefix.length);
  return buffer.subarray(0, length).equals(prefix.subarray(0, length));
}

/** Parses the header at the start of `buffer`; never reads beyond the header's own bytes. */
export function parseProxyHeader(buffer: Buffer): ProxyParseResult {
  if (buffer.length === 0) return { state: 'incomplete' };
  if (isPrefixOf(buffer, v2Signature)) {
    return buffer.length < v2Signature.length ? { state: 'incomplete' } : parseVersion2(buffer);
  }
  if (isPrefixOf(buffer, v1Prefix)) {
    return buffer.length < v1Prefix.length ? { state: 'incomplete' } : parseVersion1(buffer);
  }
  return { state: 'invalid', reason: 'no PROXY protocol header' };
}

function parseVersion1(buffer: Buffer): ProxyParseResult {
  const end = buffer.subarray(0, v1MaxLength).indexOf('\r\n');
  if (end === -1) {
    return buffer.length >= v1MaxLength ? { state: 'invalid', reason: 'v1 header longer than 107 bytes' } : { state: 'incomplete' };
  }
  const length = end + 2;
  const fields = buffer.toString('latin1', 0, end).split(' ');
  const protocol = fields[1];
  if (protocol === 'UNKNOWN') return { state: 'complete', length, source: undefined }; // the rest of the line is ignored (2.1)
  if (protocol !== 'TCP4' && protocol !== 'TCP6') return { state: 'invalid', reason: `v1 protocol "${protocol ?? ''}" is not TCP4, TCP6 or UNKNOWN` };
  if (fields.length !== 6) return { state: 'invalid', reason: 'v1 header does not have 6 fields' };
  const [, , sourceAddress, destinationAddress, sourcePort, destinationPort] = fields as [string, string, string, string, string, string];
  const isAddress = protocol === 'TCP4' ? isIPv4 : isIPv6;
  if (!isAddress(sourceAddress) || !isAddress(destinationAddress)) return { state: 'invalid', reason: `v1 addresses are not ${protocol}` };
  const port = parsePort(sourcePort);
  if (port === undefined || parsePort(destinationPort) === undefined) return { state: 'invalid', reason: 'v1 port is not a number in 0..65535' };
  return { state: 'complete', length, source: { address: sourceAddress, port } };
}

function parsePort(text: string): number | undefined {
  // The specification forbids leading zeros; "0" itself is allowed.
  if (!/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseVersion2(buffer: Buffer): ProxyParseResult {
  if (buffer.length < v2FixedLength) return { state: 'incomplete' };
  const versionAndCommand = buffer[12]!;
  const familyAndTransport = buffer[13]!;
  const addressBlockLength = buffer.readUInt16BE(14);
  const length = v2FixedLength + addressBlockLength;
  if (versionAndCommand >> 4 !== 2) return { state: 'invalid', reason: `v2 version ${versionAndCommand >> 4} is not 2` };
  const command = versionAndCommand & 0x0f;
  if (command > 1) return { state: 'invalid', reason: `v2 command ${command} is neither LOCAL nor PROXY` };
  const family = familyAndTransport >> 4;
  const transport = familyAndTransport & 0x0f;
  if (family > 3 || transport > 2) return { state: 'invalid', reason: `v2 address family/transport 0x${familyAndTransport.toString(16)} is unknown` };
  if (buffer.length < length) return { state: 'incomplete' };
  // LOCAL: a health check by the proxy itself, the connection's own addresses are the real ones.
  if (command === 0) return { state: 'complete', length, source: undefined };
  const addresses = buffer.subarray(v2FixedLength, length);
  if (family === 1) {
    if (addresses.length < v2AddressLength.inet) return { state: 'invalid', reason: 'v2 IPv4 address block too short' };
    return { state: 'complete', length, source: { address: Array.from(addresses.subarray(0, 4)).join('.'), port: addresses.readUInt16BE(8) } };
  }
  if (family === 2) {
    if (addresses.length < v2AddressLength.inet6) return { state: 'invalid', reason: 'v2 IPv6 address block too short' };
    return { state: 'complete', length, source: { address: formatIPv6(addresses.subarray(0, 16)), port: addresses.readUInt16BE(32) } };
  }
  // UNSPEC or UNIX: no IP address to report.
  return { state: 'complete', length, source: undefined };
}

/** RFC 5952 text form: lower case, no leading zeros, the longest run of zero groups as "::". */
export function formatIPv6(bytes: Buffer): string {
  const groups: number[] = [];
  for (let index = 0; index < 16; index += 2) groups.push(bytes.readUInt16BE(index));
  const isMappedIPv4 = groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff;
  if (isMappedIPv4) return `::ffff:${Array.from(bytes.subarray(12, 16)).join('.')}`;
  let bestStart = -1;
  let bestLength = 0;
  for (let start = 0; start < 8; ) {
    if (groups[start] !== 0) {
      start++;
      continue;
    }
    let end = start;
    while (end < 8 && groups[end] === 0) end++;
    if (end - start > bestLength) {
      bestStart = start;
      bestLength = end - start;
    }
    start = end;
  }
  const text = groups.map((group) => group.toString(16));
  if (bestLength < 2) return text.join(':');
  return `${text.slice(0, bestStart).join(':')}::${text.slice(bestStart + bestLength).join(':')}`;
}

export type ProxyHeaderOutcome = { ok: true; source: ProxySource | undefined } | { ok: false; reason: string };

/**
 * Reads the PROXY header off a fresh socket. On success the socket is left paused with any bytes
 * after the header put back (so MQTT or the TLS handshake sees them); on failure it is destroyed.
 */
export function readProxyHeader(socket: Socket, timeoutMs: number): Promise<ProxyHeaderOutcome> {
  return new Promise((resolve) => {
    let buffered: Buffer = Buffer.alloc(0);
    const finish = (outcome: ProxyHeaderOutcome): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.off('error', onError);
      if (!outcome.ok) socket.destroy();
      resolve(outcome);
    };
    const onData = (chunk: Buffer): void => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      const result = parseProxyHeader(buffered);
      if (result.state === 'incomplete') return;
      socket.pause();
      if (result.state === 'invalid') return finish({ ok: false, reason: result.reason });
      const rest = buffered.subarray(result.length);
      if (rest.length > 0) socket.unshift(rest);
      finish({ ok: true, source: result.source });
    };
    const onClose = (): void => finish({ ok: false, reason: 'closed before the PROXY header' });
    const onError = (error: Error): void => finish({ ok: false, reason: `socket error before the PROXY header: ${error.message}` });
    const timer = setTimeout(() => finish({ ok: false, reason: `no PROXY header within ${timeoutMs} ms` }), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onClose);
    socket.once('error', onError);
  });
}

export interface ProxiedAcceptOptions {
  listener: string;
  timeoutMs: number;
  logger: Logger;
}

/**
 * Waits for the PROXY header, then calls `proceed` with the client's real address (or undefined to
 * keep the socket's). A missing, malformed or late header closes the socket with a log line.
 */
export function afterProxyHeader(socket: Socket, options: ProxiedAcceptOptions, proceed: (source: ProxySource | undefined) => void): void {
  const peer = { remoteAddress: socket.remoteAddress, remotePort: socket.remotePort };
  void readProxyHeader(socket, options.timeoutMs).then((outcome) => {
    if (outcome.ok) {
      proceed(outcome.source);
      return;
    }
    options.logger.info({ listener: options.listener, ...peer, reason: outcome.reason }, 'PROXY protocol header refused, connection closed');
  });
}
