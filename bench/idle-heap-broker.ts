// The broker process of `npm run bench:idle-heap`: the ordinary `petrel` command line (its
// arguments are passed through), plus an IPC channel on which the parent asks for a garbage
// collection and a memory reading, or for a heap snapshot. Nothing is added to the broker itself.
// Run by the parent with `fork(..., { execArgv: ['--expose-gc'] })`.

import { writeHeapSnapshot } from 'node:v8';

export type IdleHeapRequest = { type: 'measure'; collect: boolean } | { type: 'snapshot'; path: string };

export type IdleHeapReply = { type: 'measured'; heapUsed: number; heapTotal: number; rss: number; external: number } | { type: 'snapshot-written'; path: string };

const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Full collections until the heap stops shrinking. The parent starts this process with
 * --no-flush-bytecode, so that the collections do not also throw away the bytecode of functions
 * unused for a while (that would be counted against the connections, or for them).
 */
async function collectGarbage(): Promise<void> {
  const collect = globalThis.gc;
  if (collect === undefined) throw new Error('the broker of bench:idle-heap must run with --expose-gc');
  let previous = Number.POSITIVE_INFINITY;
  for (let attempt = 0; attempt < 10; attempt++) {
    collect({ type: 'major', execution: 'sync' });
    // Let finalizers, weak callbacks (socket handles) and concurrent sweeping finish between collections.
    await pause(100);
    const used = process.memoryUsage().heapUsed;
    if (used >= previous - 1024) break;
    previous = used;
  }
}

process.on('message', (request: IdleHeapRequest) => {
  const reply = async (): Promise<IdleHeapReply> => {
    if (request.type === 'snapshot') return { type: 'snapshot-written', path: writeHeapSnapshot(request.path) };
    if (request.collect) await collectGarbage();
    const usage = process.memoryUsage();
    return { type: 'measured', heapUsed: usage.heapUsed, heapTotal: usage.heapTotal, rss: usage.rss, external: usage.external };
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
