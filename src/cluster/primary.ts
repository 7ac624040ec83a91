// The primary process of `petrel start --workers N`: forks the workers (which all listen on the
// same ports: node:cluster hands connections out round-robin), restarts a worker that dies (with
// back-off), holds the client-id registry, introduces workers to each other for the mesh, and
// on SIGTERM/SIGINT asks every worker to stop gracefully before exiting.

import cluster, { type Worker } from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { PetrelConfig } from '../config/schema.js';
import { ClientRegistry } from './client-registry.js';
import {
  isWorkerMessage,
  meshDirectoryVariable,
  workerCountVariable,
  workerIndexVariable,
  type ListenerAddress,
  type MeshPeer,
  type PrimaryMessage,
  type WorkerMessage,
} from './ipc-messages.js';
import type { TransferredSession } from './session-transfer.js';

export interface PrimaryOptions {
  config: PetrelConfig;
  /** How many workers to run (the `workers` setting resolved: "auto" is a number by now). */
  workers: number;
  logger: Logger;
  /** Called once every worker listens, with the addresses they share. */
  onListening?(addresses: ListenerAddress[]): void;
  /**
   * A worker died before every worker was listening (bad configuration, port in use...): called
   * once, with the reason the first such worker gave.
   */
  onStartFailure?(reason: string): void;
  /** Longest a claim waits for a restarting worker to recover its sessions. */
  holdTimeoutMs?: number;
  /** Longest a worker may take to answer a release (takeover) request. */
  releaseTimeoutMs?: number;
  /** Longest the workers may take to stop before they are killed. */
  stopTimeoutMs?: number;
}

type SlotState = 'starting' | 'ready' | 'down';

interface Slot {
  index: number;
  worker: Worker | undefined;
  state: SlotState;
  socketPath: string;
  meshListening: boolean;
  restarts: number;
  startedAt: number;
  restartTimer: NodeJS.Timeout | undefined;
  /** Why the current process could not start, if it said so before exiting. */
  failure: string | undefined;
}

const maxRestartDelayMs = 5000;
/** A worker that stayed up this long is considered healthy again: its back-off restarts from zero. */
const healthyUptimeMs = 10_000;

export class Primary {
  readonly registry: ClientRegistry;
  private readonly options: PrimaryOptions;
  private readonly logger: Logger;
  private readonly slots: Slot[] = [];
  private readonly meshDirectory: string;
  private readonly pendingReleases = new Map<number, (session: TransferredSession | undefined) => void>();
  private nextRequestId = 1;
  /** Workers waiting for worker 0 to join the mesh (first start). */
  private readonly heldJoins: Slot[] = [];
  private stopping = false;
  private listeningReported = false;
  private startFailureReported = false;

  constructor(options: PrimaryOptions) {
    this.options = options;
    this.logger = options.logger;
    this.meshDirectory = mkdtempSync(join(tmpdir(), 'petrel-mesh-'));
    this.registry = new ClientRegistry({
      holdTimeoutMs: options.holdTimeoutMs ?? 10_000,
      transport: {
        isReady: (worker) => this.slots[worker]?.state === 'ready',
        release: (worker, clientId, clean) => this.release(worker, clientId, clean),
      },
    });
    for (let index = 0; index < options.workers; index++) {
      this.slots.push({
        index,
        worker: undefined,
        state: 'down',
        socketPath: join(this.meshDirectory, `worker-${index}.sock`),
        meshListening: false,
        restarts: 0,
        startedAt: 0,
        restartTimer: undefined,
        failure: undefined,
      });
    }
  }

  /** Worker process ids, by worker index (undefined while one is down). */
  workerPids(): Array<number | undefined> {
    return this.slots.map((slot) => slot.worker?.process.pid);
  }

  /** How many workers run when all are up. */
  get workerCount(): number {
    return this.slots.length;
  }

  /** Workers started and listening (the management server asks them for their metrics). */
  readyWorkers(): Array<{ index: number; worker: Worker }> {
    return this.slots.flatMap((slot) => (slot.state === 'ready' && slot.worker !== undefined ? [{ index: slot.index, worker: slot.worker }] : []));
  }

  /**
   * Forks every worker. They load in parallel, but worker 0 (which keeps the retained messages
   * on disk, the others copying them from the mesh) joins the mesh first.
   */
  start(): void {
    // JSON, not 'advanced': V8's ValueSerializer keeps native zone memory for every message
    // until a GC finalizes it, which V8 does not count. With a claim and a round-robin
    // hand-over per CONNECT that was ~3 KB of RSS per connection on each side.
    cluster.setupPrimary({ serialization: 'json' });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    for (const slot of this.slots) this.fork(slot);
  }

