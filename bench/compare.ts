// bench:compare — Petrel, Mosquitto and Aedes side by side, in one run on this machine, with
// `petrel bench` as the load generator; writes the "Side-by-side" section of BENCHMARKS.md.
// Run: npm run bench:compare   (builds, then runs dist/bench/compare.js)
//
// Two views: per core (every broker pinned to core 0 with taskset, the generator to core 1;
// Petrel as one process) and whole machine (nothing pinned; Petrel with --workers).
// Environment (defaults in brackets):
//   BENCH_SECONDS [10]      sending time of each traffic scenario
//   BENCH_ROUNDS [1]        rounds; the table shows medians, brokers alternate order every round
//   BENCH_VIEWS [core,machine]
//   BENCH_BROKERS [petrel,mosquitto,aedes]   add petrel-sync for Petrel over its durable (sync) store
//   BENCH_SCENARIOS         comma-separated substrings of scenario names to keep (e.g. "fan-in,idle")
//   BENCH_WORKERS [2]       Petrel's workers in the whole-machine traffic scenarios
//   BENCH_IDLE_CORE [19000] idle connections in the per-core view (one process holds < 20,000 files)
//   BENCH_IDLE_MACHINE [110000]  idle connections to Petrel in the whole-machine view
//   BENCH_IDLE_SINGLE [21000]    ... to the single-process brokers there (enough to show where they stop)
//   BENCH_IDLE_HOLD [75]    seconds the idle connections are held before the memory is read (long
//                           enough for V8's memory reducer to collect the connect burst's garbage)
//   BENCH_OUTPUT [BENCHMARKS.md]
//   BENCH_REALTIME [0]      1: pinned processes (per-core view) also run under `chrt -r 10`
// bench/compare-notes.md, if present, is appended to the section (the analysis of the figures).
import { existsSync, readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ConnSummary, TrafficSummary } from '../src/bench/index.js';
import { startBroker, type BrokerKind, type BrokerLaunch, type RunningBroker } from './compare-brokers.js';
import { machineFacts } from './compare-machine.js';
import { pinningNote } from './compare-pinning.js';
import {
  deliveredPerCpuSecond,
  deliveredRate,
  emptyCell,
  idleFigures,
  latencyOf,
  renderSection,
  writeSection,
  type CellResults,
  type ViewResults,
} from './compare-report.js';
import { runGenerator, trafficScenarios, type IdleScenario, type Scenario } from './compare-scenarios.js';

function repositoryRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error('package.json not found above this script');
    directory = parent;
  }
  return directory;
}

