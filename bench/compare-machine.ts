// Machine and version facts for the bench:compare report.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';

function quietly(run: () => string): string {
  try {
    return run().trim();
  } catch {
    return 'unknown';
  }
}

export interface MachineFacts {
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  node: string;
  mosquitto: string;
  aedes: string;
  petrel: string;
}

export function machineFacts(repoRoot: string): MachineFacts {
  const packageVersion = (file: string): string => quietly(() => (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version);
  // `mosquitto -h` prints its version on the first line and exits with status 3.
  const mosquittoBanner = quietly(() => {
    try {
      return execFileSync('mosquitto', ['-h'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
    } catch (error) {
      const stdout = (error as { stdout?: string }).stdout;
      if (typeof stdout === 'string') return stdout;
      throw error;
    }
  });
  const commit = quietly(() => execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: repoRoot, encoding: 'utf8' }));
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    mosquitto: /version\s+(\S+)/.exec(mosquittoBanner)?.[1] ?? 'unknown',
    aedes: packageVersion(join(repoRoot, 'node_modules/aedes/package.json')),
    petrel: `${packageVersion(join(repoRoot, 'package.json'))} (commit ${commit})`,
  };
}
