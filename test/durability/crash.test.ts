// kill -9 at random moments: the real broker (bin/petrel.js, LMDB store in sync mode) is
// SIGKILLed while QoS 1 and QoS 2 publishers run flat out towards persistent-session
// subscribers, some connected and some offline, then restarted on the same data directory;
// several rounds. Nothing a publisher saw acknowledged may be lost, duplicated (QoS 2) or
// reordered, and every acknowledged retained message must be there after each restart.
// The seed is printed; PETREL_CRASH_SEED=<seed> replays the same choices.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerProcess, sleep } from './broker-process.js';
import { freePort } from '../../src/bench/loopback-port.js';
import { CrashPublisher, CrashSubscriber, readRetained, startRound } from './crash-clients.js';
import { deliveryViolations, missingDeliveries, retainedViolations } from './crash-check.js';
import { crashSeed, SeededRandom } from './seeded-random.js';

const rounds = 4;

describe('kill -9 of the broker', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'petrel-crash-'));
  const running: BrokerProcess[] = [];
  const clients: Array<{ close(): void }> = [];

  after(async () => {
    for (const client of clients) client.close();
    for (const broker of running) await broker.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test(`acknowledged QoS 1/2 and retained messages survive ${rounds} SIGKILLs`, { timeout: 90_000 }, async (context) => {
    const seed = crashSeed();
    context.diagnostic(`crash seed ${seed} (replay with PETREL_CRASH_SEED=${seed})`);
    console.log(`crash test seed: ${seed} (replay with PETREL_CRASH_SEED=${seed})`);
    const random = new SeededRandom(seed);
    let port = await freePort();
    // Offline subscribers collect every message of the run: the default queue limit (1000) would drop some.
    const env = { PETREL_LIMITS__MAX_QUEUED_MESSAGES: '1000000' };
    const startBroker = async (): Promise<BrokerProcess> => {
      const broker = await BrokerProcess.startOnFreePort({ port, dataDir, env });
      running.push(broker);
      port = broker.port;
      return broker;
    };

    const publishers = [
      new CrashPublisher('pub-a', 5, random),
      new CrashPublisher('pub-b', 4, random),
      new CrashPublisher('pub-c', 5, random),
    ];
    // sub-0 is always connected, sub-3 offline until the end; sub-1 and sub-2 come and go.
    // Both ways of receiving QoS 2 that MQTT allows: A (at PUBLISH) and B (at PUBREL).
    const subscribers = [
      new CrashSubscriber('sub-0', 5, 'A'),
      new CrashSubscriber('sub-1', 4, 'B'),
      new CrashSubscriber('sub-2', 5, 'B'),
      new CrashSubscriber('sub-3', 4, 'A'),
    ];
    clients.push(...publishers, ...subscribers);

    let broker = await startBroker();
    for (const subscriber of subscribers) await subscriber.connect(port);
    // The first acknowledgement covers every earlier store write, the subscriptions included.
    for (const publisher of publishers) await publisher.connect(port);
    for (const publisher of publishers) publisher.start();
    while (publishers.every((publisher) => [...publisher.acknowledged.values()].every((seqs) => seqs.size === 0))) await sleep(5);
    for (const subscriber of subscribers) subscriber.markDurable();

    const acknowledgedPerRound: number[] = [];
    const totalAcknowledged = (): number => publishers.reduce((sum, publisher) => sum + [...publisher.acknowledged.values()].reduce((inner, seqs) => inner + seqs.size, 0), 0);
    for (let round = 1; round <= rounds; round++) {
      await startRound(port, random, subscribers, publishers);
      const before = totalAcknowledged();
      await sleep(random.between(150, 900));
      await broker.kill();
      acknowledgedPerRound.push(totalAcknowledged() - before);
      for (const client of clients) client.close();

      broker = await startBroker();
      const expectedRetained = publishers.flatMap((publisher) => publisher.topics.filter((topic) => topic.retain && publisher.acknowledged.get(topic.topic)!.size > 0).map((topic) => topic.topic));
      const retained = await readRetained(port, expectedRetained, 5000);
      assert.deepEqual(retainedViolations(publishers, retained), [], `round ${round} (seed ${seed}): retained messages after restart`);
    }

    // Everyone back: publishers finish what is outstanding, subscribers drain their queues.
    for (const subscriber of subscribers) await subscriber.connect(port);
    for (const publisher of publishers) {
      publisher.pause();
      await publisher.connect(port);
    }
    for (const publisher of publishers) await publisher.settled(10_000);
    const deadline = Date.now() + 15_000;
    while (missingDeliveries(publishers, subscribers) > 0 && Date.now() < deadline) await sleep(50);
    const stopped = await broker.stop();
    for (const client of clients) client.close();

    context.diagnostic(`acknowledged per round: ${acknowledgedPerRound.join(', ')}; total ${totalAcknowledged()}`);
    // What the brokers logged at warn and above (distinct messages), to read alongside a failure.
    const logged = new Set(running.flatMap((started) => started.output.split('\n').map((line) => /"msg":"([^"]*)"/.exec(line)?.[1] ?? line.trim())).filter((line) => line !== ''));
    for (const line of logged) context.diagnostic(`broker log: ${line.slice(0, 200)}`);
    assert.equal(stopped.code, 0, `broker did not stop cleanly: ${broker.output}`);
    assert.deepEqual(
      publishers.map((publisher) => publisher.outstandingCount),
      publishers.map(() => 0),
      `seed ${seed}: publishes still unacknowledged at the end`,
    );
    const violations = deliveryViolations(publishers, subscribers);
    assert.deepEqual(violations, [], `seed ${seed}: ${violations.length} violation(s)`);
    // A run where the kills all came before any traffic would prove nothing.
    assert.ok(acknowledgedPerRound.filter((count) => count > 0).length >= rounds - 1, `too little traffic before the kills: ${acknowledgedPerRound.join(', ')}`);
  });
});