  /** Graceful stop: every worker stops its broker; workers still running after the timeout are killed. */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const exits: Array<Promise<void>> = [];
    for (const slot of this.slots) {
      clearTimeout(slot.restartTimer);
      const worker = slot.worker;
      if (worker === undefined || worker.isDead()) continue;
      exits.push(new Promise((resolve) => worker.once('exit', () => resolve())));
      this.send(worker, { kind: 'stop' });
    }
    const timeout = this.options.stopTimeoutMs ?? 10_000;
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeout);
    });
    const finished = await Promise.race([Promise.all(exits).then(() => true), expired]);
    clearTimeout(timer);
    if (!finished) {
      this.logger.warn('workers did not stop in time: killing them');
      for (const slot of this.slots) slot.worker?.process.kill('SIGKILL');
    }
    rmSync(this.meshDirectory, { recursive: true, force: true });
  }

  /** SIGHUP: every worker reloads its authentication files. */
  reload(): void {
    for (const slot of this.slots) if (slot.worker !== undefined) this.send(slot.worker, { kind: 'reload' });
  }

  private fork(slot: Slot): void {
    slot.state = 'starting';
    slot.meshListening = false;
    slot.startedAt = Date.now();
    slot.failure = undefined;
    const worker = cluster.fork({
      [workerIndexVariable]: String(slot.index),
      [workerCountVariable]: String(this.options.workers),
      [meshDirectoryVariable]: this.meshDirectory,
    });
    slot.worker = worker;
    worker.on('message', (message: unknown) => {
      if (isWorkerMessage(message)) this.onMessage(slot, worker, message);
    });
  }

  private onMessage(slot: Slot, worker: Worker, message: WorkerMessage): void {
    if (slot.worker !== worker) return;
    switch (message.kind) {
      case 'mesh-listening': {
        const keeper = this.slots[0]!;
        if (!this.listeningReported && slot !== keeper && !keeper.meshListening) {
          // First start: worker 0 (the retained keeper, whose disk is the truth) joins first.
          this.heldJoins.push(slot);
          return;
        }
        this.answerJoin(slot);
        if (slot === keeper) for (const held of this.heldJoins.splice(0)) this.answerJoin(held);
        return;
      }
      case 'ready':
        this.onReady(slot, worker, message.addresses, message.sessions);
        return;
      case 'claim':
        this.registry.claim(slot.index, message.clientId, message.clean).then(
          (session) => this.send(worker, { kind: 'claimed', requestId: message.requestId, session }),
          (error: unknown) => {
            this.logger.error({ err: error, clientId: message.clientId }, 'claim failed');
            this.send(worker, { kind: 'claimed', requestId: message.requestId });
          },
        );
        return;
      case 'released': {
        const resolve = this.pendingReleases.get(message.requestId);
        if (resolve !== undefined) {
          this.pendingReleases.delete(message.requestId);
          resolve(message.session);
        }
        return;
      }
      case 'ended':
        this.registry.ended(slot.index, message.clientId);
        return;
      case 'start-failed':
        slot.failure = message.reason;
        return;
      case 'management-answer':
        // Collected by the management server (src/management/cluster-endpoints.ts).
        return;
    }
  }

  /** The newcomer connects to every worker already in the mesh; later ones connect to it. */
  private answerJoin(slot: Slot): void {
    const worker = slot.worker;
    if (worker === undefined) return;
    const peers: MeshPeer[] = this.slots
      .filter((other) => other !== slot && other.meshListening && other.worker !== undefined)
      .map((other) => ({ index: other.index, socketPath: other.socketPath }));
    slot.meshListening = true;
    this.send(worker, { kind: 'mesh-peers', peers });
  }

  private onReady(slot: Slot, worker: Worker, addresses: ListenerAddress[], sessions: string[]): void {
    slot.state = 'ready';
    const discard = this.registry.workerReady(slot.index, sessions);
    if (discard.length > 0) this.send(worker, { kind: 'discard', clientIds: discard });
    this.logger.info({ worker: slot.index, workerPid: worker.process.pid, sessions: sessions.length - discard.length }, 'worker ready');
    if (!this.listeningReported && this.slots.every((candidate) => candidate.state === 'ready')) {
      this.listeningReported = true;
      this.options.onListening?.(addresses);
    }
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = this.slots.find((candidate) => candidate.worker === worker);
    if (slot === undefined) return;
    slot.worker = undefined;
    slot.state = 'down';
    slot.meshListening = false;
    this.registry.workerDown(slot.index, this.options.config.storage.mode !== 'memory');
    if (this.stopping) return;
    if (!this.listeningReported) {
      // Restarting would fail the same way: give up and let the caller exit. The worker's reason
      // may still be in the IPC channel when 'exit' comes: it has arrived once the channel closed.
      if (worker.isConnected()) worker.once('disconnect', () => this.failStart(slot, code, signal));
      else this.failStart(slot, code, signal);
      return;
    }
    if (Date.now() - slot.startedAt > healthyUptimeMs) slot.restarts = 0;
    const delay = Math.min(maxRestartDelayMs, 100 * 2 ** slot.restarts);
    slot.restarts++;
    this.logger.error({ worker: slot.index, workerPid: worker.process.pid, code, signal, reason: slot.failure, restartInMs: delay }, 'worker died; restarting it');
    slot.restartTimer = setTimeout(() => {
      slot.restartTimer = undefined;
      if (!this.stopping) this.fork(slot);
    }, delay);
  }

  /** The first worker lost before the cluster listened ends the start (the others' failures add nothing). */
  private failStart(slot: Slot, code: number | null, signal: string | null): void {
    if (this.startFailureReported) return;
    this.startFailureReported = true;
    const reason = slot.failure ?? `worker ${slot.index} exited during start-up (${signal ?? `code ${String(code)}`})`;
    this.logger.fatal({ worker: slot.index, code, signal, reason }, 'worker failed during start-up');
    this.options.onStartFailure?.(reason);
  }

  private release(index: number, clientId: string, clean: boolean): Promise<TransferredSession | undefined> {
    const worker = this.slots[index]?.worker;
    if (worker === undefined) return Promise.resolve(undefined);
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pendingReleases.delete(requestId);
        this.logger.warn({ worker: index, clientId }, 'worker did not answer a takeover in time');
        resolve(undefined);
      }, this.options.releaseTimeoutMs ?? 5000);
      this.pendingReleases.set(requestId, (session) => {
        clearTimeout(timer);
        resolve(session);
      });
      this.send(worker, { kind: 'release', requestId, clientId, clean });
    });
  }

  private send(worker: Worker, message: PrimaryMessage): void {
    if (!worker.isConnected()) return;
    worker.send(message, (error: Error | null) => {
      if (error !== null) this.logger.debug({ err: error, kind: message.kind }, 'message to a worker not delivered');
    });
  }
}
