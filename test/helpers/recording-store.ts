// A Store for tests: records every call, holds whenDurable callbacks until released
// (mode 'sync'), can be made unwritable, and returns a chosen RecoveredState from open().

import type { DelayedWillRecord, DurabilityMode, OutgoingRecord, RecoveredState, SessionRecord, Store, StoreStats, StoredMessage } from '../../src/store/store.js';

export type StoreCall = [method: string, ...args: unknown[]];

export class RecordingStore implements Store {
  readonly mode: DurabilityMode = 'sync';
  writable = true;
  readonly calls: StoreCall[] = [];
  /** Hold whenDurable callbacks until release() (otherwise they run at once). */
  hold = false;
  private held: Array<(error?: Error) => void> = [];
  private readonly recovered: RecoveredState;

  constructor(recovered?: Partial<RecoveredState>) {
    this.recovered = { sessions: [], outgoing: new Map(), incomingQoS2: new Map(), retained: [], delayedWills: [], ...recovered };
  }

  async open(): Promise<RecoveredState> {
    return this.recovered;
  }
  async close(): Promise<void> {
    this.calls.push(['close']);
  }
  putSession(record: SessionRecord): void {
    this.calls.push(['putSession', structuredClone(record)]);
  }
  deleteSession(clientId: string): void {
    this.calls.push(['deleteSession', clientId]);
  }
  putOutgoing(clientId: string, record: OutgoingRecord): void {
    this.calls.push(['putOutgoing', clientId, { ...record }]);
  }
  deleteOutgoing(clientId: string, seq: number): void {
    this.calls.push(['deleteOutgoing', clientId, seq]);
  }
  putIncomingQoS2(clientId: string, packetId: number): void {
    this.calls.push(['putIncomingQoS2', clientId, packetId]);
  }
  deleteIncomingQoS2(clientId: string, packetId: number): void {
    this.calls.push(['deleteIncomingQoS2', clientId, packetId]);
  }
  putRetained(topic: string, message: StoredMessage | undefined): void {
    this.calls.push(['putRetained', topic, message]);
  }
  putDelayedWill(record: DelayedWillRecord): void {
    this.calls.push(['putDelayedWill', record]);
  }
  deleteDelayedWill(clientId: string): void {
    this.calls.push(['deleteDelayedWill', clientId]);
  }
  whenDurable(callback: (error?: Error) => void): void {
    this.calls.push(['whenDurable']);
    if (this.hold) this.held.push(callback);
    else callback();
  }
  /** Sync mode: the same wait as whenDurable (held alike), recorded under its own name. */
  whenCommitted(callback: (error?: Error) => void): void {
    this.calls.push(['whenCommitted']);
    if (this.hold) this.held.push(callback);
    else callback();
  }
  release(error?: Error): void {
    const held = this.held;
    this.held = [];
    for (const callback of held) callback(error);
  }
  stats(): StoreStats {
    return { diskBytes: 0, pendingWrites: this.held.length };
  }
  names(): string[] {
    return this.calls.map((call) => call[0]);
  }
}