function numberSetting(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number (got '${raw}')`);
  return value;
}

function listSetting(name: string, fallback: string[]): string[] {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  return raw.split(',').map((item) => item.trim()).filter((item) => item.length > 0);
}

const root = repositoryRoot();
const seconds = numberSetting('BENCH_SECONDS', 10);
const rounds = numberSetting('BENCH_ROUNDS', 1);
const views = listSetting('BENCH_VIEWS', ['core', 'machine']);
const brokerKinds = listSetting('BENCH_BROKERS', ['petrel', 'mosquitto', 'aedes']) as BrokerKind[];
const scenarioFilter = listSetting('BENCH_SCENARIOS', []);
const workers = numberSetting('BENCH_WORKERS', 2);
const idleCore = numberSetting('BENCH_IDLE_CORE', 19_000);
const idleMachine = numberSetting('BENCH_IDLE_MACHINE', 110_000);
const idleSingle = numberSetting('BENCH_IDLE_SINGLE', 21_000);
const idleHold = numberSetting('BENCH_IDLE_HOLD', 75);
const output = resolve(root, process.env.BENCH_OUTPUT ?? 'BENCHMARKS.md');

const GENERATOR_CORE = 1;
const BROKER_CORE = 0;
const CONNECTIONS_PER_WORKER = 16_000; // under the 20,000 open files a process may hold here

function log(message: string): void {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function wanted(scenario: Scenario): boolean {
  return scenarioFilter.length === 0 || scenarioFilter.some((part) => scenario.name.includes(part));
}

interface ViewPlan {
  id: 'core' | 'machine';
  title: string;
  description: string;
  brokerCore: number | undefined;
  generatorCore: number | undefined;
  /** How each broker is launched for traffic scenarios. */
  launches: BrokerLaunch[];
  idle: IdleScenario;
  /** Connections to attempt against each broker in the idle scenario, and Petrel's workers for it. */
  idleTarget(kind: BrokerKind): { connections: number; workers: number };
}

function launchFor(kind: BrokerKind, core: number | undefined, workerCount: number): BrokerLaunch {
  const launch: BrokerLaunch = { kind, repoRoot: root, workers: kind.startsWith('petrel') ? workerCount : 1 };
  if (core !== undefined) launch.core = core;
  return launch;
}

function plans(): ViewPlan[] {
  const all: ViewPlan[] = [];
  if (views.includes('core')) {
    all.push({
      id: 'core',
      title: 'Per core: each broker pinned to core 0, generator on core 1',
      description:
        `Brokers under \`taskset -c ${BROKER_CORE}\`, \`petrel bench\` under \`taskset -c ${GENERATOR_CORE}\`; Petrel is one process (\`petrel start --workers 1\`, ` +
        'storage mode `memory`; "petrel sync store" rows, when present, use the durable LMDB store in `sync` mode), Mosquitto without persistence.' +
        pinningNote(),
      brokerCore: BROKER_CORE,
      generatorCore: GENERATOR_CORE,
      launches: brokerKinds.map((kind) => launchFor(kind, BROKER_CORE, 1)),
      idle: { kind: 'idle', name: `idle, ${idleCore.toLocaleString('en-US')} attempted`, connections: idleCore, rate: 0, holdSeconds: idleHold },
      idleTarget: () => ({ connections: idleCore, workers: 1 }),
    });
  }
  if (views.includes('machine')) {
    const petrelIdleWorkers = Math.max(workers, Math.ceil(idleMachine / CONNECTIONS_PER_WORKER));
    all.push({
      id: 'machine',
      title: 'Whole machine: nothing pinned',
      description:
        `Brokers and generator unpinned. Petrel runs \`petrel start --workers ${workers}\` for traffic and \`--workers ${petrelIdleWorkers}\` for the idle ` +
        `connections (a process may hold 20,000 open files here); Mosquitto and Aedes are single processes. Idle: ${idleMachine.toLocaleString('en-US')} ` +
        `connections attempted to Petrel, ${idleSingle.toLocaleString('en-US')} to the single-process brokers (enough to show where they stop).`,
      brokerCore: undefined,
      generatorCore: undefined,
      launches: brokerKinds.map((kind) => launchFor(kind, undefined, workers)),
      idle: { kind: 'idle', name: 'idle, as many as each broker holds', connections: idleMachine, rate: 0, holdSeconds: idleHold },
      idleTarget: (kind) =>
        kind.startsWith('petrel') ? { connections: idleMachine, workers: petrelIdleWorkers } : { connections: idleSingle, workers: 1 },
    });
  }
  return all;
}

function cellOf(view: ViewResults, scenario: string, label: string): CellResults {
  let row = view.cells.get(scenario);
  if (row === undefined) {
    row = new Map();
    view.cells.set(scenario, row);
  }
  let cell = row.get(label);
  if (cell === undefined) {
    cell = emptyCell();
    row.set(label, cell);
  }
  return cell;
}

/** Idle scenario: a fresh broker per run, so the RSS before is a just-started broker's. */
async function runIdle(plan: ViewPlan, view: ViewResults, round: number): Promise<void> {
  const order = rotate(plan.launches, round);
  for (const base of order) {
    const target = plan.idleTarget(base.kind);
    const launch: BrokerLaunch = { ...base, workers: base.kind.startsWith('petrel') ? target.workers : 1 };
    let broker: RunningBroker;
    try {
      broker = await startBroker(launch);
    } catch (error) {
      const label = launch.kind.startsWith('petrel') ? `${launch.kind} ×${target.workers}` : launch.kind;
      view.unavailable.push({ label: `${label} (idle)`, reason: (error as Error).message });
      log(`${label}: ${(error as Error).message}`);
      continue;
    }
    if (!view.brokers.includes(broker.label)) view.brokers.push(broker.label);
    view.scenarioKinds.set(plan.idle.name, 'idle');
    view.loadAverages.push(loadavg()[0] ?? 0);
    // Let a just-started Node broker settle (JIT, first GC) before the "before" RSS is read.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    const args = ['conn', '-c', String(target.connections), '-r', String(plan.idle.rate), '--hold', String(plan.idle.holdSeconds), '--connect-timeout', '30000'];
    log(`${plan.id} | ${broker.label} | idle ${target.connections}`);
    const result = await runGenerator<ConnSummary>(root, args, broker.port, broker.pids(), plan.generatorCore, 600_000);
    const cell = cellOf(view, plan.idle.name, broker.label);
    if (result.summary === null) cell.errors.push(result.error ?? 'no summary');
    else {
      cell.idle.push(result.summary);
      if (result.summary.brokerError !== undefined) cell.errors.push(result.summary.brokerError);
    }
    const figures = idleFigures(cell);
    if (figures !== null) log(`  held ${figures.connected}, ${figures.connectsPerSecond}/s, ${(figures.bytesPerConnection / 1024).toFixed(2)} KB per connection`);
    await broker.stop();
  }
}

