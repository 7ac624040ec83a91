// The traffic scenarios, one function each. The CLI and bench:compare call
// these; each returns the summary object that `--json` prints.
import type { TrafficPlan } from './traffic.js';
import { runTraffic } from './traffic.js';
import { trafficDefaults, type TrafficOptions, type TrafficSummary } from './traffic-types.js';
import { expandTopic, wildcardFilter } from './topic-pattern.js';

export type TrafficInput = Partial<TrafficOptions>;

export function resolveTrafficOptions(input: TrafficInput): TrafficOptions {
  const options: TrafficOptions = { ...trafficDefaults };
  for (const [key, value] of Object.entries(input)) {
    if (value !== undefined) (options as unknown as Record<string, unknown>)[key] = value;
  }
  if (![0, 1, 2].includes(options.qos)) throw new RangeError(`--qos must be 0, 1 or 2 (got ${options.qos})`);
  if (options.protocolVersion !== 4 && options.protocolVersion !== 5) {
    throw new RangeError(`--protocol must be 4 or 5 (got ${String(options.protocolVersion)})`);
  }
  if (!(options.rate >= 0)) throw new RangeError('--rate must be 0 or more');
  if (!(options.durationSeconds > 0)) throw new RangeError('--duration must be positive');
  if (!(options.warmupSeconds >= 0)) throw new RangeError('--warmup must be 0 or more');
  if (!(options.inflight >= 1)) throw new RangeError('--inflight must be at least 1');
  return options;
}

function count(value: number, name: string): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer (got ${value})`);
  return value;
}

function indices(total: number): number[] {
  return Array.from({ length: total }, (_, index) => index);
}

/** `clients` publishers, publisher i on topic(i); nobody subscribes (pair with `runSub` or another tool). */
export function runPub(input: TrafficInput & { clients?: number; topic?: string }): Promise<TrafficSummary> {
  const options = resolveTrafficOptions(input);
  const topic = input.topic ?? 'bench/%i';
  const plan: TrafficPlan = {
    scenario: 'pub',
    topicPattern: topic,
    publishers: indices(count(input.clients ?? 1, '--clients')).map((index) => ({
      topic: expandTopic(topic, options.startIndex + index),
    })),
    subscribers: [],
  };
  return runTraffic(plan, options);
}

/** `clients` subscribers, subscriber i on filter(i) (the topic may contain wildcards); runs for the duration. */
export function runSub(input: TrafficInput & { clients?: number; topic?: string }): Promise<TrafficSummary> {
  const options = resolveTrafficOptions(input);
  const topic = input.topic ?? 'bench/#';
  const plan: TrafficPlan = {
    scenario: 'sub',
    topicPattern: topic,
    publishers: [],
    subscribers: indices(count(input.clients ?? 1, '--clients')).map((index) => ({
      filter: expandTopic(topic, options.startIndex + index),
      expectFrom: null,
    })),
  };
  return runTraffic(plan, options);
}

/** N publishers -> 1 subscriber. Publishers use topic(i); the subscriber's filter turns each `%i` level into `+`. */
export function runFanin(input: TrafficInput & { publishers?: number; topic?: string }): Promise<TrafficSummary> {
  const options = resolveTrafficOptions(input);
  const topic = input.topic ?? 'bench/fanin/%i';
  const publishers = count(input.publishers ?? 10, '--publishers');
  const plan: TrafficPlan = {
    scenario: 'fanin',
    topicPattern: topic,
    publishers: indices(publishers).map((index) => ({ topic: expandTopic(topic, options.startIndex + index) })),
    subscribers: [{ filter: wildcardFilter(topic), expectFrom: indices(publishers) }],
  };
  return runTraffic(plan, options);
}

/** 1 publisher -> N subscribers, all on one topic (`%i` = the publisher's index). */
export function runFanout(input: TrafficInput & { subscribers?: number; topic?: string }): Promise<TrafficSummary> {
  const options = resolveTrafficOptions(input);
  const topic = expandTopic(input.topic ?? 'bench/fanout/%i', options.startIndex);
  const plan: TrafficPlan = {
    scenario: 'fanout',
    topicPattern: input.topic ?? 'bench/fanout/%i',
    publishers: [{ topic }],
    subscribers: indices(count(input.subscribers ?? 100, '--subscribers')).map(() => ({ filter: topic, expectFrom: [0] })),
  };
  return runTraffic(plan, options);
}

function pairsPlan(scenario: string, topic: string, pairs: number, startIndex: number): TrafficPlan {
  return {
    scenario,
    topicPattern: topic,
    publishers: indices(pairs).map((index) => ({ topic: expandTopic(topic, startIndex + index) })),
    subscribers: indices(pairs).map((index) => ({ filter: expandTopic(topic, startIndex + index), expectFrom: [index] })),
  };
}

/** N pairs: publisher i -> subscriber i on topic(i), which should contain %i so pairs do not overlap. */
export function runP2p(input: TrafficInput & { pairs?: number; topic?: string }): Promise<TrafficSummary> {
  const options = resolveTrafficOptions(input);
  const plan = pairsPlan('p2p', input.topic ?? 'bench/p2p/%i', count(input.pairs ?? 100, '--clients'), options.startIndex);
  return runTraffic(plan, options);
}

/**
 * Latency at a fixed total rate (default 5000 msg/s) over N pairs (default 1):
 * the subscriber, in this process, subtracts the send time carried in the payload.
 */
export function runLatency(input: TrafficInput & { pairs?: number; topic?: string }): Promise<TrafficSummary> {
  const options = resolveTrafficOptions({ ...input, rate: input.rate ?? 5000 });
  if (options.rate <= 0) throw new RangeError('the latency scenario needs a fixed --rate above 0');
  const plan = pairsPlan('latency', input.topic ?? 'bench/latency/%i', count(input.pairs ?? 1, '--clients'), options.startIndex);
  return runTraffic(plan, options);
}
