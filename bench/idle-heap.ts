// Broker memory per idle connection, repeatable: a fresh single-process broker (memory store, no
// HTTP server) per run, N idle connections opened on raw sockets, then the broker's JS heap and
// RSS growth divided by N. Both readings (after warm-up connections, and with the N open) are taken
// after V8's low-memory collections, which leave the heap where its memory reducer does once a
// broker is idle; a plain forced collection does not get there (it leaves about 1 KB per
// connection more in the heap). Four kinds of
// connection: MQTT 3.1.1 and 5.0, clean and persistent sessions. Optionally a heap snapshot
// diff grouped by constructor (and by retainer), which says where the bytes go.
//
// Run: npm run bench:idle-heap   (builds, then runs dist/bench/idle-heap.js)
// Environment:
//   BENCH_CONNECTIONS [5000]  idle connections per run
//   BENCH_ROUNDS [3]          runs per kind (a fresh broker each); medians are reported
//   BENCH_KINDS               comma list of v4-clean, v5-clean, v4-persistent, v5-persistent (all)
//   BENCH_SNAPSHOT [1]        1 = one more run per kind with heap snapshots before/after, grouped diff;
//                             retainers = the objects that are new in the second snapshot, grouped by
//                             constructor and first retainer ("Object ← Connection.client"); 0 = none
//   BENCH_TOP [25]            groups shown per snapshot diff
//   BENCH_SETTLE [low-memory] how the heap is brought to rest before each reading: low-memory
//                             (V8's low-memory collections), reducer (a forced collection, then wait
//                             for the memory reducer's own; slower, and it may not start again),
//                             forced (plain full collections), none
//   BENCH_HOLD [0]            seconds to wait after the connections are open, before settling
//   BENCH_JSON                a file to write every measurement to

import { fork, type ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canConnect, freePort } from '../src/bench/loopback-port.js';
import { encodePacket } from '../src/protocol/encoder.js';
import type { ProtocolVersion } from '../src/protocol/packets.js';
import { diffHeapGroups, readHeapSummary, totalBytes, type HeapGroups, type HeapSummary } from './heap-snapshot-groups.js';
import type { IdleHeapReply, IdleHeapRequest, SettleMode } from './idle-heap-broker.js';

const connections = Number(process.env.BENCH_CONNECTIONS ?? 5000);
const rounds = Number(process.env.BENCH_ROUNDS ?? 3);
const withSnapshot = (process.env.BENCH_SNAPSHOT ?? '1') !== '0';
const top = Number(process.env.BENCH_TOP ?? 25);
const byRetainer = process.env.BENCH_SNAPSHOT === 'retainers';
const holdSeconds = Number(process.env.BENCH_HOLD ?? 0);
const settle = (process.env.BENCH_SETTLE ?? 'low-memory') as SettleMode;
if (!['low-memory', 'reducer', 'forced', 'none'].includes(settle)) throw new Error(`BENCH_SETTLE must be low-memory, reducer, forced or none, not '${settle}'`);
/** The memory reducer runs within seconds with the start delay below; this bounds a wait that would not end. */
const settleTimeoutMs = 60_000;
const jsonFile = process.env.BENCH_JSON;
/**
 * Node options of the broker. A new space held at V8's smallest size (1 MB semi-spaces) is where
 * the memory reducer leaves it after a quiet spell (with BENCH_SETTLE=forced, nothing would shrink
 * it back from the 16 MB semi-spaces of the connection burst). No bytecode flushing: collections
 * would otherwise drop the bytecode of idle functions in one reading and not the other.
 */
const brokerNodeOptions = [
  '--expose-gc',
  '--no-flush-bytecode',
  '--min-semi-space-size=1',
  '--max-semi-space-size=1',
  // The memory reducer starts 1 s after a mark-compact instead of 8 s: same collections, less waiting.
  '--gc-memory-reducer-start-delay-ms=1000',
];
/** Connections opened and closed before the baseline, so that code, pools and tables are warm in both readings. */
const warmupConnections = 500;
/** CONNECTs in flight at once. */
const parallel = 200;

interface Kind {
  name: string;
  protocolVersion: ProtocolVersion;
  clean: boolean;
}

const allKinds: Kind[] = [
  { name: 'v4-clean', protocolVersion: 4, clean: true },
  { name: 'v5-clean', protocolVersion: 5, clean: true },
  { name: 'v4-persistent', protocolVersion: 4, clean: false },
  { name: 'v5-persistent', protocolVersion: 5, clean: false },
];
const kindNames = process.env.BENCH_KINDS?.split(',') ?? allKinds.map((kind) => kind.name);
const kinds = kindNames.map((name) => {
  const kind = allKinds.find((candidate) => candidate.name === name);
  if (kind === undefined) throw new Error(`unknown kind '${name}' (known: ${allKinds.map((candidate) => candidate.name).join(', ')})`);
  return kind;
});

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

