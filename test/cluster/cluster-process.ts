// Runs `petrel start --workers N` as a child process for the cluster tests, keeping every JSON
// log line it prints (debug level) so tests can tell which worker a client landed on.

import type { ChildProcess } from 'node:child_process';
import { cleanEnvironment, spawnPetrel } from '../cli/petrel-process.js';

export interface LogLine {
  level: string;
  msg: string;
  pid: number;
  worker?: number;
  [field: string]: unknown;
}

export interface RunningCluster {
  child: ChildProcess;
  port: number;
  url: string;
  /** Worker process ids by worker index, as reported when the cluster was listening. */
  pids: number[];
  logs: LogLine[];
  /** Resolves with the first log line (already seen or coming) matching the predicate. */
  waitForLog(predicate: (line: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** The worker index the latest connection of this client id was accepted by. */
  workerOf(clientId: string): Promise<number>;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
}

export interface ClusterStartOptions {
  workers: number;
  /** Extra PETREL_* variables (storage mode, data dir...). */
  env?: Record<string, string>;
}

export async function startCluster(options: ClusterStartOptions): Promise<RunningCluster> {
  const child = spawnPetrel(['start', '--workers', String(options.workers), '--host', '127.0.0.1', '--port', '0', '--log-level', 'debug'], {
    env: cleanEnvironment({ PETREL_STORAGE__MODE: 'memory', PETREL_MQTT__SYS_INTERVAL: '0', ...options.env }),
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  let stderr = '';
  let exited = false;
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    pending += chunk;
    let newline = pending.indexOf('\n');
    while (newline !== -1) {
      const text = pending.slice(0, newline);
      pending = pending.slice(newline + 1);
      newline = pending.indexOf('\n');
      try {
        logs.push(JSON.parse(text) as LogLine);
      } catch {
        continue;
      }
    }
    for (const wake of [...waiters]) wake();
  });
  const exitCode = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      exited = true;
      for (const wake of [...waiters]) wake();
      resolve(code);
    }),
  );

  const waitForLog = (predicate: (line: LogLine) => boolean, timeoutMs = 15_000, what = 'a log line'): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      let seen = 0;
      const check = (): void => {
        for (; seen < logs.length; seen++) {
          if (predicate(logs[seen]!)) {
            finish();
            resolve(logs[seen]!);
            return;
          }
        }
        if (exited) {
          finish();
          reject(new Error(`petrel exited before ${what}; stderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`no ${what} within ${timeoutMs} ms; stderr: ${stderr}`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  let listening: LogLine;
  try {
    listening = await waitForLog((line) => line.msg === 'petrel listening', 30_000, '"petrel listening"');
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  const port = (listening.listeners as Array<{ port: number }>)[0]!.port;
  let connectionsSeen = new Map<string, number>();
  return {
    child,
    port,
    url: `mqtt://127.0.0.1:${port}`,
    pids: listening.pids as number[],
    logs,
    waitForLog,
    async workerOf(clientId: string): Promise<number> {
      const seen = connectionsSeen.get(clientId) ?? 0;
      let count = 0;
      const line = await waitForLog((candidate) => candidate.msg === 'client connected' && candidate.clientId === clientId && ++count > seen, 5000, `"client connected" of ${clientId}`);
      connectionsSeen = new Map(connectionsSeen).set(clientId, seen + 1);
      return line.worker!;
    },
    async stop(): Promise<number | null> {
      if (!exited) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      const code = await exitCode;
      clearTimeout(timer);
      return code;
    },
  };
}
