// Durable QoS 1 throughput, side by side in one run: Petrel in `sync` (acknowledge after fsync),
// `async` (acknowledge first, flush within storage.asyncFlushMs) and `memory` modes, and Mosquitto
// with persistence on. Two scenarios with persistent-session subscribers, so that every message
// is queued in a session the broker must keep: fan-in (10 publishers -> 1 subscriber) and
// point-to-point (10 pairs). Each broker is a fresh process on a fresh data directory per run;
// contenders alternate within a round and the order is reversed every round; medians are reported.
// The load comes from the project's generator (src/bench: runFanin, runP2p).
//
// Run: npm run bench:durable   (builds, then runs dist/bench/durable.js)
// Environment: BENCH_ROUNDS (3), BENCH_SECONDS (5 per run), BENCH_INFLIGHT (100 per publisher),
// BENCH_CONTENDERS (comma list),
// BENCH_CPU_PROF=<dir> (Petrel brokers run with --cpu-prof, profiles written there),
// BENCH_NODE_ARGS (more node options for the Petrel brokers, space-separated),
// BENCH_DATA_ROOT=<dir> (parent of the data directories; default the system's temporary directory).

import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runFanin, runP2p, type TrafficInput, type TrafficSummary } from '../src/bench/index.js';
import { accepts, BrokerProcess, sleep } from '../test/durability/broker-process.js';
import { freePort } from '../src/bench/loopback-port.js';

const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const seconds = Number(process.env.BENCH_SECONDS ?? 5);
/** Unacknowledged QoS 1 publishes per publisher (the generator's --inflight). */
const inflight = Number(process.env.BENCH_INFLIGHT ?? 100);
const cpuProfileDir = process.env.BENCH_CPU_PROF;
/** More options for the Petrel brokers' node, space-separated (e.g. `--heap-prof --heap-prof-dir=/tmp/heap`). */
const extraNodeArgs = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter((argument) => argument !== '');
/** Where data directories are made (e.g. /dev/shm to take the disk's fsync latency out). */
const dataRoot = process.env.BENCH_DATA_ROOT ?? tmpdir();
const mosquittoBinary = '/usr/sbin/mosquitto';

type ContenderName = 'petrel-sync' | 'petrel-async' | 'petrel-memory' | 'mosquitto';
const allContenders: ContenderName[] = ['petrel-sync', 'petrel-async', 'petrel-memory', 'mosquitto'];
const contenders = (process.env.BENCH_CONTENDERS?.split(',') as ContenderName[] | undefined) ?? allContenders;

interface Scenario {
  name: string;
  run(input: TrafficInput): Promise<TrafficSummary>;
}

const scenarios: Scenario[] = [
  { name: 'fan-in 10 -> 1', run: (input) => runFanin({ ...input, publishers: 10 }) },
  { name: 'p2p 10 pairs', run: (input) => runP2p({ ...input, pairs: 10 }) },
];

interface RunningBroker {
  port: number;
  pid: number;
  /** Bytes in the data directory just before stopping. */
  dataBytes(): number;
  stop(): Promise<void>;
}

function directoryBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) {
    const entry = statSync(join(dir, name));
    total += entry.isDirectory() ? directoryBytes(join(dir, name)) : entry.size;
  }
  return total;
}

