import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as connectTls } from 'node:tls';
import { connectAsync, type IDisconnectPacket, type MqttClient } from 'mqtt';
import { TestCertificates, certificateFingerprint } from '../helpers/certificates.js';
import { cleanEnvironment, collect, repositoryRoot, runPetrel, spawnPetrel } from './petrel-process.js';

const directory = mkdtempSync(join(tmpdir(), 'petrel-start-'));
after(() => rmSync(directory, { recursive: true, force: true }));

interface LogLine {
  level: string;
  msg: string;
  [field: string]: unknown;
}

/** Parses the child's JSON log lines and resolves with the first one whose message is `message`. */
function waitForLog(child: ChildProcess, message: string, timeoutMs = 15000): Promise<LogLine> {
  const stdout = child.stdout!;
  let pending = '';
  return new Promise((resolve, reject) => {
    // Listening with 'data' (not readline, whose close() pauses the stream and so would keep the child's pipe open).
    const finish = (outcome: () => void): void => {
      clearTimeout(timer);
      stdout.off('data', onData);
      child.off('close', onClose);
      outcome();
    };
    const onData = (chunk: Buffer | string): void => {
      pending += chunk.toString();
      let newline = pending.indexOf('\n');
      while (newline !== -1) {
        const text = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        newline = pending.indexOf('\n');
        let line: LogLine;
        try {
          line = JSON.parse(text) as LogLine;
        } catch {
          continue;
        }
        if (line.msg === message) {
          finish(() => resolve(line));
          return;
        }
      }
    };
    const onClose = (): void => finish(() => reject(new Error(`petrel exited before logging "${message}"`)));
    const timer = setTimeout(() => finish(() => reject(new Error(`no "${message}" log line within ${timeoutMs} ms`))), timeoutMs);
    stdout.on('data', onData);
    child.on('close', onClose);
  });
}

/** Every JSON log line of the child, kept; `next` resolves with the first (seen or coming) that matches. */
function logLines(child: ChildProcess): { seen: LogLine[]; next(predicate: (line: LogLine) => boolean): Promise<LogLine> } {
  const seen: LogLine[] = [];
  const waiters = new Set<() => void>();
  let pending = '';
  child.stdout!.on('data', (chunk: Buffer | string) => {
    pending += chunk.toString();
    const lines = pending.split('\n');
    pending = lines.pop() ?? '';
    for (const text of lines) {
      try {
        seen.push(JSON.parse(text) as LogLine);
      } catch {
        continue;
      }
    }
    for (const wake of [...waiters]) wake();
  });
  return {
    seen,
    next: (predicate) =>
      new Promise((resolve) => {
        const check = (): void => {
          const line = seen.find(predicate);
          if (line === undefined) return;
          waiters.delete(check);
          resolve(line);
        };
        waiters.add(check);
        check();
      }),
  };
}

function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

/**
 * `petrel start` on a free port with its own data directory. `workers`: the --workers flag; 1 (the
 * single process) unless a test is about the cluster, null for none (the configured default).
 */
function startPetrel(
  args: string[],
  environment: NodeJS.ProcessEnv = {},
  dataDirectory = mkdtempSync(join(directory, 'data-')),
  workers: string | null = '1',
): ChildProcess {
  const workerFlag = workers === null ? [] : ['--workers', workers];
  return spawnPetrel(['start', '--host', '127.0.0.1', '--port', '0', '--data-dir', dataDirectory, ...workerFlag, ...args], {
    env: cleanEnvironment({ PETREL_HTTP__PORT: '0', ...environment }),
  });
}

/** What `workers: auto` means on this machine (src/config/worker-count.ts). */
const coreWorkers = Math.min(availableParallelism(), 64);

async function listeningPort(child: ChildProcess): Promise<number> {
  const listening = await waitForLog(child, 'petrel listening');
  const listeners = listening.listeners as Array<{ port: number }>;
  return listeners[0]?.port ?? 0;
}

