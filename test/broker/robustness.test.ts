// Network input never crashes the broker: random bytes after a valid CONNECT, and the DUP
// flag of an incoming PUBLISH is not propagated.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';

test('random bytes after CONNECT never crash the broker; other clients keep working', async () => {
  const started = await startBroker();
  const watcher = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'fuzz-watch' });
  await watcher.client.subscribeAsync('#', { qos: 0 });
  const samples = fc.sample(fc.tuple(fc.constantFrom(4 as const, 5 as const), fc.uint8Array({ minLength: 1, maxLength: 64 })), { numRuns: 150, seed: 42 });
  let index = 0;
  for (const [version, bytes] of samples) {
    const { client } = await RawClient.connected(started.port, { clientId: `fuzz-${index++}` }, version);
    client.sendBytes(Buffer.from(bytes));
    await delay(2);
    client.destroy();
  }
  await delay(50);
  const publisher = await connectClient(started.url, { protocolVersion: 4 });
  await publisher.publishAsync('after/fuzz', 'still here', { qos: 1 });
  const deadline = Date.now() + 2000;
  while (!watcher.inbox.messages.some((message) => message.topic === 'after/fuzz') && Date.now() < deadline) await delay(10);
  assert.ok(watcher.inbox.messages.some((message) => message.topic === 'after/fuzz'));
  await Promise.all([publisher, watcher.client].map(closeClient));
  await started.stop();
});

test('[MQTT-3.3.1-3] the DUP flag of an incoming PUBLISH is not propagated to subscribers', async () => {
  const started = await startBroker();
  const subscriber = await connectCollecting(started.url, { clientId: 'dup-sub' });
  await subscriber.client.subscribeAsync('dupflag', { qos: 1 });
  const { client } = await RawClient.connected(started.port, { clientId: 'dup-src' }, 4);
  client.send({ type: 'publish', topic: 'dupflag', payload: Buffer.from('x'), qos: 1, retain: false, dup: true, packetId: 3 });
  await client.expect('puback');
  const [message] = await subscriber.inbox.wait(1);
  assert.equal(message!.packet.dup, false);
  client.destroy();
  await closeClient(subscriber.client);
  await started.stop();
});
