// The stores a run with another worker count left behind: which store takes over which, and the
// merge itself (sessions with their records, wills, retained messages, the later copy winning).

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adoptStrayStores, strayStores } from '../../src/cluster/store-layout.js';
import type { PetrelConfig } from '../../src/config/schema.js';
import { createSilentLogger } from '../../src/log/logger.js';
import { createStore } from '../../src/store/create-store.js';
import type { DelayedWillRecord, OutgoingRecord, RecoveredState, SessionRecord, StoredMessage } from '../../src/store/store.js';
import { durable, message, outgoing, session } from '../store/store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'petrel-store-layout-'));
after(() => rmSync(root, { recursive: true, force: true }));
const logger = createSilentLogger();

let directoryCounter = 0;
function dataDirectory(): string {
  directoryCounter++;
  const directory = join(root, `data-${directoryCounter}`);
  mkdirSync(directory);
  return directory;
}

function storage(dir: string, mode: PetrelConfig['storage']['mode'] = 'sync'): PetrelConfig['storage'] {
  return { mode, dir, asyncFlushMs: 10 };
}

interface Contents {
  sessions?: SessionRecord[];
  outgoing?: Array<[string, OutgoingRecord]>;
  incoming?: Array<[string, number]>;
  retained?: StoredMessage[];
  wills?: DelayedWillRecord[];
}

async function writeStore(dir: string, contents: Contents, mtime?: Date): Promise<void> {
  const store = createStore(storage(dir), logger);
  await store.open();
  for (const record of contents.sessions ?? []) store.putSession(record);
  for (const [clientId, record] of contents.outgoing ?? []) store.putOutgoing(clientId, record);
  for (const [clientId, packetId] of contents.incoming ?? []) store.putIncomingQoS2(clientId, packetId);
  for (const retained of contents.retained ?? []) store.putRetained(retained.topic, retained);
  for (const will of contents.wills ?? []) store.putDelayedWill(will);
  await durable(store);
  await store.close();
  if (mtime !== undefined) utimesSync(join(dir, 'petrel.mdb'), mtime, mtime);
}

async function readStore(dir: string): Promise<RecoveredState> {
  const store = createStore(storage(dir), logger);
  const state = await store.open();
  await store.close();
  return state;
}

const clientIds = (state: RecoveredState): string[] => state.sessions.map((record) => record.clientId).sort();
const payloads = (state: RecoveredState): Record<string, string> =>
  Object.fromEntries(state.retained.map((retained) => [retained.topic, retained.payload.toString()]));
const will = (clientId: string): DelayedWillRecord => ({
  clientId,
  will: { topic: `wills/${clientId}`, payload: Buffer.from('gone'), qos: 1, retain: false },
  fireAt: Date.now() + 3_600_000,
});

describe('which stray stores a store takes over', () => {
  test('one process: every worker-<j>; worker i of N: the data directory (i = 0) and worker-<j> for j >= N, j mod N = i', () => {
    const dir = dataDirectory();
    writeFileSync(join(dir, 'petrel.mdb'), '');
    for (const index of [0, 1, 2, 3, 4, 11]) {
      mkdirSync(join(dir, `worker-${index}`));
      writeFileSync(join(dir, `worker-${index}`, 'petrel.mdb'), '');
    }
    mkdirSync(join(dir, 'worker-7')); // no store inside
    mkdirSync(join(dir, 'worker-x'));
    writeFileSync(join(dir, 'worker-x', 'petrel.mdb'), '');
    const names = (paths: string[]): string[] => paths.map((path) => (path === dir ? '.' : path.slice(dir.length + 1)));

    assert.deepEqual(names(strayStores(dir, 1, 0)), ['worker-0', 'worker-1', 'worker-2', 'worker-3', 'worker-4', 'worker-11']);
    assert.deepEqual(names(strayStores(dir, 2, 0)), ['.', 'worker-2', 'worker-4']);
    assert.deepEqual(names(strayStores(dir, 2, 1)), ['worker-3', 'worker-11']);
    assert.deepEqual(names(strayStores(dir, 5, 0)), ['.']);
    assert.deepEqual(names(strayStores(dir, 5, 1)), ['worker-11']);
    assert.deepEqual(names(strayStores(dir, 5, 4)), []);
    assert.deepEqual(strayStores(join(dir, 'absent'), 1, 0), []);
  });
});

