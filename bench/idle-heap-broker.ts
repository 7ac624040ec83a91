// The broker process of `npm run bench:idle-heap`: the ordinary `petrel` command line (its
// arguments are passed through), plus an IPC channel on which the parent asks for a memory
// reading or a heap snapshot. Nothing is added to the broker itself.
// Run by the parent with `fork(..., { execArgv: ['--expose-gc', ...] })`.

import { Session } from 'node:inspector';
import { constants, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { writeHeapSnapshot } from 'node:v8';

/**
 * How the heap is brought to rest before a reading:
 * - 'low-memory': V8's low-memory collections (through the in-process inspector session:
 *   HeapProfiler.collectGarbage), the memory-reducing kind V8's memory reducer runs once the process
 *   is quiet (the state an idle broker settles in; a plain forced collection frees less);
 * - 'reducer': one forced collection, then wait for the memory reducer itself (slow; it may not
 *   start again if the heap has not grown since its last run);
 * - 'forced': plain full collections until the heap stops shrinking;
 * - 'none': read as it is.
 */
export type SettleMode = 'low-memory' | 'reducer' | 'forced' | 'none';

export type IdleHeapRequest = { type: 'measure'; settle: SettleMode; timeoutMs: number } | { type: 'snapshot'; path: string };

export type IdleHeapReply =
  | { type: 'measured'; heapUsed: number; heapTotal: number; rss: number; reducerCollections: number; settled: boolean }
  | { type: 'snapshot-written'; path: string };

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

// The memory reducer's collections are the major ones V8 tags "collect all external memory".
let reducerCollections = 0;
let lastReducerCollectionAt = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    const detail = (entry as PerformanceEntry & { detail?: { kind: number; flags: number } }).detail;
    if (detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR && (detail.flags & constants.NODE_PERFORMANCE_GC_FLAGS_ALL_EXTERNAL_MEMORY) !== 0) {
      reducerCollections++;
      lastReducerCollectionAt = performance.now();
    }
  }
}).observe({ entryTypes: ['gc'] });

function collect(): void {
  if (globalThis.gc === undefined) throw new Error('the broker of bench:idle-heap must run with --expose-gc');
  globalThis.gc({ type: 'major', execution: 'sync' });
}

/**
 * Full collections until the heap stops shrinking. The parent starts this process with
 * --no-flush-bytecode, so that the collections do not also throw away the bytecode of functions
 * unused for a while (that would be counted against the connections, or for them).
 */
async function collectUntilStable(): Promise<void> {
  let previous = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 10; attempt++) {
    collect();
    // Let finalizers, weak callbacks (socket handles) and concurrent sweeping finish between collections.
    await pause(100);
    const used = process.memoryUsage().heapUsed;
    if (used >= previous - 1024) break;
    previous = used;
  }
}

const inspector = new Session();
inspector.connect();

function lowMemoryCollection(): Promise<void> {
  return new Promise((resolve, reject) => inspector.post('HeapProfiler.collectGarbage', (error) => (error === null ? resolve() : reject(error))));
}

/** Low-memory collections until the heap stops shrinking. */
async function collectAsIfLowOnMemory(): Promise<void> {
  let previous = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 10; attempt++) {
    await lowMemoryCollection();
    await pause(100);
    const used = process.memoryUsage().heapUsed;
    if (used >= previous - 1024) break;
    previous = used;
  }
}

/**
 * A forced collection (a mark-compact) arms the memory reducer; once the process is quiet it runs
 * up to three collections that shrink the heap. Resolves 2 s after the last of them, or false at
 * the timeout.
 */
async function awaitMemoryReducer(timeoutMs: number): Promise<boolean> {
  const before = reducerCollections;
  collect();
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    await pause(250);
    if (reducerCollections > before && performance.now() - lastReducerCollectionAt > 2000) return true;
  }
  return false;
}

process.on('message', (request: IdleHeapRequest) => {
  const reply = async (): Promise<IdleHeapReply> => {
    if (request.type === 'snapshot') return { type: 'snapshot-written', path: writeHeapSnapshot(request.path) };
    let settled = true;
    if (request.settle === 'low-memory') await collectAsIfLowOnMemory();
    else if (request.settle === 'forced') await collectUntilStable();
    else if (request.settle === 'reducer') settled = await awaitMemoryReducer(request.timeoutMs);
    const usage = process.memoryUsage();
    return { type: 'measured', heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, rss: usage.rss, reducerCollections, settled };
  };
  reply().then(
    (message) => process.send?.(message),
    (error: unknown) => {
      process.stderr.write(`idle-heap broker: ${String(error)}\n`);
      process.exit(1);
    },
  );
});

await import('../src/cli/main.js');