class MeasuredBroker {
  private readonly replies: Array<(reply: IdleHeapReply) => void> = [];
  private readonly exited: Promise<void>;

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.on('message', (reply: IdleHeapReply) => this.replies.shift()?.(reply));
    this.exited = new Promise((resolve) => child.once('exit', () => resolve()));
  }

  static async start(): Promise<MeasuredBroker> {
    const port = await freePort();
    const entry = fileURLToPath(new URL('./idle-heap-broker.js', import.meta.url));
    const env: NodeJS.ProcessEnv = { ...process.env, PETREL_STORAGE__MODE: 'memory', PETREL_HTTP__ENABLED: 'false', PETREL_MQTT__SYS_INTERVAL: '0' };
    delete env.PETREL_CONFIG;
    const child = fork(entry, ['start', '--host', '127.0.0.1', '--port', String(port), '--workers', '1', '--log-level', 'warn'], {
      execArgv: brokerNodeOptions,
      env,
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const broker = new MeasuredBroker(child, port);
    const deadline = Date.now() + 15_000;
    while (!(await canConnect(port))) {
      if (child.exitCode !== null) throw new Error(`the broker exited with code ${child.exitCode}`);
      if (Date.now() > deadline) {
        await broker.stop();
        throw new Error('the broker did not start listening within 15 s');
      }
      await pause(50);
    }
    return broker;
  }

  private request(request: IdleHeapRequest): Promise<IdleHeapReply> {
    return new Promise((resolve) => {
      this.replies.push(resolve);
      this.child.send(request);
    });
  }

  async measure(): Promise<Reading> {
    const reply = await this.request({ type: 'measure', settle, timeoutMs: settleTimeoutMs });
    if (reply.type !== 'measured') throw new Error(`unexpected reply ${reply.type}`);
    if (!reply.settled) console.warn(`warning: the memory reducer did not run within ${settleTimeoutMs / 1000} s; reading taken anyway`);
    return reply;
  }

  async snapshot(path: string, earlier?: HeapSummary): Promise<HeapSummary> {
    const reply = await this.request({ type: 'snapshot', path });
    if (reply.type !== 'snapshot-written') throw new Error(`unexpected reply ${reply.type}`);
    try {
      return readHeapSummary(reply.path, earlier === undefined || !byRetainer ? {} : { byRetainer: { earlierIds: earlier.ids } });
    } finally {
      rmSync(reply.path, { force: true });
    }
  }

  async stop(): Promise<void> {
    this.child.kill('SIGKILL');
    await this.exited;
  }
}

/** One idle client: CONNECT, wait for a successful CONNACK, then nothing (keep alive 300 s outlasts the run). */
function openClient(port: number, kind: Kind, clientId: string): Promise<Socket> {
  const connectPacket = encodePacket(
    {
      type: 'connect',
      protocolName: 'MQTT',
      protocolVersion: kind.protocolVersion,
      clean: kind.clean,
      keepalive: 300,
      clientId,
      properties: kind.protocolVersion === 5 && !kind.clean ? { sessionExpiryInterval: 3600 } : undefined,
    },
    kind.protocolVersion,
  );
  return new Promise((resolve, reject) => {
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    let received = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 4) return;
      socket.off('data', onData);
      // CONNACK: 0x20, remaining length, flags, return code / reason code.
      if (received[0] !== 0x20 || received[3] !== 0) {
        socket.destroy();
        reject(new Error(`CONNACK refused: ${received.subarray(0, 4).toString('hex')}`));
        return;
      }
      resolve(socket);
    };
    socket.on('data', onData);
    socket.once('error', reject);
    socket.once('connect', () => socket.write(connectPacket));
  });
}

async function openClients(port: number, kind: Kind, prefix: string, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < count) {
      const index = next++;
      const socket = await openClient(port, kind, `${prefix}-${index}`);
      socket.on('error', () => undefined);
      sockets.push(socket);
    }
  };
  await Promise.all(Array.from({ length: Math.min(parallel, count) }, worker));
  return sockets;
}

async function closeClients(sockets: Socket[]): Promise<void> {
  await Promise.all(
    sockets.map(
      (socket) =>
        new Promise<void>((resolve) => {
          socket.once('close', () => resolve());
          socket.destroy();
        }),
    ),
  );
}

interface Reading {
  heapUsed: number;
  heapTotal: number;
  rss: number;
}

interface Measurement {
  kind: string;
  connections: number;
  heapPerConnection: number;
  rssPerConnection: number;
  before: Reading;
  after: Reading;
}

