// Starts a real Mosquitto on a free 127.0.0.1 port for the bench tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { canConnect, freePort } from '../../src/bench/loopback-port.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const MOSQUITTO_BINARY = '/usr/sbin/mosquitto';

export interface RunningMosquitto {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * @param maxQueuedMessages Mosquitto's per-client QoS 1/2 queue. Large by default so a
 * fan-in at full speed is not dropped by the broker's default 1000-message queue
 * (0, "unlimited", makes Mosquitto 2.0.11 drop QoS 2 publishers with a socket error).
 */
export async function startMosquitto(maxQueuedMessages = 10_000_000): Promise<RunningMosquitto> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const directory = mkdtempSync(join(tmpdir(), 'petrel-bench-mosquitto-'));
    const configFile = join(directory, 'mosquitto.conf');
    writeFileSync(configFile, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', `max_queued_messages ${maxQueuedMessages}`, ''].join('\n'));
    const child: ChildProcess = spawn(MOSQUITTO_BINARY, ['-c', configFile], { stdio: 'ignore' });
    let exited = false;
    const exitPromise = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.once('exit', () => {
      exited = true;
    });
    const spawnError = new Promise<Error>((resolve) => child.once('error', resolve));
    const deadline = Date.now() + 5000;
    while (!exited && Date.now() < deadline) {
      const raced = await Promise.race([canConnect(port), spawnError.then((error) => error)]);
      if (raced instanceof Error) throw new Error(`cannot run ${MOSQUITTO_BINARY}: ${raced.message} (apt-get install mosquitto)`);
      if (raced) {
        return {
          port,
          pid: child.pid as number,
          stop: async () => {
            if (!exited) child.kill('SIGTERM');
            await exitPromise;
            rmSync(directory, { recursive: true, force: true });
          },
        };
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (!exited) child.kill('SIGKILL');
    await exitPromise;
    rmSync(directory, { recursive: true, force: true });
  }
  throw new Error('mosquitto did not start (5 attempts)');
}
