// $SYS topics and graceful shutdown.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';

describe('$SYS', () => {
  test('$SYS topics are published periodically as retained messages', async () => {
    const started = await startBroker({ mqtt: { sysInterval: 1 } });
    const publisher = await connectClient(started.url, { clientId: 'sys-pub' });
    await publisher.publishAsync('some/topic', 'x', { qos: 1 });
    await delay(1100);
    const watcher = await connectCollecting(started.url, { protocolVersion: 5 });
    await watcher.client.subscribeAsync('$SYS/#', { qos: 0 });
    await watcher.inbox.wait(11);
    const values = new Map(watcher.inbox.messages.map((message) => [message.topic, message.payload]));
    assert.match(values.get('$SYS/broker/version') ?? '', /^petrel /);
    assert.match(values.get('$SYS/broker/uptime') ?? '', /^\d+ seconds$/);
    assert.equal(values.get('$SYS/broker/clients/connected'), '1');
    assert.ok(Number(values.get('$SYS/broker/messages/received')) >= 1);
    for (const topic of ['clients/disconnected', 'clients/total', 'messages/sent', 'bytes/sent', 'bytes/received', 'subscriptions/count', 'retained messages/count']) {
      assert.ok(values.has(`$SYS/broker/${topic}`), topic);
    }
    assert.ok(watcher.inbox.messages.every((message) => message.packet.retain));
    await Promise.all([publisher, watcher.client].map(closeClient));
    await started.stop();
  });
});

describe('graceful shutdown', () => {
  test('stop(): DISCONNECT 0x8B to v5 clients, v4 sockets closed, no wills, new connections refused', async () => {
    const started = await startBroker();
    const five = await RawClient.connected(started.port, { clientId: 'five', will: { topic: 'w', payload: Buffer.from('w'), qos: 0, retain: true } }, 5);
    const four = await RawClient.connected(started.port, { clientId: 'four' }, 4);
    await started.stop();
    const disconnect = await five.client.expect('disconnect');
    assert.equal(disconnect.reasonCode, 0x8b);
    await five.client.waitClosed();
    await four.client.waitClosed();
    assert.equal(started.broker.retained.count, 0, 'no will was published');
    await assert.rejects(RawClient.open(started.port));
  });
});
