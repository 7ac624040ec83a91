// A worker process of `petrel start --workers N`: one broker with its own connections and its
// own store (`<dataDir>/worker-<i>`, taking in the stores of runs with another worker count
// first: store-layout.ts), joined to the other workers through the mesh. The primary
// tells it when to stop; signals from a terminal (which reach the whole process group) are left
// to the primary.

import { reloadCertificates } from '../listeners/certificate-reloader.js';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { buildAuth } from '../auth/build-auth.js';
import { Broker } from '../broker/broker.js';
import type { PetrelConfig } from '../config/schema.js';
import type { Connection } from '../connection/connection.js';
import { takeOver } from '../connection/handle-connect.js';
import { createStore } from '../store/create-store.js';
import { ClusterNode, type PrimaryChannel } from './cluster-node.js';
import { ClusterStore } from './cluster-store.js';
import { isPrimaryMessage, type PrimaryMessage } from './ipc-messages.js';
import { adoptStrayStores, workerStoreDirectory } from './store-layout.js';
import type { WorkerIdentity } from './worker-identity.js';

/** The worker keeping retained messages on disk (the single writer of each retained topic). */
export const retainedKeeper = 0;

function primaryChannel(): PrimaryChannel {
  return {
    send: (message) => {
      if (process.connected) process.send?.(message);
    },
    onMessage: (handler) => {
      process.on('message', (message: unknown) => {
        if (isPrimaryMessage(message)) handler(message);
      });
    },
  };
}

/** Runs the worker until the primary asks it to stop (exit 0) or it fails to start (exit 1). */
export async function runWorker(config: PetrelConfig, baseLogger: Logger, identity: WorkerIdentity): Promise<void> {
  const { index } = identity;
  const logger = baseLogger.child({ worker: index });
  await adoptStrayStores({ storage: config.storage, workers: identity.count, index, keepsRetained: index === retainedKeeper, logger });
  const inner = createStore({ ...config.storage, dir: workerStoreDirectory(config.storage.dir, index) }, logger);
  const socketPath = join(identity.meshDirectory, `worker-${index}.sock`);
  const node = new ClusterNode({
    self: index,
    socketPath,
    channel: primaryChannel(),
    logger,
    sharedStrategy: config.mqtt.sharedSubscriptionStrategy,
    takeOver: (link, clean) => takeOver(link as Connection, clean),
    durableForwards: config.storage.mode === 'sync',
    whenLocallyDurable: (callback) => inner.whenDurable(callback),
  });
  const store = new ClusterStore({
    inner,
    keepsRetained: index === retainedKeeper,
    join: () => node.join(),
    remoteDurability: (callback) => node.whenSettledElsewhere(callback),
  });
  const auth = buildAuth(config, logger);
  const broker = new Broker(config, { logger, store, hooks: auth.hooks, enhancedAuth: auth.enhancedAuth, cluster: node });
  node.attach(broker);
  // $SYS shows cluster totals: each worker reports its statistics twice per $SYS interval (at most every second).
  if (config.mqtt.sysInterval > 0) node.startStatsExchange(Math.min(1000, config.mqtt.sysInterval * 500), () => broker.stats());

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await broker.stop();
      auth.close();
      await node.stop();
    })();
    return stopping;
  };
  const stopAndExit = (): void => {
    stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'worker stop failed');
        process.exit(1);
      },
    );
  };
  process.on('message', (message: unknown) => {
    if (!isPrimaryMessage(message)) return;
    const kind: PrimaryMessage['kind'] = message.kind;
    if (kind === 'stop') stopAndExit();
    if (kind === 'reload') {
      auth.reload().catch((error: unknown) => logger.error({ err: error }, 'reload failed'));
      logger.info({ certificates: reloadCertificates() }, 'certificates reloaded');
    }
  });
  // Ctrl-C reaches every process of the group: the primary coordinates the stop.
  process.on('SIGINT', () => undefined);
  process.on('SIGHUP', () => undefined);
  process.on('SIGTERM', stopAndExit);
  // The primary is gone: nobody would restart us or route claims, so stop.
  process.on('disconnect', stopAndExit);

  // The management server runs in the primary, which asks every ready worker for its metrics.
  if (config.http.enabled) {
    const { startWorkerAnswers } = await import('../management/worker-answers.js');
    startWorkerAnswers(broker, index);
  }
  await broker.start();
  node.ready(broker.addresses);
  logger.info({ addresses: broker.addresses, meshSocket: socketPath }, 'worker listening');
}
