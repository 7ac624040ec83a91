// Runs the `petrel` command as a child process: the compiled bin/petrel.js when the tests run
// from dist/, or src/cli/main.ts through tsx when they run from source.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

function findRepositoryRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(directory, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === 'petrel') {
      return directory;
    }
    const parent = dirname(directory);
    if (parent === directory) throw new Error('repository root (package.json of petrel) not found');
    directory = parent;
  }
}

export const repositoryRoot = findRepositoryRoot();

const runningCompiled = fileURLToPath(import.meta.url).endsWith('.js');

export function petrelArguments(args: string[]): string[] {
  return runningCompiled
    ? [join(repositoryRoot, 'bin', 'petrel.js'), ...args]
    : ['--import', 'tsx', join(repositoryRoot, 'src', 'cli', 'main.ts'), ...args];
}

export interface SpawnPetrelOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/**
 * Environment without inherited PETREL_* variables, so the developer's shell cannot change results,
 * and without the management HTTP server unless `extra` turns it on (brokers started side by side
 * would all want port 8080).
 */
export function cleanEnvironment(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!name.startsWith('PETREL_')) environment[name] = value;
  }
  return { ...environment, PETREL_HTTP__ENABLED: 'false', ...extra };
}

export function spawnPetrel(args: string[], options: SpawnPetrelOptions = {}): ChildProcess {
  return spawn(process.execPath, petrelArguments(args), {
    cwd: options.cwd ?? repositoryRoot,
    env: options.env ?? cleanEnvironment(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

export interface PetrelResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs petrel to completion; kills it and rejects after `timeoutMs`. */
export function runPetrel(args: string[], options: SpawnPetrelOptions & { timeoutMs?: number } = {}): Promise<PetrelResult> {
  const child = spawnPetrel(args, options);
  return collect(child, options.timeoutMs ?? 20000);
}

export function collect(child: ChildProcess, timeoutMs: number): Promise<PetrelResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`petrel did not exit within ${timeoutMs} ms; stdout: ${stdout}; stderr: ${stderr}`));
    }, timeoutMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}
