// A slow subscriber: its QoS 0 messages beyond limits.maxSocketBufferBytes are dropped and
// counted, its QoS 1 messages wait in its (bounded) session queue, and other clients carry on.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';

test('a slow subscriber never stalls others nor grows memory without bound', async () => {
  const bound = 256 * 1024;
  const started = await startBroker({ limits: { maxSocketBufferBytes: bound, maxQueuedMessages: 20 } });
  const { client: slow } = await RawClient.connected(started.port, { clientId: 'slow', clean: false }, 4);
  slow.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'bp/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
  await slow.expect('suback');
  slow.socket.pause(); // stops reading: the broker's socket to it fills up
  const fast = await connectCollecting(started.url, { clientId: 'fast' });
  await fast.client.subscribeAsync('bp/#', { qos: 1 });
  const publisher = await connectClient(started.url, { clientId: 'bp-pub' });
  const payload = Buffer.alloc(32 * 1024, 1);
  for (let index = 0; index < 400; index++) publisher.publish('bp/zero', payload, { qos: 0 });
  await delay(300);
  const slowConnection = [...started.broker.connections].find((connection) => connection.clientId === 'slow')!;
  assert.ok(slowConnection.socket.writableLength <= bound + 2 * payload.length, `buffered ${slowConnection.socket.writableLength}`);
  assert.ok(started.broker.stats().messagesDropped > 0, 'QoS 0 messages were dropped for the slow client');
  // QoS 1 keeps flowing to the fast client, and waits (bounded) for the slow one.
  const before = fast.inbox.messages.length;
  for (let index = 0; index < 40; index++) await publisher.publishAsync('bp/one', `m${index}`, { qos: 1 });
  await fast.inbox.wait(before + 40, 5000);
  const session = started.broker.sessions.get('slow')!;
  assert.ok(session.queuedCount <= 20, `queued ${session.queuedCount}`);
  assert.ok(session.queuedCount > 0);
  slow.destroy();
  await Promise.all([fast.client, publisher].map(closeClient));
  await started.stop();
});
