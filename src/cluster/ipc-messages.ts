// Messages between the primary and its workers over node:cluster's IPC channel (JSON
// serialization: only plain data, bytes as base64 strings). None of them is on the publish path.

import type { ManagementAnswer, ManagementQuery } from '../management/management-messages.js';
import type { TransferredSession } from './session-transfer.js';

export interface ListenerAddress {
  name: string;
  type: string;
  host: string;
  port: number;
}

export interface MeshPeer {
  index: number;
  socketPath: string;
}

export type WorkerMessage =
  /** The worker's mesh socket listens; it wants the peers to connect to. */
  | { kind: 'mesh-listening'; socketPath: string }
  /** Recovered and listening; `sessions` are the client ids whose sessions it holds. */
  | { kind: 'ready'; addresses: ListenerAddress[]; sessions: string[] }
  /** A CONNECT wants this client id: make this worker its owner. */
  | { kind: 'claim'; requestId: number; clientId: string; clean: boolean }
  /** Answer to 'release': the session (unless discarded or absent). */
  | { kind: 'released'; requestId: number; session?: TransferredSession }
  /** The session of a client id ended on this worker. */
  | { kind: 'ended'; clientId: string }
  /** The worker cannot start (port in use, unusable store...); it exits next. */
  | { kind: 'start-failed'; reason: string }
  /** Answer to 'management-query': this worker's metrics and store writability. */
  | ManagementAnswer;

export type PrimaryMessage =
  | { kind: 'mesh-peers'; peers: MeshPeer[] }
  /** Sessions recovered by a restarted worker that meanwhile moved elsewhere: drop them. */
  | { kind: 'discard'; clientIds: string[] }
  | { kind: 'claimed'; requestId: number; session?: TransferredSession }
  /** Give up a client id: close its connection (takeover), hand the session over unless clean. */
  | { kind: 'release'; requestId: number; clientId: string; clean: boolean }
  | { kind: 'stop' }
  | { kind: 'reload' }
  /** For /metrics and /healthz of the management server (src/management/cluster-endpoints.ts). */
  | ManagementQuery;

/** Environment variables the primary gives a worker. */
// Not PETREL_*: that prefix is configuration, read by the config loader.
export const workerIndexVariable = 'PETRELCLUSTER_WORKER_INDEX';
export const meshDirectoryVariable = 'PETRELCLUSTER_MESH_DIR';
/** How many workers the cluster has ("auto" resolved once, by the primary). */
export const workerCountVariable = 'PETRELCLUSTER_WORKER_COUNT';

export function isWorkerMessage(value: unknown): value is WorkerMessage {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}

export function isPrimaryMessage(value: unknown): value is PrimaryMessage {
  return typeof value === 'object' && value !== null && typeof (value as { kind?: unknown }).kind === 'string';
}