function rotate<T>(items: T[], by: number): T[] {
  const shift = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

async function runView(plan: ViewPlan): Promise<ViewResults> {
  const view: ViewResults = {
    title: plan.title,
    description: plan.description,
    brokers: [],
    unavailable: [],
    cells: new Map(),
    scenarioKinds: new Map(),
    loadAverages: [],
  };
  const traffic = trafficScenarios(seconds).filter(wanted);
  for (let round = 0; round < rounds; round++) {
    if (wanted(plan.idle)) await runIdle(plan, view, round);
    if (traffic.length === 0) continue;
    // Traffic: every broker stays up for the whole round; scenarios alternate between them.
    const running: RunningBroker[] = [];
    for (const launch of plan.launches) {
      try {
        running.push(await startBroker(launch));
      } catch (error) {
        const label = launch.kind.startsWith('petrel') && (launch.workers ?? 1) > 1 ? `${launch.kind} ×${launch.workers}` : launch.kind;
        if (!view.unavailable.some((entry) => entry.label === label)) view.unavailable.push({ label, reason: (error as Error).message });
        log(`${label}: ${(error as Error).message}`);
      }
    }
    for (const broker of running) if (!view.brokers.includes(broker.label)) view.brokers.push(broker.label);
    try {
      for (const [index, scenario] of traffic.entries()) {
        view.scenarioKinds.set(scenario.name, scenario.measure);
        for (const broker of rotate(running, index + round)) {
          view.loadAverages.push(loadavg()[0] ?? 0);
          log(`${plan.id} | ${broker.label} | ${scenario.name} (round ${round + 1}/${rounds})`);
          const result = await runGenerator<TrafficSummary>(root, scenario.args, broker.port, broker.pids(), plan.generatorCore, (seconds + 90) * 1000);
          const cell = cellOf(view, scenario.name, broker.label);
          if (result.summary === null) {
            cell.errors.push(result.error ?? 'no summary');
            log(`  failed: ${result.error ?? ''}`);
            continue;
          }
          cell.traffic.push(result.summary);
          const s = result.summary;
          log(
            `  delivered ${Math.round(s.throughput.deliveredPerSecond)}/s, lost ${s.messages.lost}, p99 ${s.latency.p99Ms} ms, broker ${s.broker?.cpuPercent ?? '?'}% cpu, generator ${s.generator.cpuPercent}%`,
          );
        }
      }
    } finally {
      for (const broker of running) await broker.stop();
    }
  }
  return view;
}

/** The targets, checked against this run. */
function targetLines(results: ViewResults[]): string[] {
  const lines: string[] = ['Judged on delivered messages per second (the ratio per CPU-second is shown alongside):', '', '| target | measured | met |', '|---|---|---|'];
  const core = results.find((view) => view.title.startsWith('Per core'));
  const machine = results.find((view) => view.title.startsWith('Whole machine'));
  if (core !== undefined && core.brokers.includes('petrel')) {
    for (const [name, kind] of core.scenarioKinds) {
      const row = core.cells.get(name);
      if (kind === 'throughput') {
        const petrel = deliveredRate(row?.get('petrel'));
        const mosquitto = deliveredRate(row?.get('mosquitto'));
        const aedes = deliveredRate(row?.get('aedes'));
        const petrelPerCpu = deliveredPerCpuSecond(row?.get('petrel'));
        const perCpu = (other: string): string => `; ${(petrelPerCpu / deliveredPerCpuSecond(row?.get(other))).toFixed(2)}x per CPU-second`;
        if (Number.isFinite(mosquitto)) {
          const met = petrel >= mosquitto;
          lines.push(`| per core, ${name}: ≥ Mosquitto | ${(petrel / mosquitto).toFixed(2)}x${perCpu('mosquitto')} | ${met ? 'yes' : '**no**'} |`);
        }
        if (Number.isFinite(aedes)) {
          const met = petrel >= 3 * aedes;
          lines.push(`| per core, ${name}: ≥ 3x Aedes | ${(petrel / aedes).toFixed(2)}x${perCpu('aedes')} | ${met ? 'yes' : '**no**'} |`);
        }
      } else if (kind === 'latency') {
        const limit = name.includes('20k') ? 5 : 2;
        const { p99 } = latencyOf(row?.get('petrel'));
        lines.push(`| per core, ${name}: p99 ≤ ${limit} ms | ${p99.toFixed(2)} ms | ${p99 <= limit ? 'yes' : '**no**'} |`);
      } else {
        const figures = idleFigures(row?.get('petrel'));
        if (figures !== null) {
          const kb = figures.bytesPerConnection / 1024;
          lines.push(`| per core, idle connection ≤ 3 KB | ${kb.toFixed(2)} KB | ${kb <= 3 ? 'yes' : '**no**'} |`);
        }
      }
    }
  }
  if (machine !== undefined) {
    for (const [name, kind] of machine.scenarioKinds) {
      if (kind !== 'idle') continue;
      const label = machine.brokers.find((broker) => broker.startsWith('petrel'));
      const figures = label === undefined ? null : idleFigures(machine.cells.get(name)?.get(label));
      if (figures === null) {
        lines.push('| whole machine, 100,000 connections held | not measured | **no** |');
        continue;
      }
      lines.push(`| whole machine, 100,000 connections held | ${figures.connected.toLocaleString('en-US')} | ${figures.connected >= 100_000 ? 'yes' : '**no**'} |`);
      const kb = figures.bytesPerConnection / 1024;
      lines.push(`| whole machine, idle connection ≤ 3 KB | ${kb.toFixed(2)} KB | ${kb <= 3 ? 'yes' : '**no**'} |`);
    }
  }
  return lines.length > 4 ? lines : [];
}

function commandLine(): string {
  const settings = Object.entries(process.env)
    .filter(([key]) => key.startsWith('BENCH_'))
    .map(([key, value]) => `${key}=${value ?? ''}`)
    .sort();
  return [...settings, 'npm run bench:compare'].join(' ');
}

async function main(): Promise<void> {
  const facts = machineFacts(root);
  const startedAt = new Date();
  const results: ViewResults[] = [];
  for (const plan of plans()) results.push(await runView(plan));
  const minutes = Math.round((Date.now() - startedAt.getTime()) / 60_000);
  const heading = [
    `Command: \`${commandLine()}\` (builds, then runs \`node dist/bench/compare.js\`; settings in the header of \`bench/compare.ts\`).`,
    `Run ${startedAt.toISOString().slice(0, 16).replace('T', ' ')} UTC, ${minutes} min; ${seconds} s of sending per scenario, ${rounds} round(s) (medians), 64-byte payloads, MQTT 3.1.1.`,
    `Machine: ${facts.cpus} CPUs (${facts.cpuModel}), ${facts.memoryGiB} GiB RAM; Node ${facts.node}, Mosquitto ${facts.mosquitto}, Aedes ${facts.aedes}, Petrel ${facts.petrel}.`,
    '',
    'The generator is `petrel bench` (raw sockets, pre-encoded packets), started once per scenario and broker; brokers alternate order from scenario to scenario. ' +
      'It keeps at most 10,000 deliveries in flight (`--max-backlog`), so throughput is what the broker sustains, not what it buffers. ' +
      'Mosquitto is configured with `max_queued_messages 100000` and `max_inflight_messages 100` (its defaults, 1000 and 20, drop or throttle QoS 1 here), ' +
      'Petrel with `limits.maxQueuedMessages: 100000` (in-flight window 100 by default); Aedes has no such limits. ' +
      'The machine is shared with other work, so absolute figures are noisy: compare the ratios within one run. Broker CPU is its share of one core ' +
      'during the sending phase: far below 100% in the per-core view means the broker was starved by other processes or waiting on round trips.',
  ];
  const footer = [
    'Scenario definitions: fan-in = 10 publishers → 1 subscriber on `bench/fanin/+`; fan-out = 1 publisher → N subscribers on one topic ' +
      '(the rate counts deliveries); pairs = N publisher/subscriber pairs on their own topics; latency = 1 pair at a fixed rate, QoS 0, ' +
      'send time carried in the payload. Idle = `petrel bench conn -r 0`: connections opened as fast as the broker accepts them and ' +
      `held ${idleHold} s (V8's memory reducer collects a Node broker's connect-burst garbage after about 50 s of quiet), then the ` +
      "broker's RSS (summed over its processes) is read; bytes per connection = (RSS while holding − RSS before) / connections.",
  ];
  // Analysis written by hand (profiles, memory breakdown) follows the generated tables.
  const notesFile = join(root, 'bench/compare-notes.md');
  if (existsSync(notesFile)) footer.push('', readFileSync(notesFile, 'utf8').trim());
  const section = renderSection({ heading, views: results, targets: targetLines(results), footer });
  writeSection(output, section);
  log(`wrote ${output}`);
  process.stdout.write(section);
}

await main();
