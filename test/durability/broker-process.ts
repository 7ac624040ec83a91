// The real broker as a child process (`node bin/petrel.js start`), to be killed with SIGKILL
// and started again on the same data directory.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { connect } from 'node:net';
import { freePort } from '../../src/bench/loopback-port.js';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import mqttPacket from 'mqtt-packet';

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

export interface BrokerProcessOptions {
  port: number;
  dataDir: string;
  /** Extra environment (PETREL_STORAGE__MODE, PETREL_LIMITS__...); the management server is off unless PETREL_HTTP__ENABLED says otherwise. */
  env?: Record<string, string>;
  /** Runs the broker through `bash -c` with this prefix, e.g. `ulimit -f 2048 &&`. */
  shellPrefix?: string;
  logLevel?: string;
  /** Options for node itself, e.g. `--cpu-prof`. */
  nodeArgs?: string[];
  /**
   * `--workers`; 1 (the default here) is the single process these tests kill, whose pid and whose
   * lock on the data directory they look at.
   */
  workers?: number | 'auto';
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
    const args = [...(options.nodeArgs ?? []), join(root, 'bin', 'petrel.js'), 'start', '--host', '127.0.0.1', '--port', String(options.port), '--data-dir', options.dataDir, '--workers', String(options.workers ?? 1), '--log-level', options.logLevel ?? 'warn'];
    // Brokers started side by side would all want the management port (8080).
    const env: NodeJS.ProcessEnv = { ...process.env, PETREL_HTTP__ENABLED: 'false', ...options.env };
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

  /**
   * Like start, but if the port was taken while no broker held it (another test's ephemeral
   * port), starts on a fresh one: the caller reads `port` from the result.
   */
  static async startOnFreePort(options: BrokerProcessOptions, timeoutMs = 15_000): Promise<BrokerProcess> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await BrokerProcess.start(options, timeoutMs);
      } catch (error) {
        if (attempt >= 2 || !String(error).includes('EADDRINUSE')) throw error;
        options = { ...options, port: await freePort() };
      }
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

/**
 * True if an MQTT broker answers on 127.0.0.1:port: CONNECT (clean session) gets a CONNACK.
 * A bare TCP accept is not enough: another process holding the port would pass for the broker.
 */
export function accepts(port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    const finish = (answer: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve(answer);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    let received = Buffer.alloc(0);
    socket.once('connect', () => socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId: `probe-${process.pid}-${port}` })));
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      // CONNACK: type 2, remaining length 2, then flags and return code 0.
      if (received.length >= 4) {
        if (received[0] === 0x20 && received[3] === 0) socket.write(mqttPacket.generate({ cmd: 'disconnect' }));
        finish(received[0] === 0x20 && received[3] === 0);
      }
    });
    socket.once('error', () => finish(false));
    socket.once('close', () => finish(false));
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
