// kill -9 in async mode: the real broker (bin/petrel.js, LMDB store, storage.mode async) is
// SIGKILLed at seeded random moments while QoS 1 and QoS 2 publishers run flat out towards
// persistent-session subscribers, then restarted on the same data directory; several rounds.
// Async mode acknowledges before committing, so the documented window of loss applies
// (docs/architecture-store.md): what the broker took within `asyncFlushMs` (plus a margin for
// the commit in progress) before a kill may be missing. Nothing else is relaxed: everything taken
// earlier must arrive, what arrives arrives in order, QoS 2 at most once, and a retained value
// falls back at most to the last one taken outside the window.
// The seed is printed; PETREL_CRASH_SEED=<seed> replays the same choices.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerProcess, sleep } from './broker-process.js';
import { freePort } from '../../src/bench/loopback-port.js';
import { CrashPublisher, CrashSubscriber, readRetained, startRound } from './crash-clients.js';
import { asyncDeliveryOutcome, asyncRetainedViolations, missingRequired, requiredSeqs, type AsyncOutcome, type KillInterval } from './async-crash-check.js';
import { crashSeed, SeededRandom } from './seeded-random.js';

const rounds = 5;
const asyncFlushMs = 50;
/** The commit in progress when a write falls due may delay it past asyncFlushMs: this much slack. */
const safetyMarginMs = 250;
const lossWindowMs = asyncFlushMs + safetyMarginMs;

interface RunResult {
  seed: number;
  outcome: AsyncOutcome;
  retainedViolations: string[];
  takenPerRound: number[];
  unacknowledgedAtEnd: number[];
  reusedPacketIds: string;
  brokerLog: string[];
  stoppedCode: number | null;
  lastOutput: string;
}

describe('kill -9 of the broker in async mode', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'petrel-async-crash-'));
  const running: BrokerProcess[] = [];
  const clients: Array<{ close(): void }> = [];
  let result: RunResult;

  before(async () => {
    result = await crashRun(dataDir, running, clients);
  }, { timeout: 90_000 });

  after(async () => {
    for (const client of clients) client.close();
    for (const broker of running) await broker.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test(`QoS 1 and retained: only what was taken within ${lossWindowMs} ms of a SIGKILL may be lost (${rounds} kills)`, (context) => {
    const { seed, outcome } = result;
    context.diagnostic(`crash seed ${seed} (replay with PETREL_CRASH_SEED=${seed})`);
    context.diagnostic(`taken per round: ${result.takenPerRound.join(', ')}; deliveries checked ${outcome.required}, inside a loss window ${outcome.inWindow} (${outcome.lostInWindow} of them lost)`);
    for (const line of result.brokerLog) context.diagnostic(`broker log: ${line.slice(0, 200)}`);
    assert.equal(result.stoppedCode, 0, `broker did not stop cleanly: ${result.lastOutput}`);
    assert.deepEqual(result.retainedViolations, [], `seed ${seed}: retained messages after the restarts`);
    assert.deepEqual(result.unacknowledgedAtEnd, result.unacknowledgedAtEnd.map(() => 0), `seed ${seed}: publishes still unacknowledged at the end`);
    assert.deepEqual(outcome.violations, [], `seed ${seed}: ${outcome.violations.length} violation(s)`);
    // A run where the kills all came before any traffic would prove nothing.
    assert.ok(result.takenPerRound.filter((count) => count > 0).length >= rounds - 1, `too little traffic before the kills: ${result.takenPerRound.join(', ')}`);
    assert.ok(outcome.required > 0, 'no message was taken outside a loss window: nothing was checked');
  });

  // QoS 2 steps (PUBCOMP to a publisher; PUBLISH and PUBREL to a subscriber) wait for the commit
  // of their state in async mode too (Store.whenCommitted): otherwise a kill leaves stale packet
  // ids that swallow later messages taken outside the window.
  test('QoS 2: exactly once, in order, no packet id reused before its release', (context) => {
    const { seed, outcome } = result;
    context.diagnostic(`packet ids reused by the broker while a subscriber still held them: ${result.reusedPacketIds}`);
    assert.deepEqual(outcome.qos2Violations, [], `seed ${seed}: ${outcome.qos2Violations.length} violation(s)`);
  });
});

