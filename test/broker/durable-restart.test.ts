// The broker over the LMDB store: what was acknowledged survives a restart
// (persistent session, its queue in order, incoming QoS 2 state, retained messages, delayed wills).

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { delay } from '../helpers/mqtt-client.js';
import { createStore } from '../../src/store/create-store.js';
import type { ConnackPacket } from '../../src/protocol/packets.js';

describe('restart over the LMDB store', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'petrel-core-'));
  });
  after(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const start = () => {
    const storage = { mode: 'sync' as const, dir, asyncFlushMs: 50 };
    return startBroker({ storage }, { store: createStore(storage, pino({ level: 'silent' })) });
  };

  test('acknowledged state survives stop/start', async () => {
    const first = await start();
    const subscriber = await RawClient.connected(first.port, { clientId: 'durable', clean: false, properties: { sessionExpiryInterval: 3600 } }, 5);
    subscriber.client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'd/#', qos: 2, noLocal: false, retainAsPublished: false, retainHandling: 2 }], properties: { subscriptionIdentifiers: [4] } });
    await subscriber.client.expect('suback');
    subscriber.client.destroy();
    await delay(30);
    const publisher = await RawClient.connected(first.port, { clientId: 'durable-pub', clean: false, properties: { sessionExpiryInterval: 3600 } }, 5);
    for (const [index, payload] of ['a', 'b', 'c'].entries()) {
      publisher.client.send({ type: 'publish', topic: `d/${payload}`, payload: Buffer.from(payload), qos: 1, retain: index === 0, dup: false, packetId: index + 1 });
      await publisher.client.expect('puback');
    }
    publisher.client.send({ type: 'publish', topic: 'd/q2', payload: Buffer.from('q2'), qos: 2, retain: false, dup: false, packetId: 9 });
    await publisher.client.expect('pubrec');
    publisher.client.destroy();
    await delay(30);
    await first.stop();

    const second = await start();
    assert.equal(second.broker.stats().retainedCount, 1);
    const back = await RawClient.connected(second.port, { clientId: 'durable', clean: false, properties: { sessionExpiryInterval: 3600 } }, 5);
    assert.equal((back.connack as ConnackPacket).sessionPresent, true);
    const payloads: string[] = [];
    for (let index = 0; index < 4; index++) {
      const publish = await back.client.expect('publish');
      payloads.push(publish.payload.toString());
      assert.deepEqual(publish.properties?.subscriptionIdentifiers, [4]);
    }
    assert.deepEqual(payloads, ['a', 'b', 'c', 'q2']);
    // The publisher's QoS 2 exchange resumes: PUBREL completes it without a second delivery.
    const publisherBack = await RawClient.connected(second.port, { clientId: 'durable-pub', clean: false, properties: { sessionExpiryInterval: 3600 } }, 5);
    publisherBack.client.send({ type: 'publish', topic: 'd/q2', payload: Buffer.from('q2'), qos: 2, retain: false, dup: true, packetId: 9 });
    await publisherBack.client.expect('pubrec');
    publisherBack.client.send({ type: 'pubrel', packetId: 9, reasonCode: 0 });
    assert.equal((await publisherBack.client.expect('pubcomp')).reasonCode, 0);
    assert.deepEqual((await back.client.quiet(80)).filter((packet) => packet.type === 'publish'), []);
    back.client.destroy();
    publisherBack.client.destroy();
    await second.stop();
  });
});
