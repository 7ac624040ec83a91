// Runs external MQTT clients (mosquitto_*, paho via /usr/bin/python3) for interop tests:
// collects their output, waits for lines or exit with a deadline, and kills every child
// still running when a test file ends.

import { spawn, type ChildProcess } from 'node:child_process';

export const PYTHON = '/usr/bin/python3';

const running = new Set<ChildRun>();

export class ChildRun {
  readonly child: ChildProcess;
  readonly command: string;
  stdout = Buffer.alloc(0);
  stderr = '';
  exitCode: number | null = null;
  exited = false;
  private waiters: Array<() => void> = [];
  private readonly exitPromise: Promise<number | null>;

  constructor(command: string, args: string[], input?: string | Buffer) {
    this.command = [command, ...args].join(' ');
    this.child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    running.add(this);
    this.child.stdout!.on('data', (chunk: Buffer) => {
      this.stdout = Buffer.concat([this.stdout, chunk]);
      this.wake();
    });
    this.child.stderr!.on('data', (chunk: Buffer) => {
      this.stderr += chunk.toString();
    });
    this.child.stdin!.on('error', () => {});
    if (input !== undefined) this.child.stdin!.end(input);
    this.exitPromise = new Promise((resolve) => {
      // 'close' comes after the output streams are drained, so stdout is complete.
      this.child.on('close', (code) => {
        this.exitCode = code;
        this.exited = true;
        running.delete(this);
        this.wake();
        resolve(code);
      });
      this.child.on('error', (error) => {
        this.stderr += String(error);
      });
    });
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter();
  }

  lines(): string[] {
    return this.stdout.toString().split('\n').filter((line) => line.length > 0);
  }

  /** Resolves with the first output line matching, once it appears. */
  async waitForLine(match: RegExp | string, timeoutMs = 5000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    const test = (line: string) => (typeof match === 'string' ? line.includes(match) : match.test(line));
    for (;;) {
      const found = this.lines().find(test);
      if (found !== undefined) return found;
      if (this.exited) throw new Error(`${this.command} exited (${this.exitCode}) before printing ${String(match)}; stdout: ${this.stdout.toString().slice(-500)} stderr: ${this.stderr}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${String(match)} from ${this.command}; stdout: ${this.stdout.toString().slice(-500)} stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Resolves with the exit code; kills the child and rejects after timeoutMs. */
  async waitExit(timeoutMs = 5000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => {
        this.kill();
        reject(new Error(`${this.command} did not exit within ${timeoutMs} ms; stdout: ${this.stdout.toString().slice(-500)} stderr: ${this.stderr}`));
      }, timeoutMs);
    });
    try {
      return await Promise.race([this.exitPromise, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Closes the child's stdin (the paho subscriber exits cleanly on it). */
  closeInput(): void {
    this.child.stdin!.end();
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<number | null> {
    if (!this.exited) this.child.kill(signal);
    return this.exitPromise;
  }
}

export function run(command: string, args: string[], input?: string | Buffer): ChildRun {
  return new ChildRun(command, args, input);
}

/** Kills every child started by this module that is still running. */
export async function killAll(): Promise<void> {
  await Promise.all([...running].map((child) => child.kill()));
}

/** Runs a command to completion and returns it (rejects on timeout). */
export async function runToEnd(command: string, args: string[], timeoutMs = 5000, input?: string | Buffer): Promise<ChildRun> {
  const child = run(command, args, input);
  await child.waitExit(timeoutMs);
  return child;
}
