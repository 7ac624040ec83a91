// The three brokers bench:compare runs: how to start each (optionally pinned to a core with
// taskset), how to tell it is ready, which processes make it up, and how to stop it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { canConnect, freePort } from '../src/bench/loopback-port.js';
import { pinPrefix } from './compare-pinning.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export type BrokerKind = 'petrel' | 'petrel-sync' | 'mosquitto' | 'aedes';

export interface BrokerLaunch {
  kind: BrokerKind;
  /** `taskset -c <core>` prefix; undefined = unpinned. */
  core?: number;
  /** Petrel only: worker processes (1 = plain single-process `petrel start`). */
  workers?: number;
  repoRoot: string;
}

export interface RunningBroker {
  label: string;
  port: number;
  /** The command line, for the report. */
  command: string;
  /** The launched process and, for a multi-process broker, its descendants. */
  pids(): number[];
  stop(): Promise<void>;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Children of a process, from /proc (the kernel keeps the list per thread; the main thread has them all). */
function childPids(pid: number): number[] {
  try {
    const text = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim();
    return text === '' ? [] : text.split(/\s+/).map(Number);
  } catch {
    return [];
  }
}

export function processTree(pid: number): number[] {
  const all = [pid];
  for (let index = 0; index < all.length; index++) {
    for (const child of childPids(all[index] as number)) all.push(child);
  }
  return all;
}

function petrelConfig(port: number, storage: 'memory' | 'sync', dataDir: string): string {
  // Queues large enough that the generator's 10,000-delivery backlog never overflows them
  // (the same is configured for Mosquitto; Aedes has no such limit).
  return [
    'listeners:',
    '  - type: tcp',
    '    host: 127.0.0.1',
    `    port: ${port}`,
    'storage:',
    `  mode: ${storage}`,
    `  dir: ${dataDir}`,
    'limits:',
    '  maxQueuedMessages: 100000',
    'http:',
    '  enabled: false',
    'log:',
    '  level: warn',
    '',
  ].join('\n');
}

function mosquittoConfig(port: number): string {
  return [
    `listener ${port} 127.0.0.1`,
    'allow_anonymous true',
    'persistence false',
    'max_connections -1',
    // Mosquitto's defaults are 1000 queued and 20 in flight per client; Petrel's window is 100.
    'max_queued_messages 100000',
    'max_inflight_messages 100',
    'log_dest none',
    // Off by default in Mosquitto: small deliveries then wait for the subscriber's delayed ACK (40 ms on
    // Linux), which dominated its latency rows. Petrel's and Aedes's sockets have TCP_NODELAY too.
    'set_tcp_nodelay true',
    '',
  ].join('\n');
}

/** Table column: one per broker kind; the view's description says how many workers Petrel ran. */
function labelOf(launch: BrokerLaunch): string {
  if (launch.kind === 'petrel-sync') return 'petrel sync store';
  return launch.kind;
}

/** Starts one broker on a free port and waits until it accepts TCP connections. */
export async function startBroker(launch: BrokerLaunch): Promise<RunningBroker> {
  const port = await freePort();
  const workDir = mkdtempSync(join(tmpdir(), `petrel-compare-${launch.kind}-`));
  const pin = pinPrefix(launch.core);
  let argv: string[];
  let shown: string;
  if (launch.kind === 'petrel' || launch.kind === 'petrel-sync') {
    const configFile = join(workDir, 'petrel.yaml');
    writeFileSync(configFile, petrelConfig(port, launch.kind === 'petrel-sync' ? 'sync' : 'memory', join(workDir, 'data')));
    const workers = launch.workers ?? 1;
    // Always explicit: without --workers Petrel runs one worker per core.
    argv = [...pin, process.execPath, join(launch.repoRoot, 'bin/petrel.js'), 'start', '-c', configFile, '--workers', String(workers)];
    shown = `${pin.join(' ')} petrel start -c petrel.yaml --workers ${workers}`;
  } else if (launch.kind === 'aedes') {
    argv = [...pin, process.execPath, join(launch.repoRoot, 'dist/bench/aedes-server.js'), String(port)];
    shown = `${pin.join(' ')} node dist/bench/aedes-server.js <port>`;
  } else {
    const configFile = join(workDir, 'mosquitto.conf');
    writeFileSync(configFile, mosquittoConfig(port));
    // Mosquitto keeps the soft open-file limit it inherits; raise it to the hard limit, as Node does by itself.
    argv = ['sh', '-c', `ulimit -n "$(ulimit -Hn)" && exec ${[...pin, 'mosquitto', '-c', configFile].join(' ')}`];
    shown = `${pin.join(' ')} mosquitto -c mosquitto.conf`;
  }
  const [command, ...args] = argv as [string, ...string[]];
  const child: ChildProcess = spawn(command, args, { stdio: ['ignore', 'ignore', 'pipe'], cwd: workDir });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => {
    exited = true;
    resolve();
  }));
  const rootPid = child.pid ?? 0;
  let knownPids = [rootPid];

  const stop = async (): Promise<void> => {
    if (!exited) {
      knownPids = processTree(rootPid);
      child.kill('SIGTERM');
      const timedOut = await Promise.race([exit.then(() => false), sleep(8000).then(() => true)]);
      if (timedOut) child.kill('SIGKILL');
      await exit;
    }
    // Workers of a multi-process broker that outlived their primary.
    for (const pid of knownPids.slice(1)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(workDir, { recursive: true, force: true });
  };

  const expectedProcesses = launch.kind.startsWith('petrel') && (launch.workers ?? 1) > 1 ? 1 + (launch.workers ?? 1) : 1;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`${labelOf(launch)} exited during start-up: ${stderr.trim().split('\n').slice(-3).join(' | ')}`);
    }
    if (processTree(rootPid).length >= expectedProcesses && (await canConnect(port))) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${labelOf(launch)} did not accept connections within 30 s: ${stderr.trim().slice(-300)}`);
    }
    await sleep(200);
  }
  // A multi-process broker: the connection may have reached the primary before every worker listened.
  if (expectedProcesses > 1) await sleep(1000);

  return {
    label: labelOf(launch),
    port,
    command: shown.trim(),
    pids: () => {
      // Under taskset/sh the spawned process execs the broker, so the root pid is the broker itself.
      knownPids = processTree(rootPid);
      return knownPids;
    },
    stop,
  };
}
