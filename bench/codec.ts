// Codec micro-benchmark: Petrel vs mqtt-packet, decode and encode, side by side.
// Run: npm run bench:codec   (builds, then runs dist/bench/codec.js)
import { cpus } from 'node:os';
import mqttPacket from 'mqtt-packet';
import { PacketDecoder, PublishEncoder, encodePacket } from '../src/protocol/index.js';
import type { Packet, ProtocolVersion } from '../src/protocol/index.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 300);

interface Scenario {
  name: string;
  version: ProtocolVersion;
  petrel: Packet;
  /** The same packet in mqtt-packet's shape. */
  legacy: mqttPacket.Packet;
}

function publishScenario(name: string, payloadSize: number, version: ProtocolVersion): Scenario {
  const payload = Buffer.alloc(payloadSize, 0x61);
  const properties = version === 5 ? { contentType: 'text/plain', messageExpiryInterval: 60 } : undefined;
  return {
    name,
    version,
    petrel: { type: 'publish', topic: 'sensors/building-1/floor-2/temperature', payload, qos: 1, retain: false, dup: false, packetId: 1234, properties },
    legacy: {
      cmd: 'publish',
      topic: 'sensors/building-1/floor-2/temperature',
      payload,
      qos: 1,
      retain: false,
      dup: false,
      messageId: 1234,
      ...(properties ? { properties } : {}),
    },
  };
}

const scenarios: Scenario[] = [
  publishScenario('PUBLISH 16 B v4', 16, 4),
  publishScenario('PUBLISH 16 B v5', 16, 5),
  publishScenario('PUBLISH 64 KiB v4', 65_536, 4),
  publishScenario('PUBLISH 64 KiB v5', 65_536, 5),
  {
    name: 'CONNECT v4',
    version: 4,
    petrel: { type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'bench-client-0001', username: 'user', password: Buffer.from('secret') },
    legacy: { cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 60, clientId: 'bench-client-0001', username: 'user', password: Buffer.from('secret') },
  },
  {
    name: 'CONNECT v5',
    version: 5,
    petrel: {
      type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'bench-client-0001',
      properties: { sessionExpiryInterval: 3600, receiveMaximum: 100 },
    },
    legacy: {
      cmd: 'connect', protocolId: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'bench-client-0001',
      properties: { sessionExpiryInterval: 3600, receiveMaximum: 100 },
    },
  },
  {
    name: 'SUBSCRIBE v4 (3 filters)',
    version: 4,
    petrel: {
      type: 'subscribe', packetId: 7,
      subscriptions: ['sensors/+/temperature', 'alerts/#', 'devices/42/state'].map((topicFilter) => ({ topicFilter, qos: 1 as const, noLocal: false, retainAsPublished: false, retainHandling: 0 as const })),
    },
    legacy: { cmd: 'subscribe', messageId: 7, subscriptions: ['sensors/+/temperature', 'alerts/#', 'devices/42/state'].map((topic) => ({ topic, qos: 1 as const })) },
  },
  {
    name: 'SUBSCRIBE v5 (3 filters)',
    version: 5,
    petrel: {
      type: 'subscribe', packetId: 7,
      subscriptions: ['sensors/+/temperature', 'alerts/#', 'devices/42/state'].map((topicFilter) => ({ topicFilter, qos: 1 as const, noLocal: true, retainAsPublished: false, retainHandling: 1 as const })),
    },
    legacy: {
      cmd: 'subscribe', messageId: 7,
      subscriptions: ['sensors/+/temperature', 'alerts/#', 'devices/42/state'].map((topic) => ({ topic, qos: 1 as const, nl: true, rap: false, rh: 1 })),
    },
  },
];

