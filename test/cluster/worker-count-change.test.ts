// Restarting `petrel start` on the same data directory with another worker count (1 -> 2 -> 3 -> 1,
// durable store): persistent sessions with their queued messages and the retained messages
// survive every change, and the data directory ends up holding only the current layout.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { closeClient, connectCollecting } from '../helpers/mqtt-client.js';
import { startCluster, type RunningCluster } from './cluster-process.js';

const dataDirectory = mkdtempSync(join(tmpdir(), 'petrel-worker-count-'));
after(() => rmSync(dataDirectory, { recursive: true, force: true }));

const persistent = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 600 } };
const sleepers = ['sleeper-0', 'sleeper-1', 'sleeper-2', 'sleeper-3'];

function sessionPresent(client: MqttClient): boolean | undefined {
  return (client as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent;
}

/** Runs `body` against `petrel start --workers <workers>` on the shared data directory, then stops it (exit 0). */
async function withBroker(workers: number, body: (broker: RunningCluster) => Promise<void>): Promise<void> {
  const broker = await startCluster({ workers, env: { PETREL_STORAGE__MODE: 'sync', PETREL_DATA_DIR: dataDirectory } });
  try {
    await body(broker);
  } finally {
    assert.equal(await broker.stop(), 0);
  }
}

/** Reconnects a sleeper: its session must be there, with exactly `expected` queued for it. */
async function wake(broker: RunningCluster, clientId: string, expected: string[]): Promise<void> {
  const { client, inbox } = await connectCollecting(broker.url, { clientId, ...persistent });
  try {
    assert.equal(sessionPresent(client), true, `${clientId}: session present`);
    if (expected.length > 0) assert.deepEqual((await inbox.wait(expected.length, 5000)).map((message) => message.payload), expected, clientId);
  } finally {
    await closeClient(client);
  }
}

async function publish(broker: RunningCluster, messages: Array<[string, string, boolean]>): Promise<void> {
  const { client } = await connectCollecting(broker.url, { clientId: 'count-publisher' });
  try {
    for (const [topic, payload, retain] of messages) await client.publishAsync(topic, payload, { qos: 1, retain });
  } finally {
    await closeClient(client);
  }
}

async function retainedPayload(broker: RunningCluster): Promise<string> {
  const { client, inbox } = await connectCollecting(broker.url, { clientId: 'count-reader' });
  try {
    await client.subscribeAsync('count/retained', { qos: 1 });
    return (await inbox.wait(1, 5000))[0]!.payload;
  } finally {
    await closeClient(client);
  }
}

function layout(): string[] {
  return readdirSync(dataDirectory)
    .filter((name) => name === 'petrel.mdb' || name.startsWith('worker-'))
    .sort();
}

describe('petrel start with another worker count on the same data directory', () => {
  test('1 -> 2 -> 3 -> 1 workers: sessions, their queues and retained messages survive; one layout remains', async () => {
    await withBroker(1, async (broker) => {
      for (const [index, clientId] of sleepers.entries()) {
        const { client } = await connectCollecting(broker.url, { clientId, ...persistent });
        await client.subscribeAsync(`count/${index}`, { qos: 1 });
        await closeClient(client);
      }
      await publish(broker, [['count/retained', 'one process', true], ...sleepers.map((_id, index): [string, string, boolean] => [`count/${index}`, `a-${index}`, false])]);
    });
    assert.deepEqual(layout(), ['petrel.mdb']);

    await withBroker(2, async (broker) => {
      assert.equal(await retainedPayload(broker), 'one process');
      await wake(broker, 'sleeper-0', ['a-0']);
      await wake(broker, 'sleeper-1', ['a-1']);
      await publish(broker, sleepers.map((_id, index): [string, string, boolean] => [`count/${index}`, `b-${index}`, false]));
    });
    assert.deepEqual(layout(), ['worker-0', 'worker-1']);

    await withBroker(3, async (broker) => {
      assert.equal(await retainedPayload(broker), 'one process');
      await wake(broker, 'sleeper-0', ['b-0']);
      await wake(broker, 'sleeper-2', ['a-2', 'b-2']);
      await publish(broker, [['count/retained', 'three workers', true]]);
    });
    assert.deepEqual(layout(), ['worker-0', 'worker-1', 'worker-2']);

    await withBroker(1, async (broker) => {
      assert.equal(await retainedPayload(broker), 'three workers');
      await wake(broker, 'sleeper-1', ['b-1']);
      await wake(broker, 'sleeper-3', ['a-3', 'b-3']);
      await wake(broker, 'sleeper-0', []);
      await wake(broker, 'sleeper-2', []);
    });
    assert.deepEqual(layout(), ['petrel.mdb']);
  });
});
