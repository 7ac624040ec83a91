// The behaviour every durable store must have, run through the Store interface
// against each backend (see lmdb-store.test.ts).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { OutgoingRecord, SessionRecord, Store, StoredMessage } from '../../src/store/store.js';

export type StoreFactory = (dir: string) => Store;

export function message(topic: string, payload: string, extra: Partial<StoredMessage> = {}): StoredMessage {
  return { topic, payload: Buffer.from(payload), qos: 1, retain: false, receivedAt: 1_700_000_000_000, ...extra };
}

export function session(clientId: string, extra: Partial<SessionRecord> = {}): SessionRecord {
  return {
    clientId,
    protocolVersion: 5,
    expiryInterval: 0xffffffff,
    subscriptions: [{ topicFilter: 'a/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }],
    ...extra,
  };
}

export function outgoing(seq: number, stored: StoredMessage, extra: Partial<OutgoingRecord> = {}): OutgoingRecord {
  return { seq, message: stored, qos: 1, retain: false, state: 'queued', ...extra };
}

export function durable(store: Store): Promise<void> {
  return new Promise((resolve, reject) => store.whenDurable((error) => (error === undefined ? resolve() : reject(error))));
}

export async function temporaryDirectory(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'petrel-store-'));
}

/** Opens a store on `dir`, runs `body`, and closes it. */
async function withStore<T>(factory: StoreFactory, dir: string, body: (store: Store, state: Awaited<ReturnType<Store['open']>>) => Promise<T>): Promise<T> {
  const store = factory(dir);
  const state = await store.open();
  try {
    return await body(store, state);
  } finally {
    await store.close();
  }
}

