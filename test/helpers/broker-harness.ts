// Starts an in-process broker on 127.0.0.1 with an ephemeral port, memory store, no $SYS
// (unless asked) and silent logs. Reusable by every test area.

import type { Logger } from 'pino';
import { Broker, type BrokerOptions } from '../../src/broker/broker.js';
import { defaultConfig, type PetrelConfig } from '../../src/config/schema.js';
import { startClusterBroker, testWorkers } from '../cluster/cluster-broker.js';

export interface StartedBroker {
  broker: Broker;
  port: number;
  /** mqtt://127.0.0.1:port */
  url: string;
  config: PetrelConfig;
  stop(): Promise<void>;
}

type PlainObject = Record<string, unknown>;

function isPlainObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value);
}

function merge(base: PlainObject, overrides: PlainObject): PlainObject {
  const result: PlainObject = { ...base };
  for (const [key, value] of Object.entries(overrides)) {
    result[key] = isPlainObject(value) && isPlainObject(result[key]) ? merge(result[key] as PlainObject, value) : value;
  }
  return result;
}

export interface ConfigOverrides {
  listeners?: unknown[];
  storage?: PlainObject;
  auth?: PlainObject;
  limits?: PlainObject;
  mqtt?: PlainObject;
  [key: string]: unknown;
}

export async function startBroker(overrides: ConfigOverrides = {}, options: BrokerOptions & { logger?: Logger } = {}): Promise<StartedBroker> {
  const base: PlainObject = {
    listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
    storage: { mode: 'memory' },
    http: { enabled: false },
    mqtt: { sysInterval: 0 },
    log: { level: 'silent' },
  };
  const config = defaultConfig(merge(base, overrides as PlainObject));
  const workers = testWorkers();
  // PETREL_TEST_WORKERS=N: the same configuration as `petrel start --workers N` in a child process.
  // Hooks and other in-process options cannot cross a process boundary: those brokers stay in-process.
  if (workers !== undefined && Object.keys(options).length === 0) {
    const cluster = await startClusterBroker(config, workers);
    return { broker: inProcessOnly(), port: cluster.port, url: `mqtt://127.0.0.1:${cluster.port}`, config, stop: () => cluster.stop() };
  }
  const broker = new Broker(config, options);
  await broker.start();
  const port = broker.addresses[0]!.port;
  return { broker, port, url: `mqtt://127.0.0.1:${port}`, config, stop: () => broker.stop() };
}

/** Stands in for the Broker object of a broker running in child processes: any use fails clearly. */
function inProcessOnly(): Broker {
  return new Proxy({} as Broker, {
    get(_target, property) {
      throw new Error(`broker.${String(property)}: this test inspects the in-process broker, which PETREL_TEST_WORKERS replaces by a child process`);
    },
  });
}
