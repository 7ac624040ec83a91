// The real broker as a child process (`node bin/petrel.js start`), to be killed with SIGKILL
// and started again on the same data directory.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (the directory holding package.json), from source or from dist/. */
export function repositoryRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error('package.json not found above the test file');
    directory = parent;
  }
  return directory;
}

/** A port that was free a moment ago (the broker binds it next). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface BrokerProcessOptions {
  port: number;
  dataDir: string;
  /** Extra environment (PETREL_STORAGE__MODE, PETREL_LIMITS__...). */
  env?: Record<string, string>;
  /** Runs the broker through `bash -c` with this prefix, e.g. `ulimit -f 2048 &&`. */
  shellPrefix?: string;
  logLevel?: string;
  /** Options for node itself, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
}

export class BrokerProcess {
  readonly child: ChildProcess;
  readonly port: number;
  output = '';
  private readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.port = port;
    child.stdout?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (this.output += chunk.toString()));
    this.exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
  }

  /** Spawns the broker and resolves once it accepts connections (rejects if it exits first). */
  static async start(options: BrokerProcessOptions, timeoutMs = 15_000): Promise<BrokerProcess> {
    const root = repositoryRoot();
    const args = [...(options.nodeArgs ?? []), join(root, 'bin', 'petrel.js'), 'start', '--host', '127.0.0.1', '--port', String(options.port), '--data-dir', options.dataDir, '--log-level', options.logLevel ?? 'warn'];
    const env = { ...process.env, ...options.env };
    delete env.PETREL_CONFIG;
    let child: ChildProcess;
    if (options.shellPrefix === undefined) {
      child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    } else {
      const quoted = [process.execPath, ...args].map((part) => `'${part.replaceAll("'", "'\\''")}'`).join(' ');
      child = spawn('/bin/bash', ['-c', `${options.shellPrefix} exec ${quoted}`], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    }
    const broker = new BrokerProcess(child, options.port);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (broker.hasExited) throw new Error(`broker exited during start-up (${String(child.exitCode ?? child.signalCode)}): ${broker.output}`);
      if (await accepts(options.port)) return broker;
      if (Date.now() > deadline) {
        broker.child.kill('SIGKILL');
        throw new Error(`broker did not listen on ${options.port} within ${timeoutMs} ms: ${broker.output}`);
      }
      await sleep(25);
    }
  }

  get hasExited(): boolean {
    return this.child.exitCode !== null || this.child.signalCode !== null;
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  /** SIGKILL, then waits for the process to be gone. */
  async kill(): Promise<void> {
    if (!this.hasExited) this.child.kill('SIGKILL');
    await this.exited;
  }

  /** SIGTERM (graceful stop), then waits; SIGKILL after `timeoutMs`. */
  async stop(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    if (!this.hasExited) this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs);
    const result = await this.exited;
    clearTimeout(timer);
    return result;
  }

  waitForExit(): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    return this.exited;
  }
}

/** True if something accepts TCP connections on 127.0.0.1:port. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
