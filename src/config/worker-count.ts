// How many processes `petrel start` runs: the `workers` setting, with "auto" resolved to the
// cores this process may use (os.availableParallelism: CPU affinity and cgroup limits included).

import { availableParallelism } from 'node:os';
import { maxWorkers, type PetrelConfig } from './schema.js';

/** The worker count `setting` stands for on this machine (1 = single process, no primary). */
export function workerCount(setting: PetrelConfig['workers'], cores: number = availableParallelism()): number {
  if (setting !== 'auto') return setting;
  return Math.max(1, Math.min(cores, maxWorkers));
}
