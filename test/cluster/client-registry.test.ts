import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ClientRegistry, type RegistryTransport } from '../../src/cluster/client-registry.js';
import type { TransferredSession } from '../../src/cluster/session-transfer.js';

function session(clientId: string): TransferredSession {
  return { record: { clientId, protocolVersion: 5, expiryInterval: 60, subscriptions: [] }, outgoing: [], incomingQoS2: [] };
}

class FakeTransport implements RegistryTransport {
  ready = new Set<number>([0, 1, 2, 3]);
  releases: Array<{ worker: number; clientId: string; clean: boolean }> = [];
  held = new Map<string, TransferredSession>();
  delayMs = 0;

  isReady(worker: number): boolean {
    return this.ready.has(worker);
  }

  async release(worker: number, clientId: string, clean: boolean): Promise<TransferredSession | undefined> {
    this.releases.push({ worker, clientId, clean });
    if (this.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, this.delayMs));
    return this.held.get(`${worker}:${clientId}`);
  }
}

describe('client registry', () => {
  test('a new client id is owned by the claimer, with no session to restore', async () => {
    const transport = new FakeTransport();
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 1000 });
    assert.equal(await registry.claim(2, 'c', false), undefined);
    assert.equal(registry.ownerOf('c'), 2);
    assert.equal(await registry.claim(2, 'c', false), undefined);
    assert.deepEqual(transport.releases, []);
  });

  test('a claim of an id owned elsewhere releases it there and brings the session', async () => {
    const transport = new FakeTransport();
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 1000 });
    await registry.claim(1, 'c', false);
    transport.held.set('1:c', session('c'));
    assert.deepEqual(await registry.claim(3, 'c', false), session('c'));
    assert.deepEqual(transport.releases, [{ worker: 1, clientId: 'c', clean: false }]);
    assert.equal(registry.ownerOf('c'), 3);
  });

  test('a clean start releases the old owner but restores nothing', async () => {
    const transport = new FakeTransport();
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 1000 });
    await registry.claim(1, 'c', false);
    transport.held.set('1:c', session('c'));
    assert.equal(await registry.claim(0, 'c', true), undefined);
    assert.deepEqual(transport.releases, [{ worker: 1, clientId: 'c', clean: true }]);
  });

  test('claims of one id run one at a time, in order', async () => {
    const transport = new FakeTransport();
    transport.delayMs = 20;
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 1000 });
    await registry.claim(0, 'c', false);
    const first = registry.claim(1, 'c', false);
    const second = registry.claim(2, 'c', false);
    await Promise.all([first, second]);
    assert.deepEqual(
      transport.releases.map((release) => release.worker),
      [0, 1],
    );
    assert.equal(registry.ownerOf('c'), 2);
  });

  test('ended forgets the id only for its owner', async () => {
    const transport = new FakeTransport();
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 1000 });
    await registry.claim(1, 'c', false);
    registry.ended(2, 'c');
    assert.equal(registry.ownerOf('c'), 1);
    registry.ended(1, 'c');
    assert.equal(registry.ownerOf('c'), undefined);
  });

  test('a claim on a restarting worker waits for it to recover, then takes its session', async () => {
    const transport = new FakeTransport();
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 5000 });
    await registry.claim(1, 'c', false);
    transport.ready.delete(1);
    registry.workerDown(1, true);
    let settled = false;
    const claim = registry.claim(2, 'c', false).then((result) => {
      settled = true;
      return result;
    });
    await new Promise((resolve) => setTimeout(resolve, 30));
    assert.equal(settled, false, 'the claim must wait for the restarted worker');
    transport.ready.add(1);
    transport.held.set('1:c', session('c'));
    assert.deepEqual(registry.workerReady(1, ['c', 'other']), []);
    assert.deepEqual(await claim, session('c'));
    assert.equal(registry.ownerOf('c'), 2);
    assert.equal(registry.ownerOf('other'), 1);
  });

  test('after the hold timeout the claimer starts afresh and the late worker is told to discard', async () => {
    const transport = new FakeTransport();
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 30 });
    await registry.claim(1, 'c', false);
    transport.ready.delete(1);
    registry.workerDown(1, true);
    assert.equal(await registry.claim(2, 'c', false), undefined);
    assert.equal(registry.ownerOf('c'), 2);
    transport.ready.add(1);
    assert.deepEqual(registry.workerReady(1, ['c']), ['c']);
    assert.deepEqual(transport.releases, []);
  });

  test('a worker that cannot recover (memory store) loses its ids at once', async () => {
    const transport = new FakeTransport();
    const registry = new ClientRegistry({ transport, holdTimeoutMs: 5000 });
    await registry.claim(1, 'c', false);
    await registry.claim(2, 'd', false);
    transport.ready.delete(1);
    registry.workerDown(1, false);
    assert.equal(registry.ownerOf('c'), undefined);
    assert.equal(registry.ownerOf('d'), 2);
    assert.equal(await registry.claim(3, 'c', false), undefined);
    assert.deepEqual(transport.releases, []);
  });
});
