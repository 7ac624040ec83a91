// The 'memory' store: nothing outlives the process. Every mutation is a no-op,
// open() returns an empty state and whenDurable answers at once (synchronously,
// so acknowledgements cost no extra tick).

import type {
  DelayedWillRecord,
  DurabilityMode,
  OutgoingRecord,
  RecoveredState,
  SessionRecord,
  Store,
  StoreStats,
  StoredMessage,
} from './store.js';

export class MemoryStore implements Store {
  readonly mode: DurabilityMode = 'memory';
  readonly writable = true;

  async open(): Promise<RecoveredState> {
    return { sessions: [], outgoing: new Map(), incomingQoS2: new Map(), retained: [], delayedWills: [] };
  }

  async close(): Promise<void> {}

  putSession(_record: SessionRecord): void {}
  deleteSession(_clientId: string): void {}
  putOutgoing(_clientId: string, _record: OutgoingRecord): void {}
  deleteOutgoing(_clientId: string, _seq: number): void {}
  putIncomingQoS2(_clientId: string, _packetId: number): void {}
  deleteIncomingQoS2(_clientId: string, _packetId: number): void {}
  putRetained(_topic: string, _message: StoredMessage | undefined): void {}
  putDelayedWill(_record: DelayedWillRecord): void {}
  deleteDelayedWill(_clientId: string): void {}

  whenDurable(callback: (error?: Error) => void): void {
    callback();
  }

  whenCommitted(callback: (error?: Error) => void): void {
    callback();
  }

  stats(): StoreStats {
    return { diskBytes: 0, pendingWrites: 0 };
  }
}
