// Loopback source addresses: one address has only ~28k ephemeral ports towards a
// given broker port, but on Linux every address in 127.0.0.0/8 is local, so
// spreading connections over several of them lifts that ceiling.
import { isIPv4 } from 'node:net';

/** Up to this many connections, one address and the kernel's own port choice. */
const PORTS_PER_ADDRESS = 25_000; // below the 28,232 ports of the default ip_local_port_range
/**
 * With source addresses, each socket is bound before it connects, and bind() searches the
 * address's port range for a free port: the fuller the range, the longer the search (a 110k run
 * over five addresses spent half the machine's CPU in the kernel and slowed to a few hundred
 * connects per second). Spreading over more addresses keeps each range sparse.
 */
const BOUND_PORTS_PER_ADDRESS = 4_000;

function ipv4ToNumber(address: string): number {
  return address.split('.').reduce((value, part) => value * 256 + Number(part), 0);
}

function numberToIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff].join('.');
}

/** Parse "127.0.0.1-127.0.0.8,127.0.1.1" into a list of addresses. */
export function parseLocalAddresses(spec: string): string[] {
  const addresses: string[] = [];
  for (const part of spec.split(',').map((item) => item.trim()).filter((item) => item.length > 0)) {
    const [first, last] = part.split('-').map((item) => item.trim());
    if (first === undefined || !isIPv4(first) || (last !== undefined && !isIPv4(last))) {
      throw new RangeError(`invalid local address or range '${part}' (IPv4 only)`);
    }
    if (last === undefined) {
      addresses.push(first);
      continue;
    }
    const start = ipv4ToNumber(first);
    const end = ipv4ToNumber(last);
    if (end < start) throw new RangeError(`empty address range '${part}'`);
    for (let value = start; value <= end; value++) addresses.push(numberToIpv4(value));
  }
  if (addresses.length === 0) throw new RangeError('no local address given');
  return addresses;
}

export function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || (isIPv4(host) && host.startsWith('127.'));
}

/**
 * Enough loopback addresses for `connections`, or none (let the kernel choose)
 * when one address suffices or the broker is not on loopback.
 */
export function automaticLocalAddresses(host: string, connections: number): string[] {
  if (!isLoopbackHost(host) || connections <= PORTS_PER_ADDRESS) return [];
  const count = Math.ceil(connections / BOUND_PORTS_PER_ADDRESS);
  return Array.from({ length: count }, (_, index) => numberToIpv4(ipv4ToNumber('127.0.0.1') + index));
}