async function startPetrel(mode: 'sync' | 'async' | 'memory'): Promise<RunningBroker> {
  const dataDir = mkdtempSync(join(dataRoot, `petrel-bench-durable-${mode}-`));
  const profileArgs = cpuProfileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${cpuProfileDir}`, `--cpu-prof-name=petrel-${mode}-${Date.now()}.cpuprofile`];
  const nodeArgs = [...profileArgs, ...extraNodeArgs];
  const broker = await BrokerProcess.start({
    port: await freePort(),
    dataDir,
    nodeArgs,
    // The queue limit is raised like Mosquitto's below: a fan-in at full speed must not be measured by its drops.
    env: { PETREL_STORAGE__MODE: mode, PETREL_LIMITS__MAX_QUEUED_MESSAGES: '10000000' },
  });
  return {
    port: broker.port,
    pid: broker.pid,
    dataBytes: () => directoryBytes(dataDir),
    stop: async () => {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

async function startMosquitto(): Promise<RunningBroker> {
  const port = await freePort();
  const directory = mkdtempSync(join(dataRoot, 'petrel-bench-durable-mosquitto-'));
  const configFile = join(directory, 'mosquitto.conf');
  // Persistence on: Mosquitto keeps its state in memory and writes the whole database every
  // autosave_interval seconds (and at exit); it never fsyncs per message, so it is closest to
  // Petrel's async mode with a 1 s window.
  writeFileSync(
    configFile,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${directory}/`,
      'autosave_interval 1',
      'max_queued_messages 10000000',
      '',
    ].join('\n'),
  );
  const child = spawn(mosquittoBinary, ['-c', configFile], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const failed = new Promise<Error>((resolve) => child.once('error', resolve));
  const deadline = Date.now() + 5000;
  for (;;) {
    const ready = await Promise.race([accepts(port), failed]);
    if (ready instanceof Error) throw new Error(`cannot run ${mosquittoBinary}: ${ready.message} (apt-get install mosquitto)`);
    if (ready) break;
    if (Date.now() > deadline || child.exitCode !== null) {
      child.kill('SIGKILL');
      throw new Error('mosquitto did not start');
    }
    await sleep(50);
  }
  return {
    port,
    pid: child.pid ?? 0,
    dataBytes: () => directoryBytes(directory),
    stop: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

function startContender(name: ContenderName): Promise<RunningBroker> {
  switch (name) {
    case 'petrel-sync':
      return startPetrel('sync');
    case 'petrel-async':
      return startPetrel('async');
    case 'petrel-memory':
      return startPetrel('memory');
    case 'mosquitto':
      return startMosquitto();
  }
}

interface Sample {
  delivered: number;
  acknowledged: number;
  lost: number;
  cpuPercent: number;
  dataBytes: number;
}

function median(values: number[]): number {
  const sorted = [...values].sort((left, right) => left - right);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

function rate(value: number): string {
  return value >= 1000 ? `${(value / 1000).toFixed(1)} k` : value.toFixed(0);
}

async function measure(scenario: Scenario, name: ContenderName): Promise<Sample> {
  const broker = await startContender(name);
  try {
    const summary = await scenario.run({
      port: broker.port,
      qos: 1,
      inflight,
      durationSeconds: seconds,
      drainSeconds: 10,
      persistentSubscribers: true,
      brokerPids: [broker.pid],
    });
    const sample: Sample = {
      delivered: summary.throughput.deliveredPerSecond,
      acknowledged: summary.messages.acknowledged / summary.throughput.sendSeconds,
      lost: summary.messages.lost,
      cpuPercent: summary.broker?.cpuPercent ?? 0,
      dataBytes: broker.dataBytes(),
    };
    return sample;
  } finally {
    await broker.stop();
  }
}

async function main(): Promise<void> {
  if (cpuProfileDir !== undefined) mkdirSync(cpuProfileDir, { recursive: true });
  const startedAt = new Date();
  const loadBefore = loadavg();
  console.log(`durable QoS 1 throughput: ${rounds} rounds of ${seconds} s per contender and scenario, ${inflight} in flight per publisher; ${cpus().length} CPUs (${cpus()[0]?.model ?? '?'}), node ${process.version}`);
  console.log(`data directories under ${dataRoot}`);
  console.log(`load average at start: ${loadBefore.map((value) => value.toFixed(2)).join(' ')}`);
  const samples = new Map<string, Sample[]>();
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? contenders : [...contenders].reverse();
    for (const scenario of scenarios) {
      for (const name of order) {
        const sample = await measure(scenario, name);
        const key = `${scenario.name}\u0000${name}`;
        samples.set(key, [...(samples.get(key) ?? []), sample]);
        console.log(
          `round ${round} ${scenario.name.padEnd(15)} ${name.padEnd(14)} delivered ${rate(sample.delivered).padStart(8)}/s  acknowledged ${rate(sample.acknowledged).padStart(8)}/s  lost ${sample.lost}  broker CPU ${sample.cpuPercent.toFixed(0)}%  data ${(sample.dataBytes / 1e6).toFixed(1)} MB`,
        );
      }
    }
  }
  const loadAfter = loadavg();
  console.log(`\nload average at end: ${loadAfter.map((value) => value.toFixed(2)).join(' ')}; started ${startedAt.toISOString()}\n`);
  console.log('| scenario | broker | delivered msgs/s (median) | acknowledged msgs/s (median) | vs petrel-memory | vs mosquitto | lost | broker CPU |');
  console.log('|---|---|---|---|---|---|---|---|');
  for (const scenario of scenarios) {
    const medianOf = (name: ContenderName): number | undefined => {
      const list = samples.get(`${scenario.name}\u0000${name}`);
      return list === undefined ? undefined : median(list.map((sample) => sample.delivered));
    };
    const memory = medianOf('petrel-memory');
    const mosquitto = medianOf('mosquitto');
    for (const name of contenders) {
      const list = samples.get(`${scenario.name}\u0000${name}`)!;
      const delivered = median(list.map((sample) => sample.delivered));
      const acknowledged = median(list.map((sample) => sample.acknowledged));
      const lost = list.reduce((sum, sample) => sum + sample.lost, 0);
      const cpu = median(list.map((sample) => sample.cpuPercent));
      const versus = (base: number | undefined): string => (base === undefined || base === 0 ? '–' : `${(delivered / base).toFixed(2)}x`);
      console.log(`| ${scenario.name} | ${name} | ${rate(delivered)} | ${rate(acknowledged)} | ${versus(memory)} | ${versus(mosquitto)} | ${lost} | ${cpu.toFixed(0)}% |`);
    }
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
