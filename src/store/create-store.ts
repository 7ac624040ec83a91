// Picks the store for `storage.mode`: LMDB for sync and async, nothing on disk for memory.

import type { PetrelConfig } from '../config/schema.js';
import type { Logger } from '../log/logger.js';
import { LmdbStore } from './lmdb-store.js';
import { MemoryStore } from './memory-store.js';
import type { Store } from './store.js';

export function createStore(storage: PetrelConfig['storage'], logger: Logger): Store {
  if (storage.mode === 'memory') return new MemoryStore();
  return new LmdbStore({ dir: storage.dir, mode: storage.mode, asyncFlushMs: storage.asyncFlushMs, logger: logger.child({ component: 'store' }) });
}
