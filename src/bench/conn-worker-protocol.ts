// Messages between `petrel bench conn` and its worker processes (over the fork IPC channel).
import type { ConnectionSetOptions, ConnectionStats } from './connection-set.js';

export type WorkerRequest = { type: 'open'; options: ConnectionSetOptions } | { type: 'close' };

export type WorkerReport =
  | { type: 'progress'; stats: ConnectionStats }
  | { type: 'opened'; stats: ConnectionStats }
  | { type: 'closed'; stats: ConnectionStats; rssBytes: number }
  | { type: 'failed'; message: string };