async function measureRun(kind: Kind, round: number): Promise<Measurement> {
  const broker = await MeasuredBroker.start();
  try {
    await closeClients(await openClients(broker.port, kind, `warmup-${round}`, warmupConnections));
    await pause(500); // the broker sees the closes
    const before = await broker.measure();
    const sockets = await openClients(broker.port, kind, `idle-${round}`, connections);
    await pause(500 + holdSeconds * 1000);
    const after = await broker.measure();
    await closeClients(sockets);
    return {
      kind: kind.name,
      connections,
      heapPerConnection: (after.heapUsed - before.heapUsed) / connections,
      rssPerConnection: (after.rss - before.rss) / connections,
      before: { heapUsed: before.heapUsed, heapTotal: before.heapTotal, rss: before.rss },
      after: { heapUsed: after.heapUsed, heapTotal: after.heapTotal, rss: after.rss },
    };
  } finally {
    await broker.stop();
  }
}

async function snapshotRun(kind: Kind): Promise<HeapGroups> {
  const broker = await MeasuredBroker.start();
  const base = join(tmpdir(), `petrel-idle-heap-${process.pid}-${kind.name}`);
  try {
    await closeClients(await openClients(broker.port, kind, 'warmup', warmupConnections));
    await pause(500);
    const before = await broker.snapshot(`${base}-before.heapsnapshot`);
    const sockets = await openClients(broker.port, kind, 'idle', connections);
    await pause(500);
    const after = await broker.snapshot(`${base}-after.heapsnapshot`, before);
    await closeClients(sockets);
    // By retainer, the after-snapshot holds only the new nodes: it is the difference already.
    return byRetainer ? after.groups : diffHeapGroups(before.groups, after.groups);
  } finally {
    await broker.stop();
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

const kilobytes = (bytes: number): string => (bytes / 1024).toFixed(2);

function printDiff(kind: Kind, difference: HeapGroups): void {
  const rows = [...difference.entries()].sort((a, b) => Math.abs(b[1].bytes) - Math.abs(a[1].bytes)).slice(0, top);
  console.log(`\n${kind.name}: heap snapshot difference per connection, ${kilobytes(totalBytes(difference) / connections)} KB in all (top ${top} groups)`);
  console.log(`${'group'.padEnd(48)} ${'count/conn'.padStart(10)} ${'bytes/conn'.padStart(10)}`);
  for (const [name, group] of rows) {
    console.log(`${name.slice(0, 48).padEnd(48)} ${(group.count / connections).toFixed(2).padStart(10)} ${(group.bytes / connections).toFixed(1).padStart(10)}`);
  }
}

const measurements: Measurement[] = [];
const snapshots: Record<string, Record<string, { countPerConnection: number; bytesPerConnection: number }>> = {};
console.log(`bench:idle-heap: ${connections} idle connections per run, ${rounds} rounds, heap settled by: ${settle}, hold ${holdSeconds} s`);
for (let round = 0; round < rounds; round++) {
  for (const kind of kinds) {
    const measurement = await measureRun(kind, round);
    measurements.push(measurement);
    const { before, after } = measurement;
    const megabytes = (bytes: number): string => (bytes / 1048576).toFixed(1);
    console.log(
      `round ${round + 1} ${kind.name.padEnd(14)} heap ${kilobytes(measurement.heapPerConnection)} KB/conn, RSS ${kilobytes(measurement.rssPerConnection)} KB/conn` +
        `  (heap used ${megabytes(before.heapUsed)} -> ${megabytes(after.heapUsed)} MB of ${megabytes(before.heapTotal)} -> ${megabytes(after.heapTotal)}, RSS ${megabytes(before.rss)} -> ${megabytes(after.rss)} MB)`,
    );
  }
}
if (rounds > 0) console.log('\nmedians (KB per idle connection):');
if (rounds > 0) console.log(`${'kind'.padEnd(14)} ${'JS heap'.padStart(8)} ${'RSS'.padStart(8)}   RSS range`);
for (const kind of rounds > 0 ? kinds : []) {
  const runs = measurements.filter((measurement) => measurement.kind === kind.name);
  const rss = runs.map((run) => run.rssPerConnection);
  console.log(
    `${kind.name.padEnd(14)} ${kilobytes(median(runs.map((run) => run.heapPerConnection))).padStart(8)} ${kilobytes(median(rss)).padStart(8)}   ${kilobytes(Math.min(...rss))}–${kilobytes(Math.max(...rss))}`,
  );
}
if (withSnapshot) {
  for (const kind of kinds) {
    const difference = await snapshotRun(kind);
    printDiff(kind, difference);
    snapshots[kind.name] = Object.fromEntries(
      [...difference.entries()].map(([name, group]) => [name, { countPerConnection: group.count / connections, bytesPerConnection: group.bytes / connections }]),
    );
  }
}
if (jsonFile !== undefined) writeFileSync(jsonFile, `${JSON.stringify({ connections, rounds, settle, holdSeconds, measurements, snapshots }, null, 2)}\n`);
