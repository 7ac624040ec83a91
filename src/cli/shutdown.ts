// Signal handling for `petrel start`: the first SIGTERM/SIGINT stops the broker gracefully and
// exits 0 (1 if stopping fails); a second one while stopping exits 1 at once. A repeat within
// duplicateWindowMs is taken as the same request delivered twice (Ctrl-C reaches the whole
// process group, and wrappers such as npm forward it again), not as a demand to force the exit.

import type { Logger } from '../log/logger.js';
import { exitCodes } from './exit-codes.js';

/** The slice of `process` used here, so tests can drive it with an EventEmitter. */
export interface SignalSource {
  on(event: NodeJS.Signals, listener: (signal: NodeJS.Signals) => void): unknown;
}

export interface ShutdownOptions {
  stop: () => Promise<void>;
  logger: Logger;
  exit: (code: number) => void;
  source?: SignalSource;
  signals?: NodeJS.Signals[];
  duplicateWindowMs?: number;
  now?: () => number;
}

export function installShutdownHandlers(options: ShutdownOptions): void {
  const { stop, logger, exit } = options;
  const source = options.source ?? process;
  const duplicateWindowMs = options.duplicateWindowMs ?? 500;
  const now = options.now ?? Date.now;
  let stoppingSince: number | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stoppingSince !== undefined) {
      if (now() - stoppingSince < duplicateWindowMs) return;
      logger.warn({ signal }, 'second signal during shutdown, exiting now');
      exit(exitCodes.failure);
      return;
    }
    stoppingSince = now();
    logger.info({ signal }, 'petrel stopping');
    stop().then(
      () => {
        logger.info('petrel stopped');
        exit(exitCodes.ok);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'graceful stop failed');
        exit(exitCodes.failure);
      },
    );
  };
  for (const signal of options.signals ?? ['SIGTERM', 'SIGINT']) source.on(signal, onSignal);
}
