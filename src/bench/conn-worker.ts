// Entry point of a `petrel bench conn` worker process: holds its share of the
// connections so the total can exceed one process's open-file limit.
import { ConnectionSet, emptyConnectionStats } from './connection-set.js';
import type { WorkerReport, WorkerRequest } from './conn-worker-protocol.js';

const PROGRESS_MS = 500;

function report(message: WorkerReport): void {
  process.send?.(message);
}

let connections: ConnectionSet | undefined;
let progressTimer: NodeJS.Timeout | undefined;

process.on('message', (message: WorkerRequest) => {
  if (message.type === 'open' && connections === undefined) {
    const set = new ConnectionSet(message.options);
    connections = set;
    progressTimer = setInterval(() => report({ type: 'progress', stats: set.stats() }), PROGRESS_MS);
    set.open().then(
      (stats) => report({ type: 'opened', stats }),
      (error: unknown) => report({ type: 'failed', message: String(error) }),
    );
  } else if (message.type === 'close') {
    if (progressTimer !== undefined) clearInterval(progressTimer);
    const set = connections;
    const finish = (): void => {
      report({ type: 'closed', stats: set?.stats() ?? emptyConnectionStats(), rssBytes: process.memoryUsage.rss() });
      process.disconnect();
    };
    if (set === undefined) finish();
    else set.close().then(finish, finish);
  }
});

// The parent going away (killed, crashed) must not leave this process holding sockets.
process.on('disconnect', () => {
  if (progressTimer !== undefined) clearInterval(progressTimer);
  if (connections === undefined) process.exit(0);
  connections.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
});
