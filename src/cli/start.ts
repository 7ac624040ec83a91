// `petrel start`: load the configuration, start the broker, log where it listens, and stop
// gracefully on SIGTERM/SIGINT (a second signal forces the exit).

import { reloadCertificates } from '../listeners/certificate-reloader.js';
import type { Command } from 'commander';
import { ConfigError, loadConfig, type ConfigFlags } from '../config/load.js';
import type { PetrelConfig } from '../config/schema.js';
import { workerCount } from '../config/worker-count.js';
import { createLogger, type Logger } from '../log/logger.js';
import type { RunningManagement } from '../management/start-management.js';
import { exitCodes } from './exit-codes.js';
import { installShutdownHandlers } from './shutdown.js';

interface StartOptions extends ConfigFlags {
  config?: string;
}

interface BoundAddress {
  name: string;
  type: string;
  host: string;
  port: number;
}

function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function addressUrl(address: BoundAddress): string {
  const host = address.host.includes(':') ? `[${address.host}]` : address.host;
  return `${address.type}://${host}:${address.port}`;
}

function loadOrExit(options: StartOptions): PetrelConfig {
  const { config: file, ...flags } = options;
  try {
    return loadConfig({ file, env: process.env, flags });
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(exitCodes.usage);
    }
    throw error;
  }
}

export async function runStart(options: StartOptions): Promise<void> {
  const config = loadOrExit(options);
  const logger = createLogger(config.log);
  // Crashes still end the process (Node's default), but leave a structured record first.
  process.on('uncaughtExceptionMonitor', (error, origin) => {
    logger.fatal({ err: error, origin }, 'uncaught exception, exiting');
  });

  const { workerIdentity } = await import('../cluster/worker-identity.js');
  const identity = workerIdentity(process.env);
  if (identity !== undefined) {
    // A worker forked by the primary of `--workers N`.
    try {
      const { runWorker } = await import('../cluster/worker.js');
      await runWorker(config, logger, identity);
    } catch (error) {
      failWorkerStart(identity.index, errorMessage(error));
    }
    return;
  }
  const workers = workerCount(config.workers);
  if (workers > 1) {
    await runPrimary(config, workers, logger);
    return;
  }

  try {
    // Loaded lazily so `petrel --help` and config errors do not pay for the broker's start-up imports.
    const [{ Broker }, { buildAuth }, { createStore }, { adoptStrayStores }] = await Promise.all([
      import('../broker/broker.js'),
      import('../auth/build-auth.js'),
      import('../store/create-store.js'),
      import('../cluster/store-layout.js'),
    ]);
    // The stores a cluster run left in the data directory join the single process's store.
    await adoptStrayStores({ storage: config.storage, workers: 1, index: 0, keepsRetained: true, logger });
    const auth = buildAuth(config, logger);
    const store = createStore(config.storage, logger);
    const broker = new Broker(config, { logger, store, hooks: auth.hooks, enhancedAuth: auth.enhancedAuth });
    let management: RunningManagement | undefined;
    let stopping = false;
    installShutdownHandlers({
      stop: async () => {
        stopping = true;
        await management?.stop();
        await broker.stop();
        auth.close();
      },
      logger,
      exit: (code) => process.exit(code),
    });
    // SIGHUP re-reads the password, ACL and key files and the TLS certificates (as mosquitto does);
    // a failed reload keeps the old state.
    process.on('SIGHUP', () => {
      logger.info({ signal: 'SIGHUP' }, 'reloading authentication files and certificates');
      auth.reload().catch((error: unknown) => logger.error({ err: error }, 'reload failed'));
      logger.info({ certificates: reloadCertificates() }, 'certificates reloaded');
    });
    await broker.start();
    const listeners: BoundAddress[] = broker.addresses;
    logger.info({ listeners, addresses: listeners.map(addressUrl) }, 'petrel listening');
    // After the listeners; an address it cannot bind is logged and the broker goes on without it.
    if (config.http.enabled && !stopping) {
      const { startLocalManagement } = await import('../management/start-management.js');
      management = await startLocalManagement(config.http, broker, logger);
    }
  } catch (error) {
    process.stderr.write(`petrel: cannot start: ${errorMessage(error)}\n`);
    process.exit(exitCodes.failure);
  }
}

/** A worker that cannot start tells the primary, which prints the one line of a failed start. */
function failWorkerStart(index: number, reason: string): void {
  const printAndExit = (): void => {
    process.stderr.write(`petrel: worker ${index} cannot start: ${reason}\n`);
    process.exit(exitCodes.failure);
  };
  if (process.send === undefined || !process.connected) {
    printAndExit();
    return;
  }
  process.send({ kind: 'start-failed', reason }, (error: Error | null) => (error === null ? process.exit(exitCodes.failure) : printAndExit()));
}

/** N > 1 workers: this process forks and supervises the workers; they hold the connections. */
async function runPrimary(config: PetrelConfig, workers: number, logger: Logger): Promise<void> {
  const { Primary } = await import('../cluster/primary.js');
  let management: RunningManagement | undefined;
  let stopping = false;
  const primary = new Primary({
    config,
    workers,
    logger,
    onListening: (listeners) => {
      logger.info({ listeners, addresses: listeners.map(addressUrl), workers, pids: primary.workerPids() }, 'petrel listening');
      // Only the primary serves HTTP; it merges the workers' metrics.
      if (config.http.enabled && !stopping) {
        void import('../management/start-management.js')
          .then(({ startClusterManagement }) => startClusterManagement(config.http, primary, logger))
          .then(
            (running) => (management = running),
            (error: unknown) => logger.error({ err: error }, 'management server not started'),
          );
      }
    },
    onStartFailure: (reason) => {
      process.stderr.write(`petrel: cannot start: ${reason}\n`);
      primary.stop().finally(() => process.exit(exitCodes.failure));
    },
  });
  installShutdownHandlers({
    stop: async () => {
      stopping = true;
      await management?.stop();
      await primary.stop();
    },
    logger,
    exit: (code) => process.exit(code),
  });
  process.on('SIGHUP', () => {
    logger.info({ signal: 'SIGHUP' }, 'reloading authentication files in every worker');
    primary.reload();
  });
  primary.start();
}

export function registerStartCommand(program: Command): void {
  program
    .command('start')
    .description('run the broker (configuration: file < PETREL_* environment < flags)')
    .option('-c, --config <file>', 'YAML configuration file (env PETREL_CONFIG)')
    .option('--host <host>', 'bind address of the first TCP listener (env PETREL_HOST)')
    .option('-p, --port <port>', 'port of the first TCP listener, 0 = any free port (env PETREL_PORT)')
    .option('--data-dir <dir>', 'directory of the embedded store (env PETREL_DATA_DIR)')
    .option('--workers <n|auto>', 'worker processes: 1 = one process, auto = one per core (the default) (env PETREL_WORKERS)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (env PETREL_LOG_LEVEL)')
    .action(async (options: StartOptions) => {
      await runStart(options);
    });
}
