// How a process knows it is a cluster worker: the primary forks it with its index, the worker
// count and the directory of the mesh sockets in the environment.

import { meshDirectoryVariable, workerCountVariable, workerIndexVariable } from './ipc-messages.js';

export interface WorkerIdentity {
  index: number;
  /** The number of workers in the cluster. */
  count: number;
  meshDirectory: string;
}

/** The index, count and mesh directory the primary gave this process, or undefined outside a cluster worker. */
export function workerIdentity(environment: NodeJS.ProcessEnv): WorkerIdentity | undefined {
  const index = environment[workerIndexVariable];
  const count = environment[workerCountVariable];
  const meshDirectory = environment[meshDirectoryVariable];
  if (index === undefined || count === undefined || meshDirectory === undefined) return undefined;
  return { index: Number(index), count: Number(count), meshDirectory };
}
