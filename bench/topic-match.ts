// Topic matching against up to 1,000,000 subscriptions: shows that the cost of matching a PUBLISH
// topic does not grow with the number of unrelated subscriptions, and measures subscribe /
// unsubscribe rates and heap bytes per subscription.
// Run: npm run bench:match   (prints a Markdown table for BENCHMARKS.md)

import { execFileSync } from 'node:child_process';
import { availableParallelism, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { SubscriptionIndex, type SubscriberOptions } from '../src/topics/subscription-index.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const options: SubscriberOptions = { qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 };
const sizes = [10_000, 100_000, 1_000_000];
const roundIterations = 400_000;
const roundCount = 7;
const topicPoolSize = 4096;

/**
 * The bulk ("unrelated") subscriptions: one per device id, a realistic mix of exact filters and
 * wildcards. Type is chosen by id so the benchmark knows which topics match what.
 */
function bulkFilter(deviceId: number): string {
  switch (deviceId % 10) {
    case 0:
      return `devices/d${deviceId}/+`; // one device, every command channel
    case 1:
      return `devices/d${deviceId}/#`;
    case 2:
      return `fleet/+/d${deviceId}/telemetry`; // any region
    case 3:
      return `site/s${deviceId % 1000}/+/alarm/d${deviceId}`;
    default:
      return `devices/d${deviceId}/cmd`; // 60%: exact device command topics
  }
}

/** Ten filters that all match 'probe/x/y/z' and nothing in the bulk. */
const probeFilters = [
  'probe/x/y/z',
  'probe/+/y/z',
  'probe/x/+/z',
  'probe/x/y/+',
  'probe/+/+/z',
  'probe/+/+/+',
  'probe/#',
  'probe/x/#',
  'probe/x/y/#',
  'probe/x/y/z/#',
];

interface Scenario {
  name: string;
  expectedMatches: number;
  topics: string[];
}

function randomDeviceId(size: number, remainder: number): number {
  const base = Math.floor(Math.random() * Math.floor(size / 10)) * 10;
  return base + remainder;
}

function scenarios(size: number): Scenario[] {
  // Topics go through a Buffer like a decoded PUBLISH does, so they are flat strings, not the
  // concatenation ropes template literals produce.
  const pool = (make: () => string): string[] =>
    Array.from({ length: topicPoolSize }, () => Buffer.from(make(), 'utf8').toString('utf8'));
  return [
    { name: 'exact filter, 1 match', expectedMatches: 1, topics: pool(() => `devices/d${randomDeviceId(size, 5)}/cmd`) },
    {
      name: 'exact filter, 1 match, 16 hot devices',
      expectedMatches: 1,
      topics: ((hot: number[]) => pool(() => `devices/d${hot[Math.floor(Math.random() * hot.length)]!}/cmd`))(
        Array.from({ length: 16 }, () => randomDeviceId(size, 5)),
      ),
    },
    { name: "'+' filter, 1 match", expectedMatches: 1, topics: pool(() => `devices/d${randomDeviceId(size, 0)}/status`) },
    { name: "'+' under '+', 1 match", expectedMatches: 1, topics: pool(() => `fleet/eu/d${randomDeviceId(size, 2)}/telemetry`) },
    { name: '10 matches', expectedMatches: 10, topics: pool(() => 'probe/x/y/z') },
    { name: 'no match', expectedMatches: 0, topics: pool(() => `devices/unknown${Math.floor(Math.random() * 1e6)}/cmd`) },
  ];
}

function heapUsed(): number {
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

let matchedTotal = 0;
const onSubscriber = (): void => {
  matchedTotal++;
};
const onGroup = (): void => {
  matchedTotal++;
};

function measureMatch(index: SubscriptionIndex, scenario: Scenario): number {
  // Correctness check first, so a broken index cannot produce a flattering figure.
  for (const topic of scenario.topics.slice(0, 64)) {
    matchedTotal = 0;
    index.match(topic, onSubscriber, onGroup);
    if (matchedTotal !== scenario.expectedMatches) {
      throw new Error(`${scenario.name}: ${topic} matched ${matchedTotal}, expected ${scenario.expectedMatches}`);
    }
  }
  const topics = scenario.topics;
  const mask = topicPoolSize - 1;
  for (let iteration = 0; iteration < roundIterations; iteration++) index.match(topics[iteration & mask]!, onSubscriber, onGroup);
  // Several rounds, median reported: the machine may be shared, and one noisy round should not decide.
  const rounds: number[] = [];
  for (let round = 0; round < roundCount; round++) {
    // Process CPU time rather than wall time: on a shared machine, time spent descheduled is not ours.
    const started = process.cpuUsage();
    for (let iteration = 0; iteration < roundIterations; iteration++) index.match(topics[iteration & mask]!, onSubscriber, onGroup);
    rounds.push((cpuSecondsSince(started) * 1e9) / roundIterations);
  }
  rounds.sort((left, right) => left - right);
  return rounds[Math.floor(roundCount / 2)]!;
}

const controlName = 'control: one bare Map.get, Map of as many keys';

/**
 * The same random device topics looked up in a plain Map of `size` keys: what the memory hierarchy
 * alone does to one hash lookup as the table outgrows the CPU caches.
 */
function measureControl(size: number): number {
  const map = new Map<string, number>();
  for (let position = 0; position < size; position++) map.set(`devices/d${position}/cmd`, position);
  const topics = scenarios(size)[0]!.topics;
  const mask = topicPoolSize - 1;
  let found = 0;
  for (let iteration = 0; iteration < roundIterations; iteration++) if (map.get(topics[iteration & mask]!) !== undefined) found++;
  const rounds: number[] = [];
  for (let round = 0; round < roundCount; round++) {
    const started = process.cpuUsage();
    for (let iteration = 0; iteration < roundIterations; iteration++) if (map.get(topics[iteration & mask]!) !== undefined) found++;
    rounds.push((cpuSecondsSince(started) * 1e9) / roundIterations);
  }
  if (found !== roundIterations * (roundCount + 1)) throw new Error('control lookups missed');
  rounds.sort((left, right) => left - right);
  return rounds[Math.floor(roundCount / 2)]!;
}

interface SizeResult {
  size: number;
  subscribePerSecond: number;
  unsubscribePerSecond: number;
  bytesPerSubscription: number;
  bytesLeftAfterUnsubscribe: number;
  nanosecondsPerMatch: Record<string, number>;
}

/** Process CPU time (all threads, so GC work counts) since `started`. */
function cpuSecondsSince(started: NodeJS.CpuUsage): number {
  const spent = process.cpuUsage(started);
  return (spent.user + spent.system) / 1e6;
}

function runSize(size: number): SizeResult {
  // Client ids live in sessions anyway, so they are made before the baseline; filter strings are
  // made during subscribe, as a decoded SUBSCRIBE would, so the figure includes them.
  const clientIds = Array.from({ length: size }, (_, position) => `client-${position}`);
  const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
  const baseline = heapUsed();
  const subscribeStarted = process.cpuUsage();
  for (let position = 0; position < size; position++) index.subscribe(clientIds[position]!, bulkFilter(position), options);
  const subscribeSeconds = cpuSecondsSince(subscribeStarted);
  for (const filter of probeFilters) index.subscribe('probe-client', filter, options);
  const full = heapUsed();
  if (index.subscriptionCount !== size + probeFilters.length) throw new Error('subscription count mismatch');

  const nanosecondsPerMatch: Record<string, number> = {};
  for (const scenario of scenarios(size)) {
    collectGarbage(); // so that no GC work left over from building the index lands in a timing
    nanosecondsPerMatch[scenario.name] = measureMatch(index, scenario);
  }

  const unsubscribeStarted = process.cpuUsage();
  for (let position = 0; position < size; position++) index.unsubscribe(clientIds[position]!, bulkFilter(position));
  const unsubscribeSeconds = cpuSecondsSince(unsubscribeStarted);
  for (const filter of probeFilters) index.unsubscribe('probe-client', filter);
  if (index.subscriptionCount !== 0 || index.trieNodeCount !== 0) throw new Error('index not empty after unsubscribing all');
  const after = heapUsed();
  nanosecondsPerMatch[controlName] = measureControl(size);
  // Keeps the client ids alive up to here: they were in the baseline, so they must be in `after` too.
  if (clientIds.length !== size) throw new Error('client ids lost');

  return {
    size,
    subscribePerSecond: size / subscribeSeconds,
    // Includes building each filter string again, as the subscribe figure does.
    unsubscribePerSecond: size / unsubscribeSeconds,
    bytesPerSubscription: (full - baseline) / size,
    bytesLeftAfterUnsubscribe: after - baseline,
    nanosecondsPerMatch,
  };
}

function format(value: number, digits = 0): string {
  return value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Heap bytes per subscription for each kind of bulk filter on its own (200,000 of one kind). */
function bytesPerFilterKind(): Record<string, number> {
  const count = 200_000;
  const clientIds = Array.from({ length: count }, (_, position) => `client-${position}`);
  const result: Record<string, number> = {};
  // One id per kind in bulkFilter's rotation: 0..3 are the wildcard kinds, 4 the exact one.
  for (const kind of [4, 0, 1, 2, 3]) {
    const index = new SubscriptionIndex({ sharedStrategy: 'round-robin' });
    const baseline = heapUsed();
    for (let position = 0; position < count; position++) {
      index.subscribe(clientIds[position]!, bulkFilter(position * 10 + kind), options);
    }
    const full = heapUsed();
    // Referenced after the measurement so the index is certainly alive during it.
    if (index.subscriptionCount !== count) throw new Error('subscription count mismatch');
    result[bulkFilter(kind).replace(/\d+/g, '{n}')] = (full - baseline) / count;
  }
  if (clientIds.length !== count) throw new Error('client ids lost');
  return result;
}

// Each size runs in a fresh child process so that heap figures and timings of one size are not
// disturbed by the garbage and JIT state of another.
const requestedSize = process.argv[2];
if (requestedSize !== undefined) {
  process.stdout.write(JSON.stringify(requestedSize === 'kinds' ? bytesPerFilterKind() : runSize(Number(requestedSize))));
  process.exit(0);
}
const loadAverageAtStart = loadavg();
const selfPath = fileURLToPath(import.meta.url);
const results = sizes.map(
  (size) => JSON.parse(execFileSync(process.execPath, [...process.execArgv, selfPath, String(size)], { encoding: 'utf8' })) as SizeResult,
);
const kinds = JSON.parse(execFileSync(process.execPath, [...process.execArgv, selfPath, 'kinds'], { encoding: 'utf8' })) as Record<
  string,
  number
>;

console.log(`machine: ${availableParallelism()} CPUs, node ${process.version}, ${new Date().toISOString()}`);
console.log(`load average at start: ${loadAverageAtStart.map((load) => load.toFixed(2)).join(' ')}`);
console.log(
  `match: CPU time, median of ${roundCount} rounds of ${format(roundIterations)} calls per cell, cycling over ${topicPoolSize} distinct topics\n`,
);
console.log(`| ns per match | ${results.map((result) => `${format(result.size)} subs`).join(' | ')} |`);
console.log(`|---|${results.map(() => '---:').join('|')}|`);
for (const name of [...scenarios(sizes[0]!).map((scenario) => scenario.name), controlName]) {
  const cells = results.map((result) => format(result.nanosecondsPerMatch[name]!));
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
console.log(`| subscribe / CPU-second | ${results.map((result) => format(result.subscribePerSecond)).join(' | ')} |`);
console.log(`| unsubscribe / CPU-second | ${results.map((result) => format(result.unsubscribePerSecond)).join(' | ')} |`);
console.log(`| heap bytes / subscription | ${results.map((result) => format(result.bytesPerSubscription)).join(' | ')} |`);
console.log(`| heap left after unsubscribing all (bytes) | ${results.map((result) => format(result.bytesLeftAfterUnsubscribe)).join(' | ')} |`);

console.log('\n| filter kind (200,000 of one kind) | heap bytes / subscription |');
console.log('|---|---:|');
for (const [kind, bytes] of Object.entries(kinds)) console.log(`| \`${kind}\` | ${format(bytes)} |`);