async function crashRun(dataDir: string, running: BrokerProcess[], clients: Array<{ close(): void }>): Promise<RunResult> {
  const seed = crashSeed();
  console.log(`async crash test seed: ${seed} (replay with PETREL_CRASH_SEED=${seed})`);
  const random = new SeededRandom(seed);
  let port = await freePort();
  const env = {
    PETREL_STORAGE__MODE: 'async',
    PETREL_STORAGE__ASYNC_FLUSH_MS: String(asyncFlushMs),
    // Offline subscribers collect every message of the run: the default queue limit (1000) would drop some.
    PETREL_LIMITS__MAX_QUEUED_MESSAGES: '1000000',
  };
  const startBroker = async (): Promise<BrokerProcess> => {
    const broker = await BrokerProcess.startOnFreePort({ port, dataDir, env });
    running.push(broker);
    port = broker.port;
    return broker;
  };

  // A window of 4 in flight: async acknowledgements are fast, and more traffic only lengthens the final drain.
  const publishers = [new CrashPublisher('pub-a', 5, random, 4), new CrashPublisher('pub-b', 4, random, 4), new CrashPublisher('pub-c', 5, random, 4)];
  // sub-0 is always connected, sub-3 offline until the end; sub-1 and sub-2 come and go.
  // Both ways of receiving QoS 2 that MQTT allows: A (at PUBLISH) and B (at PUBREL).
  const subscribers = [new CrashSubscriber('sub-0', 5, 'A'), new CrashSubscriber('sub-1', 4, 'B'), new CrashSubscriber('sub-2', 5, 'A'), new CrashSubscriber('sub-3', 4, 'B')];
  clients.push(...publishers, ...subscribers);

  let broker = await startBroker();
  for (const subscriber of subscribers) await subscriber.connect(port);
  for (const publisher of publishers) await publisher.connect(port);
  // Acknowledgements do not wait for the disk here: give the sessions time to be committed.
  await sleep(lossWindowMs);
  for (const subscriber of subscribers) subscriber.markDurable();

  const kills: KillInterval[] = [];
  const retainedSeen = new Map<string, number>();
  const retainedViolations: string[] = [];
  const takenCount = (): number => publishers.reduce((sum, publisher) => sum + [...publisher.takenAt.values()].reduce((inner, times) => inner + times.size, 0), 0);
  const takenPerRound: number[] = [];
  for (let round = 1; round <= rounds; round++) {
    await startRound(port, random, subscribers, publishers);
    const before = takenCount();
    // Long enough that most of a round lies outside the loss window.
    await sleep(random.between(lossWindowMs + 100, 1200));
    const killedAt = Date.now();
    await broker.kill();
    for (const client of clients) client.close();
    takenPerRound.push(takenCount() - before);

    broker = await startBroker();
    kills.push({ killedAt, restartedAt: Date.now() });
    const expected = publishers.flatMap((publisher) =>
      publisher.topics.filter((topic) => topic.retain && (requiredSeqs(publisher, topic.topic, kills, lossWindowMs).length > 0 || retainedSeen.has(topic.topic))).map((topic) => topic.topic),
    );
    const retained = await readRetained(port, expected, 3000);
    for (const violation of asyncRetainedViolations(publishers, retained, retainedSeen, kills, lossWindowMs)) retainedViolations.push(`after kill ${round}: ${violation}`);
    for (const [topic, value] of retained) retainedSeen.set(topic, value);
  }

  // Everyone back: publishers finish what is outstanding, subscribers drain their queues.
  for (const subscriber of subscribers) await subscriber.connect(port);
  for (const publisher of publishers) {
    publisher.pause();
    await publisher.connect(port);
  }
  for (const publisher of publishers) await publisher.settled(10_000);
  // Until nothing is missing, or nothing has arrived for a while (a message lost for good never comes).
  const deadline = Date.now() + 15_000;
  const receivedCount = (): number => subscribers.reduce((sum, subscriber) => sum + [...subscriber.received.values()].reduce((inner, seqs) => inner + seqs.length, 0), 0);
  let lastCount = receivedCount();
  let lastProgress = Date.now();
  while (missingRequired(publishers, subscribers, kills, lossWindowMs) > 0 && Date.now() < deadline && Date.now() - lastProgress < 1500) {
    await sleep(50);
    const count = receivedCount();
    if (count !== lastCount) {
      lastCount = count;
      lastProgress = Date.now();
    }
  }
  // A duplicate would come with the drain: let it settle.
  await sleep(300);
  const stopped = await broker.stop();
  for (const client of clients) client.close();

  // What the brokers logged at warn and above (distinct messages), to read alongside a failure.
  const brokerLog = [...new Set(running.flatMap((started) => started.output.split('\n').map((line) => /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.trim())).filter((line) => line !== ''))];
  return {
    seed,
    outcome: asyncDeliveryOutcome(publishers, subscribers, kills, lossWindowMs),
    retainedViolations,
    takenPerRound,
    unacknowledgedAtEnd: publishers.map((publisher) => publisher.outstandingCount),
    reusedPacketIds: subscribers.map((subscriber) => `${subscriber.clientId} ${subscriber.reusedPacketIds}`).join(', '),
    brokerLog,
    stoppedCode: stopped.code,
    lastOutput: broker.output,
  };
}