describe('merging the stray stores', () => {
  test('one process -> a cluster: worker 0 takes the sessions (records, QoS 2 state, wills) and retained messages; the old store goes', async () => {
    const dir = dataDirectory();
    const queued = message('inbox/alice', 'queued');
    const inflight = message('inbox/alice', 'inflight', { qos: 2 });
    await writeStore(dir, {
      sessions: [session('alice'), session('bob')],
      outgoing: [
        ['alice', outgoing(1, inflight, { qos: 2, state: 'sent', packetId: 7 })],
        ['alice', outgoing(2, queued)],
      ],
      incoming: [['bob', 42]],
      retained: [message('status/a', 'A', { retain: true })],
      wills: [will('bob')],
    });

    assert.deepEqual(await adoptStrayStores({ storage: storage(dir), workers: 2, index: 1, keepsRetained: false, logger }), []);
    const [summary] = await adoptStrayStores({ storage: storage(dir), workers: 2, index: 0, keepsRetained: true, logger });
    assert.deepEqual(summary, { from: dir, sessions: 2, retained: 1, superseded: 0 });

    assert.deepEqual(readdirSync(dir).sort(), ['worker-0'], 'the single-process store files are deleted');
    const state = await readStore(join(dir, 'worker-0'));
    assert.deepEqual(clientIds(state), ['alice', 'bob']);
    const records = state.outgoing.get('alice') ?? [];
    assert.deepEqual(
      records.map((record) => [record.seq, record.state, record.packetId, record.message.payload.toString()]),
      [
        [1, 'sent', 7, 'inflight'],
        [2, 'queued', undefined, 'queued'],
      ],
    );
    assert.deepEqual(state.incomingQoS2.get('bob'), [42]);
    assert.deepEqual(state.delayedWills.map((record) => record.clientId), ['bob']);
    assert.deepEqual(payloads(state), { 'status/a': 'A' });
    assert.deepEqual(await adoptStrayStores({ storage: storage(dir), workers: 2, index: 0, keepsRetained: true, logger }), [], 'nothing left to merge');
  });

  test('a cluster -> one process: every worker store joins the data directory store and is deleted', async () => {
    const dir = dataDirectory();
    await writeStore(join(dir, 'worker-0'), { sessions: [session('carol')], retained: [message('status/c', 'C', { retain: true })] });
    await writeStore(join(dir, 'worker-1'), { sessions: [session('dave')], outgoing: [['dave', outgoing(5, message('inbox/dave', 'for dave'))]] });
    await writeStore(join(dir, 'worker-2'), { sessions: [session('erin')] });

    const summaries = await adoptStrayStores({ storage: storage(dir), workers: 1, index: 0, keepsRetained: true, logger });
    assert.equal(summaries.length, 3);
    assert.deepEqual(readdirSync(dir).filter((name) => name.startsWith('worker-')), []);
    const state = await readStore(dir);
    assert.deepEqual(clientIds(state), ['carol', 'dave', 'erin']);
    assert.deepEqual((state.outgoing.get('dave') ?? []).map((record) => record.message.payload.toString()), ['for dave']);
    assert.deepEqual(payloads(state), { 'status/c': 'C' });
  });

  test('3 workers -> 2: worker-2 joins worker 0, whose own sessions stay', async () => {
    const dir = dataDirectory();
    await writeStore(join(dir, 'worker-0'), { sessions: [session('frank')] });
    await writeStore(join(dir, 'worker-1'), { sessions: [session('grace')] });
    await writeStore(join(dir, 'worker-2'), { sessions: [session('heidi')] });

    assert.deepEqual(await adoptStrayStores({ storage: storage(dir), workers: 2, index: 1, keepsRetained: false, logger }), []);
    await adoptStrayStores({ storage: storage(dir), workers: 2, index: 0, keepsRetained: true, logger });
    assert.deepEqual(readdirSync(dir).sort(), ['worker-0', 'worker-1']);
    assert.deepEqual(clientIds(await readStore(join(dir, 'worker-0'))), ['frank', 'heidi']);
    assert.deepEqual(clientIds(await readStore(join(dir, 'worker-1'))), ['grace']);
  });

  test('a client id in two stores: the store written last wins, with its records and will; a retained topic keeps the message received last', async () => {
    const dir = dataDirectory();
    const older = new Date(Date.now() - 3_600_000);
    await writeStore(
      dir,
      {
        sessions: [session('ivan', { expiryInterval: 100 }), session('judy', { expiryInterval: 100 })],
        outgoing: [['ivan', outgoing(1, message('inbox/ivan', 'stale'))]],
        wills: [will('ivan')],
        retained: [message('status/x', 'old x', { retain: true, receivedAt: 1_000 }), message('status/y', 'new y', { retain: true, receivedAt: 9_000 })],
      },
      older,
    );
    await writeStore(join(dir, 'worker-0'), {
      sessions: [session('ivan', { expiryInterval: 200 })],
      outgoing: [['ivan', outgoing(3, message('inbox/ivan', 'fresh'))]],
      retained: [message('status/x', 'new x', { retain: true, receivedAt: 5_000 }), message('status/y', 'old y', { retain: true, receivedAt: 2_000 })],
    });

    const [summary] = await adoptStrayStores({ storage: storage(dir), workers: 1, index: 0, keepsRetained: true, logger });
    assert.equal(summary?.superseded, 1);
    const state = await readStore(dir);
    assert.deepEqual(clientIds(state), ['ivan', 'judy']);
    assert.equal(state.sessions.find((record) => record.clientId === 'ivan')?.expiryInterval, 200);
    assert.deepEqual((state.outgoing.get('ivan') ?? []).map((record) => [record.seq, record.message.payload.toString()]), [[3, 'fresh']]);
    assert.deepEqual(state.delayedWills, [], "the older store's will went with its session");
    assert.deepEqual(payloads(state), { 'status/x': 'new x', 'status/y': 'new y' });
  });

  test('the target written last keeps its session; a store that does not keep retained messages takes none', async () => {
    const dir = dataDirectory();
    await writeStore(join(dir, 'worker-3'), { sessions: [session('kim', { expiryInterval: 100 })], retained: [message('status/k', 'K', { retain: true })] }, new Date(Date.now() - 3_600_000));
    await writeStore(join(dir, 'worker-1'), { sessions: [session('kim', { expiryInterval: 200 })] });

    const [summary] = await adoptStrayStores({ storage: storage(dir), workers: 2, index: 1, keepsRetained: false, logger });
    assert.deepEqual(summary, { from: join(dir, 'worker-3'), sessions: 0, retained: 0, superseded: 1 });
    const state = await readStore(join(dir, 'worker-1'));
    assert.equal(state.sessions[0]?.expiryInterval, 200);
    assert.deepEqual(state.retained, []);
    assert.equal(existsSync(join(dir, 'worker-3')), false);
  });

  test('the memory store merges nothing and deletes nothing', async () => {
    const dir = dataDirectory();
    await writeStore(join(dir, 'worker-0'), { sessions: [session('leo')] });
    assert.deepEqual(await adoptStrayStores({ storage: storage(dir, 'memory'), workers: 1, index: 0, keepsRetained: true, logger }), []);
    assert.ok(existsSync(join(dir, 'worker-0', 'petrel.mdb')));
  });

  test('a stray in use by a running broker stops the start with its lock error, and nothing is deleted', async () => {
    const dir = dataDirectory();
    await writeStore(join(dir, 'worker-0'), { sessions: [session('mia')] });
    const running = createStore(storage(join(dir, 'worker-0')), logger);
    await running.open();
    try {
      await assert.rejects(adoptStrayStores({ storage: storage(dir), workers: 1, index: 0, keepsRetained: true, logger }), /already open in this process|in use by another broker/);
      assert.ok(existsSync(join(dir, 'worker-0', 'petrel.mdb')));
    } finally {
      await running.close();
    }
    await adoptStrayStores({ storage: storage(dir), workers: 1, index: 0, keepsRetained: true, logger });
    assert.deepEqual(clientIds(await readStore(dir)), ['mia']);
  });
});
