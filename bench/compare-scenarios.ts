// The scenario set of bench:compare and how one scenario runs: `petrel bench ... --json` in a
// child process (pinned to the generator's core in the per-core view), its summary parsed.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { pinPrefix } from './compare-pinning.js';
import type { ConnSummary, TrafficSummary } from '../src/bench/index.js';

export interface TrafficScenario {
  kind: 'traffic';
  /** Row name in the table. */
  name: string;
  /** `petrel bench` arguments (without host, port and output flags). */
  args: string[];
  /** What the table reports: delivered messages per second, or latency percentiles. */
  measure: 'throughput' | 'latency';
}

export interface IdleScenario {
  kind: 'idle';
  name: string;
  connections: number;
  rate: number;
  holdSeconds: number;
}

export type Scenario = TrafficScenario | IdleScenario;

export function trafficScenarios(seconds: number): TrafficScenario[] {
  const duration = ['-d', String(seconds), '-s', '64'];
  const scenarios: TrafficScenario[] = [];
  for (const qos of [0, 1]) {
    const q = ['-q', String(qos)];
    scenarios.push(
      { kind: 'traffic', name: `fan-in 10→1 QoS ${qos}`, args: ['fanin', '--publishers', '10', ...q, ...duration], measure: 'throughput' },
      { kind: 'traffic', name: `fan-out 1→100 QoS ${qos}`, args: ['fanout', '--subscribers', '100', ...q, ...duration], measure: 'throughput' },
      { kind: 'traffic', name: `fan-out 1→1000 QoS ${qos}`, args: ['fanout', '--subscribers', '1000', ...q, ...duration], measure: 'throughput' },
      { kind: 'traffic', name: `100 pairs QoS ${qos}`, args: ['p2p', '-c', '100', ...q, ...duration], measure: 'throughput' },
      { kind: 'traffic', name: `1000 pairs QoS ${qos}`, args: ['p2p', '-c', '1000', ...q, ...duration], measure: 'throughput' },
    );
  }
  // Latency is the steady state: 5 s of sending first lets both freshly started processes finish JIT
  // compiling (on the one core a pinned broker has) before messages are timed; see BENCHMARKS.md.
  const warmup = ['--warmup', '5'];
  scenarios.push(
    { kind: 'traffic', name: 'latency 5k msg/s QoS 0', args: ['latency', '-r', '5000', ...warmup, ...duration], measure: 'latency' },
    { kind: 'traffic', name: 'latency 20k msg/s QoS 0', args: ['latency', '-r', '20000', ...warmup, ...duration], measure: 'latency' },
  );
  return scenarios;
}

export interface GeneratorRun<T> {
  summary: T | null;
  /** Why there is no summary (the generator failed), for the table's notes. */
  error?: string;
  command: string;
}

/** Runs `petrel bench <args> --json` against a port; `core` pins the generator with taskset. */
export function runGenerator<T extends TrafficSummary | ConnSummary>(
  repoRoot: string,
  args: string[],
  port: number,
  brokerPids: number[],
  core: number | undefined,
  timeoutMs: number,
): Promise<GeneratorRun<T>> {
  const pin = pinPrefix(core);
  const benchArgs = [...args, '-p', String(port), '--broker-pid', brokerPids.join(','), '--json', '--quiet'];
  const argv = [...pin, process.execPath, join(repoRoot, 'bin/petrel.js'), 'bench', ...benchArgs];
  const command = [...pin, 'petrel', 'bench', ...args].join(' ');
  return new Promise((resolve) => {
    const [program, ...rest] = argv as [string, ...string[]];
    const child = spawn(program, rest, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr = (stderr + chunk.toString()).slice(-2000)));
    const timer = setTimeout(() => child.kill('SIGINT'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      const line = stdout.trim().split('\n').pop() ?? '';
      try {
        resolve({ summary: JSON.parse(line) as T, command });
      } catch {
        // The cause, not Node's trailing version line or the stack frames of an uncaught error.
        const causes = stderr
          .trim()
          .split('\n')
          .filter((text) => text.trim() !== '' && !text.startsWith('Node.js v') && !/^\s+at /.test(text) && !/^\s*\^+\s*$/.test(text));
        const reason = causes.length > 0 ? causes.slice(-3).join(' | ') : `exit code ${String(code)}`;
        resolve({ summary: null, error: reason, command });
      }
    });
  });
}
