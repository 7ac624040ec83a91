// Runs a broker configuration as `petrel start --workers N` in a child process, for the shared
// test harness when PETREL_TEST_WORKERS is set (so the broker tests can run against a cluster).

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import type { PetrelConfig } from '../../src/config/schema.js';
import { cleanEnvironment, spawnPetrel } from '../cli/petrel-process.js';

/** Clusters still running: killed when the test process ends (a test that fails before stop() must not leave one behind). */
const running = new Set<ChildProcess>();
let guarded = false;

function killRunning(): void {
  for (const child of running) child.kill('SIGKILL');
}

function guardAgainstOrphans(): void {
  if (guarded) return;
  guarded = true;
  process.once('exit', killRunning);
  // The test runner ends a file that timed out with a signal, which skips 'exit'.
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      killRunning();
      process.exit(128 + (signal === 'SIGTERM' ? 15 : 2));
    });
  }
}

/** Lets the test process exit while a child runs (node's runner waits for nothing then). */
function detach(child: ChildProcess): void {
  child.unref();
  for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
}

export interface ClusterBroker {
  port: number;
  stop(): Promise<void>;
}

/** The number of workers asked for by PETREL_TEST_WORKERS (undefined: run in-process). */
export function testWorkers(environment: NodeJS.ProcessEnv = process.env): number | undefined {
  const value = environment.PETREL_TEST_WORKERS;
  if (value === undefined || value === '') return undefined;
  const workers = Number(value);
  if (!Number.isInteger(workers) || workers < 1) throw new Error(`PETREL_TEST_WORKERS must be a positive integer, got "${value}"`);
  return workers;
}

export async function startClusterBroker(config: PetrelConfig, workers: number): Promise<ClusterBroker> {
  const directory = mkdtempSync(join(tmpdir(), 'petrel-test-cluster-'));
  const file = join(directory, 'petrel.yaml');
  // JSON is YAML: the resolved configuration as the file, with logs the harness can read.
  writeFileSync(file, JSON.stringify({ ...config, workers, log: { ...config.log, level: 'info', pretty: false } }));
  const child = spawnPetrel(['start', '--config', file], { env: cleanEnvironment() });
  guardAgainstOrphans();
  running.add(child);
  detach(child);
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const closed = new Promise<void>((resolve) =>
    child.once('close', () => {
      running.delete(child);
      resolve();
    }),
  );
  const port = await new Promise<number>((resolve, reject) => {
    let pending = '';
    const timer = setTimeout(() => fail(new Error(`cluster did not listen within 30 s; stderr: ${stderr}`)), 30_000);
    const onData = (chunk: string): void => {
      pending += chunk;
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const text = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
        if (!text.includes('"petrel listening"')) continue;
        const line = JSON.parse(text) as { listeners: Array<{ port: number }> };
        cleanup();
        resolve(line.listeners[0]!.port);
        return;
      }
    };
    const onClose = (): void => fail(new Error(`petrel exited before listening; stderr: ${stderr}`));
    const cleanup = (): void => {
      clearTimeout(timer);
      child.off('close', onClose);
    };
    const fail = (error: Error): void => {
      cleanup();
      child.kill('SIGKILL');
      rmSync(directory, { recursive: true, force: true });
      reject(error);
    };
    // Keep draining stdout after the listening line, so the child never blocks on a full pipe.
    child.stdout!.setEncoding('utf8').on('data', onData);
    child.once('close', onClose);
  });
  return {
    port,
    async stop() {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await closed;
      clearTimeout(timer);
      rmSync(directory, { recursive: true, force: true });
    },
  };
}
