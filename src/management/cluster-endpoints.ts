// /metrics and /healthz in the primary of a multi-process broker. The primary holds no
// connections: it asks every ready worker for its registry as JSON (management-messages.ts) and
// merges the answers with prom-client's AggregatorRegistry.aggregate, each metric by its own
// aggregator (broker-metrics.ts says which are summed). The primary adds its own process metrics
// and the worker counts.

import cluster, { type Worker } from 'node:cluster';
import { AggregatorRegistry, Gauge, Registry } from 'prom-client';
import type { Logger } from '../log/logger.js';
import { isManagementAnswer, type ManagementAnswer, type ManagementQuery, type MetricsJson } from './management-messages.js';
import type { HealthReport, ManagementEndpoints, MetricsText } from './management-server.js';
import { collectProcessMetrics, processLabel } from './metrics-registry.js';

export interface ReadyWorker {
  index: number;
  worker: Worker;
}

/** What the primary tells about its workers (the Primary satisfies it). */
export interface WorkerDirectory {
  /** Workers started and listening: the ones asked. */
  readyWorkers(): ReadyWorker[];
  /** Workers the broker runs when all are up. */
  readonly workerCount: number;
}

/** The slice of node:cluster used here. */
export interface ClusterMessages {
  on(event: 'message', listener: (worker: Worker, message: unknown) => void): unknown;
  off(event: 'message', listener: (worker: Worker, message: unknown) => void): unknown;
}

export interface ClusterEndpointsOptions {
  directory: WorkerDirectory;
  logger: Logger;
  /** Longest wait for the workers' answers; a worker that misses it is left out of that answer. */
  timeoutMs?: number;
  messages?: ClusterMessages;
}

interface WorkerAnswer {
  index: number;
  answer: ManagementAnswer;
}

interface PendingQuery {
  /** Workers asked that have not answered yet, with their index. */
  waiting: Map<Worker, number>;
  answers: WorkerAnswer[];
  finish(): void;
}

export class ClusterEndpoints implements ManagementEndpoints {
  private readonly options: ClusterEndpointsOptions;
  private readonly messages: ClusterMessages;
  /** The primary's own metrics: its process (labelled process="primary") and the worker counts. */
  private readonly registry = new Registry();
  private readonly pending = new Map<number, PendingQuery>();
  private nextRequestId = 1;
  private workersScraped = 0;
  /** Concurrent scrapes share one round of questions to the workers. */
  private scrapeInFlight: Promise<MetricsText> | undefined;
  private readonly onMessage = (worker: Worker, message: unknown): void => this.receive(worker, message);

  constructor(options: ClusterEndpointsOptions) {
    this.options = options;
    this.messages = options.messages ?? cluster;
    const { directory } = options;
    const scraped = (): number => this.workersScraped;
    collectProcessMetrics(this.registry, 'primary');
    new Gauge({
      name: 'petrel_workers',
      help: 'Worker processes the broker runs when all are up',
      registers: [this.registry],
      collect() {
        this.set(directory.workerCount);
      },
    });
    new Gauge({
      name: 'petrel_workers_ready',
      help: 'Worker processes started and listening',
      registers: [this.registry],
      collect() {
        this.set(directory.readyWorkers().length);
      },
    });
    new Gauge({
      name: 'petrel_workers_scraped',
      help: 'Workers whose metrics this answer includes (a worker that did not answer in time is left out)',
      registers: [this.registry],
      collect() {
        this.set(scraped());
      },
    });
    this.messages.on('message', this.onMessage);
  }

  metrics(): Promise<MetricsText> {
    this.scrapeInFlight ??= this.scrape().finally(() => {
      this.scrapeInFlight = undefined;
    });
    return this.scrapeInFlight;
  }

  async health(): Promise<HealthReport> {
    const { directory } = this.options;
    const ready = directory.readyWorkers().length;
    const answers = await this.ask(false);
    const notWritable = answers.filter((entry) => !entry.answer.storeWritable).map((entry) => entry.index);
    // A restarting worker does not make the broker unhealthy (the others take its connections);
    // no worker answering, or a store refusing writes, does.
    return {
      healthy: answers.length > 0 && notWritable.length === 0,
      details: {
        workers: { configured: directory.workerCount, ready, answered: answers.length },
        store: { writable: notWritable.length === 0, notWritableWorkers: notWritable },
      },
    };
  }

  /** Stops listening for answers; pending questions finish with what they have. */
  close(): void {
    this.messages.off('message', this.onMessage);
    for (const query of [...this.pending.values()]) query.finish();
  }

  private async scrape(): Promise<MetricsText> {
    const answers = await this.ask(true);
    const workerMetrics: MetricsJson[] = [];
    for (const { index, answer } of answers) {
      if (answer.metrics !== undefined) workerMetrics.push(answer.metrics);
      else this.options.logger.warn({ worker: index, reason: answer.error }, 'a worker could not read its metrics');
    }
    this.workersScraped = workerMetrics.length;
    const own = await this.registry.getMetricsAsJSON();
    const merged = AggregatorRegistry.aggregate([own, ...workerMetrics].map(keepPerProcessSeries));
    return { contentType: merged.contentType, body: await merged.metrics() };
  }

  /** Asks every ready worker; resolves with the answers that came before the timeout. */
  private ask(metrics: boolean): Promise<WorkerAnswer[]> {
    const workers = this.options.directory.readyWorkers().filter((entry) => entry.worker.isConnected());
    if (workers.length === 0) return Promise.resolve([]);
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        clearTimeout(timer);
        this.pending.delete(requestId);
        if (query.waiting.size > 0) this.options.logger.warn({ workers: [...query.waiting.values()] }, 'workers did not answer a management query in time');
        resolve(query.answers);
      };
      const query: PendingQuery = { waiting: new Map(workers.map((entry) => [entry.worker, entry.index])), answers: [], finish };
      const timer = setTimeout(finish, this.options.timeoutMs ?? 2000);
      this.pending.set(requestId, query);
      const message: ManagementQuery = { kind: 'management-query', requestId, metrics };
      for (const { worker } of workers) {
        worker.send(message, (error: Error | null) => {
          if (error === null || !query.waiting.delete(worker)) return;
          // The worker went away between the check and the send: do not wait for it.
          if (query.waiting.size === 0) finish();
        });
      }
    });
  }

  private receive(worker: Worker, message: unknown): void {
    if (!isManagementAnswer(message)) return;
    const query = this.pending.get(message.requestId);
    const index = query?.waiting.get(worker);
    if (query === undefined || index === undefined) return;
    query.waiting.delete(worker);
    query.answers.push({ index, answer: message });
    if (query.waiting.size === 0) query.finish();
  }
}

/**
 * Process metrics carry a distinct `process` label in each registry, so merging them keeps one
 * series per process whatever the aggregator, except prom-client's "omit" (process start time),
 * which would drop them: those are merged as "first", which per distinct label set keeps them all.
 */
function keepPerProcessSeries(metrics: MetricsJson): MetricsJson {
  return metrics.map((metric) => {
    const perProcess = metric.values.length > 0 && metric.values.every((value) => processLabel in value.labels);
    return perProcess && metric.aggregator === 'omit' ? { ...metric, aggregator: 'first' } : metric;
  });
}