export function runStoreContract(name: string, factory: StoreFactory): void {
  const scenario = (title: string, body: (dir: string) => Promise<void>): void => {
    test(`${name}: ${title}`, async () => {
      const dir = await temporaryDirectory();
      try {
        await body(dir);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    });
  };

  scenario('a new directory opens empty', async (dir) => {
    await withStore(factory, dir, async (_store, state) => {
      assert.deepEqual(state, { sessions: [], outgoing: new Map(), incomingQoS2: new Map(), retained: [], delayedWills: [] });
    });
  });

  scenario('every record type is stored and comes back after reopening', async (dir) => {
    const correlated = message('a/b', 'hello', {
      qos: 2,
      properties: { correlationData: Buffer.from([0, 1, 2]), userProperties: [['k', 'v'], ['k', 'w']], contentType: 'text/plain' },
      expiresAt: 4_000_000_000_000,
      publisherId: 'publisher',
    });
    const retained = message('r/1', 'retained', { retain: true });
    const will = { topic: 'will/x', payload: Buffer.from([9, 8, 7]), qos: 1 as const, retain: false, properties: { willDelayInterval: 30 } };
    const first = session('alpha', { disconnectedAt: 1_700_000_000_000, expiryInterval: 3600 * 24 * 365 * 100 });
    await withStore(factory, dir, async (store) => {
      store.putSession(first);
      store.putOutgoing('alpha', outgoing(1, correlated, { qos: 2, packetId: 7, state: 'sent', subscriptionIdentifiers: [3, 4] }));
      store.putIncomingQoS2('alpha', 42);
      store.putIncomingQoS2('alpha', 43);
      store.putRetained('r/1', retained);
      store.putDelayedWill({ clientId: 'alpha', will, fireAt: 1_800_000_000_000 });
      await durable(store);
    });
    await withStore(factory, dir, async (_store, state) => {
      assert.deepEqual(state.sessions, [first]);
      const records = state.outgoing.get('alpha');
      assert.ok(records !== undefined);
      assert.equal(records.length, 1);
      assert.deepEqual(records[0], outgoing(1, correlated, { qos: 2, packetId: 7, state: 'sent', subscriptionIdentifiers: [3, 4] }));
      assert.ok(Buffer.isBuffer(records[0]?.message.payload));
      assert.ok(Buffer.isBuffer(records[0]?.message.properties?.correlationData));
      assert.deepEqual(state.incomingQoS2.get('alpha'), [42, 43]);
      assert.deepEqual(state.retained, [retained]);
      assert.deepEqual(state.delayedWills, [{ clientId: 'alpha', will, fireAt: 1_800_000_000_000 }]);
    });
  });

  scenario('deletes are durable for every record type', async (dir) => {
    await withStore(factory, dir, async (store) => {
      store.putSession(session('beta'));
      store.putOutgoing('beta', outgoing(1, message('t', '1')));
      store.putOutgoing('beta', outgoing(2, message('t', '2')));
      store.putIncomingQoS2('beta', 5);
      store.putRetained('r', message('r', 'x', { retain: true }));
      store.putDelayedWill({ clientId: 'beta', will: { topic: 'w', payload: Buffer.from('w'), qos: 0, retain: false }, fireAt: 1 });
      await durable(store);
      store.deleteOutgoing('beta', 1);
      store.deleteIncomingQoS2('beta', 5);
      store.putRetained('r', undefined);
      store.deleteDelayedWill('beta');
      await durable(store);
    });
    await withStore(factory, dir, async (_store, state) => {
      assert.deepEqual(state.sessions.map((record) => record.clientId), ['beta']);
      assert.deepEqual(state.outgoing.get('beta')?.map((record) => record.seq), [2]);
      assert.equal(state.incomingQoS2.size, 0);
      assert.deepEqual(state.retained, []);
      assert.deepEqual(state.delayedWills, []);
    });
  });

  scenario('outgoing records come back in seq order, per client, after updates', async (dir) => {
    const seqs = [1, 2, 3, 10, 11, 100, 1000, 65_536, 2 ** 40];
    await withStore(factory, dir, async (store) => {
      store.putSession(session('c1'));
      store.putSession(session('c2'));
      for (const seq of [...seqs].reverse()) store.putOutgoing('c1', outgoing(seq, message('t', `c1-${seq}`)));
      store.putOutgoing('c2', outgoing(5, message('t', 'c2-5')));
      await durable(store);
      const updated = message('t', 'c1-3');
      store.putOutgoing('c1', outgoing(3, updated, { state: 'sent', packetId: 9 }));
      await durable(store);
    });
    await withStore(factory, dir, async (_store, state) => {
      const records = state.outgoing.get('c1') ?? [];
      assert.deepEqual(records.map((record) => record.seq), seqs);
      assert.deepEqual(records.map((record) => record.message.payload.toString()), seqs.map((seq) => `c1-${seq}`));
      assert.equal(records.find((record) => record.seq === 3)?.state, 'sent');
      assert.equal(records.find((record) => record.seq === 3)?.packetId, 9);
      assert.deepEqual(state.outgoing.get('c2')?.map((record) => record.seq), [5]);
    });
  });

  scenario('a message shared by several sessions survives until its last reference is deleted', async (dir) => {
    const shared = message('fan/out', 'shared body');
    await withStore(factory, dir, async (store) => {
      for (const clientId of ['s1', 's2', 's3']) {
        store.putSession(session(clientId));
        store.putOutgoing(clientId, outgoing(1, shared));
      }
      await durable(store);
      store.deleteOutgoing('s1', 1);
      store.deleteOutgoing('s2', 1);
      await durable(store);
    });
    await withStore(factory, dir, async (store, state) => {
      assert.deepEqual(state.outgoing.get('s3')?.map((record) => record.message.payload.toString()), ['shared body']);
      assert.equal(state.outgoing.get('s1'), undefined);
      // The recovered object is queued again for another session, then its last old reference goes.
      const recovered = state.outgoing.get('s3')?.[0]?.message;
      assert.ok(recovered !== undefined);
      store.putOutgoing('s1', outgoing(2, recovered));
      store.deleteOutgoing('s3', 1);
      await durable(store);
    });
    await withStore(factory, dir, async (_store, state) => {
      assert.deepEqual(state.outgoing.get('s1')?.map((record) => record.message.payload.toString()), ['shared body']);
      assert.equal(state.outgoing.get('s3'), undefined);
    });
  });

  scenario('deleting a session deletes its outgoing and incoming records', async (dir) => {
    await withStore(factory, dir, async (store) => {
      store.putSession(session('gone'));
      store.putSession(session('kept'));
      const shared = message('t', 'both');
      store.putOutgoing('gone', outgoing(1, shared));
      store.putOutgoing('gone', outgoing(2, message('t', 'only gone')));
      store.putOutgoing('kept', outgoing(1, shared));
      store.putIncomingQoS2('gone', 1);
      await durable(store);
      store.deleteSession('gone');
      await durable(store);
    });
    await withStore(factory, dir, async (_store, state) => {
      assert.deepEqual(state.sessions.map((record) => record.clientId), ['kept']);
      assert.equal(state.outgoing.get('gone'), undefined);
      assert.equal(state.incomingQoS2.get('gone'), undefined);
      assert.deepEqual(state.outgoing.get('kept')?.map((record) => record.message.payload.toString()), ['both']);
    });
  });

  scenario('long client ids and topics are stored', async (dir) => {
    const clientId = 'c'.repeat(5000);
    const topic = `t/${'x'.repeat(5000)}`;
    await withStore(factory, dir, async (store) => {
      store.putSession(session(clientId));
      store.putOutgoing(clientId, outgoing(1, message(topic, 'long')));
      store.putIncomingQoS2(clientId, 3);
      store.putRetained(topic, message(topic, 'long retained', { retain: true }));
      await durable(store);
    });
    await withStore(factory, dir, async (store, state) => {
      assert.equal(state.sessions[0]?.clientId, clientId);
      assert.equal(state.outgoing.get(clientId)?.[0]?.message.topic, topic);
      assert.deepEqual(state.incomingQoS2.get(clientId), [3]);
      assert.equal(state.retained[0]?.topic, topic);
      store.putRetained(topic, undefined);
      store.deleteSession(clientId);
      await durable(store);
    });
    await withStore(factory, dir, async (_store, state) => {
      assert.equal(state.sessions.length, 0);
      assert.equal(state.retained.length, 0);
    });
  });

  scenario('a later put of the same key wins, also within one batch', async (dir) => {
    await withStore(factory, dir, async (store) => {
      store.putRetained('k', message('k', 'first', { retain: true }));
      store.putRetained('k', message('k', 'second', { retain: true }));
      store.putSession(session('d'));
      store.putOutgoing('d', outgoing(1, message('t', 'acked before commit')));
      store.deleteOutgoing('d', 1);
      await durable(store);
    });
    await withStore(factory, dir, async (_store, state) => {
      assert.deepEqual(state.retained.map((stored) => stored.payload.toString()), ['second']);
      assert.equal(state.outgoing.get('d'), undefined);
    });
  });

  scenario('writes issued just before close are kept', async (dir) => {
    await withStore(factory, dir, async (store) => {
      store.putSession(session('late'));
    });
    await withStore(factory, dir, async (_store, state) => {
      assert.deepEqual(state.sessions.map((record) => record.clientId), ['late']);
    });
  });

  scenario('stats report the data directory size and pending writes', async (dir) => {
    await withStore(factory, dir, async (store) => {
      assert.ok(store.stats().diskBytes > 0);
      store.putSession(session('s'));
      assert.ok(store.stats().pendingWrites >= 1);
      await durable(store);
      assert.equal(store.writable, true);
    });
  });
}
