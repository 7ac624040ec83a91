// The primary's client-id registry: which worker owns each client id's session, connected or
// not. Claims of one client id are handled one at a time. A claim for a session owned by a
// worker that is restarting waits until that worker has recovered its store (bounded by
// holdTimeoutMs), so a client reconnecting during the restart is not given an empty session.

import type { TransferredSession } from './session-transfer.js';

export interface RegistryTransport {
  /** The worker is up and has recovered its sessions. */
  isReady(worker: number): boolean;
  /** Asks the owner to give up the client id; resolves with the session (undefined if none or discarded). */
  release(worker: number, clientId: string, clean: boolean): Promise<TransferredSession | undefined>;
}

export interface ClientRegistryOptions {
  transport: RegistryTransport;
  /** Longest a claim waits for a restarting owner. */
  holdTimeoutMs: number;
}

export class ClientRegistry {
  private readonly owners = new Map<string, number>();
  private readonly tails = new Map<string, Promise<unknown>>();
  private readonly waiting = new Map<number, Set<() => void>>();
  private readonly options: ClientRegistryOptions;

  constructor(options: ClientRegistryOptions) {
    this.options = options;
  }

  get size(): number {
    return this.owners.size;
  }

  ownerOf(clientId: string): number | undefined {
    return this.owners.get(clientId);
  }

  /** Makes `requester` the owner; resolves with the session it must restore, if any. */
  claim(requester: number, clientId: string, clean: boolean): Promise<TransferredSession | undefined> {
    const previous = this.tails.get(clientId) ?? Promise.resolve();
    const result = previous.then(() => this.claimNow(requester, clientId, clean));
    const tail = result.catch(() => undefined);
    this.tails.set(clientId, tail);
    void tail.then(() => {
      if (this.tails.get(clientId) === tail) this.tails.delete(clientId);
    });
    return result;
  }

  /** The worker's session of this client id ended (a no-op if another worker owns it by now). */
  ended(worker: number, clientId: string): void {
    if (this.owners.get(clientId) === worker) this.owners.delete(clientId);
  }

  /**
   * A worker recovered and listens. Its recovered sessions are registered to it, except those
   * claimed elsewhere in the meantime, which are returned: the worker must discard them.
   */
  workerReady(worker: number, recovered: string[]): string[] {
    const discard: string[] = [];
    for (const clientId of recovered) {
      const owner = this.owners.get(clientId);
      if (owner === undefined || owner === worker) this.owners.set(clientId, worker);
      else discard.push(clientId);
    }
    const waiters = this.waiting.get(worker);
    if (waiters !== undefined) {
      this.waiting.delete(worker);
      for (const wake of waiters) wake();
    }
    return discard;
  }

  /**
   * A worker died. If its sessions cannot come back (memory store) they are forgotten now;
   * otherwise claims on them wait for its restart.
   */
  workerDown(worker: number, recoverable: boolean): void {
    if (recoverable) return;
    for (const [clientId, owner] of this.owners) {
      if (owner === worker) this.owners.delete(clientId);
    }
  }

  private async claimNow(requester: number, clientId: string, clean: boolean): Promise<TransferredSession | undefined> {
    const owner = this.owners.get(clientId);
    if (owner === undefined || owner === requester) {
      this.owners.set(clientId, requester);
      return undefined;
    }
    if (!this.options.transport.isReady(owner) && !(await this.waitReady(owner))) {
      // The owner did not come back in time: the client starts afresh here; the owner
      // discards its copy when it reports ready.
      this.owners.set(clientId, requester);
      return undefined;
    }
    let session: TransferredSession | undefined;
    try {
      session = await this.options.transport.release(owner, clientId, clean);
    } catch {
      session = undefined;
    }
    this.owners.set(clientId, requester);
    return clean ? undefined : session;
  }

  private waitReady(worker: number): Promise<boolean> {
    return new Promise((resolve) => {
      let waiters = this.waiting.get(worker);
      if (waiters === undefined) {
        waiters = new Set();
        this.waiting.set(worker, waiters);
      }
      const timer = setTimeout(() => {
        waiters.delete(wake);
        resolve(false);
      }, this.options.holdTimeoutMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      waiters.add(wake);
    });
  }
}
