// How a process knows it is a cluster worker: the primary forks it with its index and the
// directory of the mesh sockets in the environment.

import { meshDirectoryVariable, workerIndexVariable } from './ipc-messages.js';

export interface WorkerIdentity {
  index: number;
  meshDirectory: string;
}

/** The index and mesh directory the primary gave this process, or undefined outside a cluster worker. */
export function workerIdentity(environment: NodeJS.ProcessEnv): WorkerIdentity | undefined {
  const index = environment[workerIndexVariable];
  const meshDirectory = environment[meshDirectoryVariable];
  if (index === undefined || meshDirectory === undefined) return undefined;
  return { index: Number(index), meshDirectory };
}