describe('petrel start', () => {
  test('logs the bound port, serves MQTT, and exits 0 on SIGTERM after a graceful stop', async () => {
    const child = startPetrel([]);
    const exited = collect(child, 20000);
    let client: MqttClient | undefined;
    try {
      const listening = await waitForLog(child, 'petrel listening');
      const listeners = listening.listeners as Array<{ type: string; host: string; port: number }>;
      assert.equal(listeners.length, 1);
      assert.equal(listeners[0]?.type, 'tcp');
      assert.equal(listeners[0]?.host, '127.0.0.1');
      const port = listeners[0]?.port ?? 0;
      assert.ok(port > 0, `a real port, got ${port}`);
      assert.deepEqual(listening.addresses, [`tcp://127.0.0.1:${port}`]);

      client = await connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId: 'cli-test' });
      const subscriber = client;
      const received = new Promise<string>((resolve) => subscriber.once('message', (_topic, payload) => resolve(payload.toString())));
      await client.subscribeAsync('cli/test', { qos: 1 });
      await client.publishAsync('cli/test', 'hello', { qos: 1 });
      assert.equal(await withTimeout(received, 5000, 'the published message'), 'hello');

      const disconnected = new Promise<IDisconnectPacket>((resolve) => subscriber.once('disconnect', resolve));
      child.kill('SIGTERM');
      const disconnect = await withTimeout(disconnected, 8000, 'DISCONNECT after SIGTERM');
      assert.equal(disconnect.reasonCode, 0x8b, 'DISCONNECT Server shutting down');

      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /"msg":"petrel stopped"/);
    } finally {
      await client?.endAsync(true);
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });

  test('SIGINT also stops it gracefully with exit 0', async () => {
    const child = startPetrel([]);
    const exited = collect(child, 20000);
    try {
      await waitForLog(child, 'petrel listening');
      child.kill('SIGINT');
      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /"signal":"SIGINT".*"msg":"petrel stopping"/);
      assert.match(result.stdout, /"msg":"petrel stopped"/);
    } finally {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });

  test('without --workers: one worker per core behind a primary; clients on different workers reach each other', async () => {
    const dataDirectory = mkdtempSync(join(directory, 'data-'));
    const child = startPetrel(['--log-level', 'debug'], {}, dataDirectory, null);
    const logs = logLines(child);
    const exited = collect(child, 40000);
    const clients: MqttClient[] = [];
    try {
      const listening = await waitForLog(child, 'petrel listening', 30000);
      const port = (listening.listeners as Array<{ port: number }>)[0]?.port ?? 0;
      if (coreWorkers === 1) {
        // One core: "auto" is the single process.
        assert.equal(listening.pid, child.pid);
        assert.equal(listening.workers, undefined);
        return;
      }
      assert.equal(listening.pid, child.pid, 'the primary reports');
      assert.equal(listening.workers, coreWorkers);
      const pids = listening.pids as number[];
      assert.equal(new Set(pids).size, coreWorkers);
      for (const pid of pids) {
        assert.notEqual(pid, child.pid);
        process.kill(pid, 0); // throws if there is no such process
      }
      // One store (and lock) per worker, none in the data directory itself.
      for (let index = 0; index < coreWorkers; index++) assert.ok(readdirSync(join(dataDirectory, `worker-${index}`)).includes('petrel.mdb'), `worker-${index}`);
      assert.ok(!readdirSync(dataDirectory).includes('petrel.mdb'));

      const open = async (clientId: string): Promise<{ client: MqttClient; worker: number }> => {
        const client = await connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, clientId });
        clients.push(client);
        const line = await withTimeout(logs.next((candidate) => candidate.msg === 'client connected' && candidate.clientId === clientId), 5000, `"client connected" of ${clientId}`);
        return { client, worker: line.worker as number };
      };
      const subscriber = await open('default-subscriber');
      let publisher = await open('default-publisher-0');
      for (let attempt = 1; attempt < 8 && publisher.worker === subscriber.worker; attempt++) publisher = await open(`default-publisher-${attempt}`);
      assert.notEqual(publisher.worker, subscriber.worker, 'every client landed on one worker');
      const received = new Promise<string>((resolve) => subscriber.client.once('message', (_topic, payload) => resolve(payload.toString())));
      await subscriber.client.subscribeAsync('default/across', { qos: 1 });
      await publisher.client.publishAsync('default/across', 'from another worker', { qos: 1 });
      assert.equal(await withTimeout(received, 5000, 'the message across workers'), 'from another worker');

      child.kill('SIGTERM');
      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
      for (const pid of pids) assert.throws(() => process.kill(pid, 0), /ESRCH/, `worker ${pid} outlived the primary`);
    } finally {
      await Promise.all(clients.map((client) => client.endAsync(true)));
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });

  test('PETREL_WORKERS=1 is the single process: no primary, its store in the data directory itself', async () => {
    const dataDirectory = mkdtempSync(join(directory, 'data-'));
    const child = startPetrel([], { PETREL_WORKERS: '1' }, dataDirectory, null);
    const logs = logLines(child);
    const exited = collect(child, 20000);
    try {
      const listening = await waitForLog(child, 'petrel listening');
      assert.equal(listening.pid, child.pid);
      assert.equal(listening.workers, undefined);
      assert.ok(readdirSync(dataDirectory).includes('petrel.mdb'));
      assert.deepEqual(readdirSync(dataDirectory).filter((name) => name.startsWith('worker-')), []);
      child.kill('SIGTERM');
      assert.equal((await exited).code, 0);
      assert.ok(logs.seen.length > 0);
      assert.deepEqual([...new Set(logs.seen.map((line) => line.pid))], [child.pid], 'a line from another process');
    } finally {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });

  test('starts with petrel.example.yaml (host and port overridden to stay local), one worker per core', async () => {
    const child = startPetrel(['--config', join(repositoryRoot, 'petrel.example.yaml')], {}, undefined, null);
    const exited = collect(child, 30000);
    try {
      const listening = await waitForLog(child, 'petrel listening', 30000);
      assert.ok(((listening.listeners as Array<{ port: number }>)[0]?.port ?? 0) > 0);
      // A cluster's listening line (the primary's) carries the count; a single process's does not.
      assert.equal(listening.workers ?? 1, coreWorkers);
      child.kill('SIGTERM');
      assert.equal((await exited).code, 0);
    } finally {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });

  test('the auth configuration is applied: anonymous off refuses a client without credentials', async () => {
    const child = startPetrel([], { PETREL_AUTH__ANONYMOUS: 'false' });
    const exited = collect(child, 20000);
    try {
      const port = await listeningPort(child);
      await assert.rejects(
        connectAsync(`mqtt://127.0.0.1:${port}`, { protocolVersion: 5, reconnectPeriod: 0, connectTimeout: 5000 }),
        (error: Error & { code?: number }) => error.code === 0x86 || error.code === 0x87,
      );
    } finally {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });

  test('log.pretty prints human-readable lines, flushed before the exit', async () => {
    const child = startPetrel([], { PETREL_LOG__PRETTY: 'true' });
    const exited = collect(child, 20000);
    try {
      let output = '';
      await withTimeout(
        new Promise<void>((resolve) => {
          child.stdout?.on('data', (chunk: Buffer | string) => {
            output += chunk.toString();
            if (output.includes('petrel listening')) resolve();
          });
        }),
        15000,
        'pretty "petrel listening" line',
      );
      child.kill('SIGTERM');
      const result = await exited;
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stdout, /^\{/m, 'no JSON lines');
      assert.match(result.stdout, /INFO.*petrel listening/);
      assert.match(result.stdout, /INFO.*petrel stopped/);
    } finally {
      child.kill('SIGKILL');
      await exited.catch(() => undefined);
    }
  });

  test('the embedded store in --data-dir keeps retained messages across a restart', async () => {
    const dataDirectory = mkdtempSync(join(directory, 'data-'));
    const first = startPetrel([], {}, dataDirectory);
    const firstExit = collect(first, 20000);
    try {
      const port = await listeningPort(first);
      const publisher = await connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
      await publisher.publishAsync('cli/retained', 'kept', { qos: 1, retain: true });
      await publisher.endAsync();
      first.kill('SIGTERM');
      assert.equal((await firstExit).code, 0);
    } finally {
      first.kill('SIGKILL');
      await firstExit.catch(() => undefined);
    }
    assert.ok(readdirSync(dataDirectory).length > 0, 'the store wrote files into --data-dir');

    const second = startPetrel([], {}, dataDirectory);
    const secondExit = collect(second, 20000);
    let subscriber: MqttClient | undefined;
    try {
      const port = await listeningPort(second);
      subscriber = await connectAsync(`mqtt://127.0.0.1:${port}`, { reconnectPeriod: 0 });
      const client = subscriber;
      const received = new Promise<string>((resolve) => client.once('message', (_topic, payload) => resolve(payload.toString())));
      await client.subscribeAsync('cli/retained', { qos: 1 });
      assert.equal(await withTimeout(received, 5000, 'the retained message after restart'), 'kept');
    } finally {
      await subscriber?.endAsync(true);
      second.kill('SIGKILL');
      await secondExit.catch(() => undefined);
    }
  });

  test('an unusable --data-dir: one clear line on stderr and exit 1', async () => {
    const notADirectory = join(directory, 'plain-file');
    writeFileSync(notADirectory, 'not a directory');
    const result = await runPetrel(['start', '--workers', '1', '--host', '127.0.0.1', '--port', '0', '--data-dir', join(notADirectory, 'data')], {
      env: cleanEnvironment({ PETREL_HTTP__PORT: '0' }),
    });
    assert.equal(result.code, 1);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, result.stderr);
    assert.match(lines[0] ?? '', /^petrel: cannot start: /);
  });

  test('a port in use: one clear line on stderr and exit 1', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const result = await runPetrel(['start', '--workers', '1', '--host', '127.0.0.1', '--port', String(port), '--data-dir', mkdtempSync(join(directory, 'data-'))], {
        env: cleanEnvironment({ PETREL_HTTP__PORT: '0' }),
      });
      assert.equal(result.code, 1);
      const lines = result.stderr.trim().split('\n');
      assert.equal(lines.length, 1, result.stderr);
      assert.match(lines[0] ?? '', /^petrel: cannot start: .*EADDRINUSE/);
    } finally {
      await new Promise<void>((resolve) => blocker.close(() => resolve()));
    }
  });

  test('SIGHUP reloads TLS certificates: new connections get the new one', async () => {
    const certificates = new TestCertificates();
    const first = certificates.server('first');
    const second = certificates.server('second');
    const live = { cert: join(certificates.directory, 'live.pem'), key: join(certificates.directory, 'live.key') };
    copyFileSync(first.cert, live.cert);
    copyFileSync(first.key, live.key);
    const configFile = join(directory, 'tls.yaml');
    writeFileSync(
      configFile,
      `listeners:\n  - { type: tcp, host: 127.0.0.1, port: 0 }\n  - { type: tls, host: 127.0.0.1, port: 0, cert: ${live.cert}, key: ${live.key} }\n`,
    );
    const child = startPetrel(['--config', configFile]);
    const exited = collect(child, 30000);
    const served = (port: number): Promise<string> =>
      new Promise((resolve, reject) => {
        const socket = connectTls({ host: '127.0.0.1', port, ca: readFileSync(certificates.ca), servername: 'localhost' }, () => {
          resolve(socket.getPeerCertificate().fingerprint256);
          socket.end();
        });
        socket.on('error', reject);
      });
    try {
      const listening = await waitForLog(child, 'petrel listening');
      const tlsPort = (listening.listeners as Array<{ type: string; port: number }>).find((listener) => listener.type === 'tls')?.port ?? 0;
      assert.equal(await served(tlsPort), certificateFingerprint(first.cert));
      copyFileSync(second.cert, live.cert);
      copyFileSync(second.key, live.key);
      const reloaded = waitForLog(child, 'certificates reloaded');
      child.kill('SIGHUP');
      const line = await reloaded;
      const counts = line.certificates as { reloaded: number; unchanged: number; failed: number };
      // The file watcher may have reloaded first; either way the one TLS listener was handled, without failure.
      assert.equal(counts.reloaded + counts.unchanged, 1);
      assert.equal(counts.failed, 0);
      assert.equal(await served(tlsPort), certificateFingerprint(second.cert));
    } finally {
      child.kill('SIGTERM');
      await exited.catch(() => undefined);
      certificates.remove();
    }
  });
});