/** Run fn (which does `opsPerCall` operations) repeatedly for ROUND_MS; return ops/s. */
function measure(fn: () => void, opsPerCall: number): number {
  const deadline = process.hrtime.bigint() + BigInt(ROUND_MS) * 1_000_000n;
  let calls = 0;
  const start = process.hrtime.bigint();
  let now = start;
  do {
    fn();
    calls++;
    if ((calls & 7) === 0) now = process.hrtime.bigint();
  } while (now < deadline);
  now = process.hrtime.bigint();
  return (calls * opsPerCall) / (Number(now - start) / 1e9);
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

interface Contender {
  name: string;
  run: () => void;
  ops: number;
}

let sink = 0; // keeps results observable so the work is not optimised away

function decodeContenders(scenario: Scenario): [Contender, Contender] {
  const bytes = encodePacket(scenario.petrel, scenario.version);
  // Both decoders read the same bytes (mqtt-packet orders properties differently when it encodes).
  // A stream chunk carrying many packets, as a busy socket delivers them.
  const copies = Math.max(8, Math.min(1000, Math.floor(1_000_000 / bytes.length)));
  const stream = Buffer.concat(Array.from({ length: copies }, () => bytes));
  const decoder = new PacketDecoder(() => sink++, { protocolVersion: scenario.version });
  const parser = mqttPacket.parser({ protocolVersion: scenario.version });
  parser.on('packet', () => sink++);
  parser.on('error', (error: Error) => {
    throw error;
  });
  return [
    { name: 'petrel', run: () => decoder.push(stream), ops: copies },
    { name: 'mqtt-packet', run: () => void parser.parse(stream), ops: copies },
  ];
}

function encodeContenders(scenario: Scenario): Contender[] {
  const petrel = scenario.petrel;
  const legacy = scenario.legacy;
  const options = { protocolVersion: scenario.version };
  const contenders: Contender[] = [
    { name: 'petrel', run: () => (sink += encodePacket(petrel, scenario.version).length), ops: 1 },
    { name: 'mqtt-packet', run: () => (sink += mqttPacket.generate(legacy, options).length), ops: 1 },
  ];
  if (petrel.type === 'publish') {
    // Fan-out path: one PublishEncoder per message, one header per subscriber (payload not copied).
    const encoder = new PublishEncoder({ topic: petrel.topic, payload: petrel.payload, properties: petrel.properties }, scenario.version);
    let packetId = 1;
    contenders.push({
      name: 'petrel fan-out header',
      run: () => {
        packetId = packetId === 65_535 ? 1 : packetId + 1;
        sink += encoder.header({ qos: 1, retain: false, packetId }).length;
      },
      ops: 1,
    });
  }
  return contenders;
}

function format(opsPerSecond: number): string {
  return opsPerSecond >= 1e6 ? `${(opsPerSecond / 1e6).toFixed(2)} M` : `${(opsPerSecond / 1e3).toFixed(1)} k`;
}

function runGroup(kind: string, scenario: Scenario, contenders: Contender[]): string[] {
  const samples = contenders.map(() => [] as number[]);
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate the order so neither side always runs first (warm caches, GC debt).
    const order = round % 2 === 0 ? contenders.map((_, index) => index) : contenders.map((_, index) => index).reverse();
    for (const index of order) samples[index]!.push(measure(contenders[index]!.run, contenders[index]!.ops));
  }
  const medians = samples.map(median);
  const baseline = medians[contenders.findIndex((contender) => contender.name === 'mqtt-packet')]!;
  return contenders.map(
    (contender, index) =>
      `| ${kind} | ${scenario.name} | ${contender.name} | ${format(medians[index]!)} | ${(medians[index]! / baseline).toFixed(2)}x |`,
  );
}

function main(): void {
  console.log(`# codec benchmark — node ${process.version}, ${cpus().length} CPUs (${cpus()[0]?.model ?? 'unknown'}), ${new Date().toISOString()}`);
  console.log(`# ${ROUNDS} alternating rounds of ${ROUND_MS} ms each; median ops/s; ratio vs mqtt-packet`);
  console.log('| op | packet | codec | ops/s | vs mqtt-packet |');
  console.log('|---|---|---|---|---|');
  for (const scenario of scenarios) {
    for (const line of runGroup('decode', scenario, decodeContenders(scenario))) console.log(line);
  }
  for (const scenario of scenarios) {
    for (const line of runGroup('encode', scenario, encodeContenders(scenario))) console.log(line);
  }
  if (sink === 0) console.log('(no work done)');
}

main();
