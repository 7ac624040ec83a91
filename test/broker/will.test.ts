// Will messages: abnormal close, keepalive timeout, takeover, protocol error, DISCONNECT 0x00 / 0x04, will delay.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import type { WillMessage } from '../../src/protocol/packets.js';

const will = (topic: string, properties?: WillMessage['properties']): WillMessage => ({ topic, payload: Buffer.from(`will of ${topic}`), qos: 1, retain: false, properties });

describe('will messages', () => {
  let started: StartedBroker;
  let watcher: Awaited<ReturnType<typeof connectCollecting>>;
  before(async () => {
    started = await startBroker();
    watcher = await connectCollecting(started.url, { protocolVersion: 5, clientId: 'watcher' });
    await watcher.client.subscribeAsync('wills/#', { qos: 1 });
  });
  after(async () => {
    await closeClient(watcher.client);
    await started.stop();
  });

  const received = (topic: string) => watcher.inbox.messages.filter((message) => message.topic === topic);

  test('[MQTT-3.1.2-8] the will is published when the socket drops without DISCONNECT', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'dropper', will: will('wills/drop') }, 4);
    client.destroy();
    await watcher.inbox.wait(1);
    assert.equal(received('wills/drop')[0]?.payload, 'will of wills/drop');
  });

  test('[MQTT-3.1.2-10] no will after a normal DISCONNECT', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'polite', will: will('wills/polite') }, 4);
    client.send({ type: 'disconnect', reasonCode: 0 });
    await client.waitClosed();
    await delay(60);
    assert.equal(received('wills/polite').length, 0);
  });

  test('v5 DISCONNECT 0x04 publishes the will', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'with-will', will: will('wills/0x04') }, 5);
    client.send({ type: 'disconnect', reasonCode: 0x04 });
    await client.waitClosed();
    const deadline = Date.now() + 1000;
    while (received('wills/0x04').length === 0 && Date.now() < deadline) await delay(10);
    assert.equal(received('wills/0x04').length, 1);
  });

  test('[MQTT-3.1.2-24] v4 keepalive timeout (1.5x) closes the connection and publishes the will', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'sleepy', keepalive: 1, will: will('wills/keepalive') }, 4);
    const opened = Date.now();
    await client.waitClosed(3000);
    const elapsed = Date.now() - opened;
    assert.ok(elapsed >= 1400 && elapsed < 2500, `closed after ${elapsed} ms`);
    await delay(30);
    assert.equal(received('wills/keepalive').length, 1);
  });

  test('keepalive: a client that sends PINGREQ in time stays connected', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'awake', keepalive: 1 }, 4);
    for (let index = 0; index < 3; index++) {
      await delay(700);
      client.send({ type: 'pingreq' });
      await client.expect('pingresp');
    }
    assert.equal(client.closed, false);
    client.destroy();
  });

  test('the will is published on takeover', async () => {
    const first = await RawClient.connected(started.port, { clientId: 'taken-will', will: will('wills/takeover') }, 4);
    const second = await RawClient.connected(started.port, { clientId: 'taken-will' }, 4);
    await first.client.waitClosed();
    const deadline = Date.now() + 1000;
    while (received('wills/takeover').length === 0 && Date.now() < deadline) await delay(10);
    assert.equal(received('wills/takeover').length, 1);
    second.client.destroy();
  });

  test('the will is published when the server closes the connection for a protocol error', async () => {
    const { client } = await RawClient.connected(started.port, { clientId: 'broken', will: will('wills/protocol-error') }, 4);
    client.sendBytes('ff 00'); // reserved packet type 15 on 3.1.1: malformed
    await client.waitClosed();
    const deadline = Date.now() + 1000;
    while (received('wills/protocol-error').length === 0 && Date.now() < deadline) await delay(10);
    assert.equal(received('wills/protocol-error').length, 1);
  });

  test('[MQTT-3.1.3-9] v5 will delay: not sent if the client reconnects in time', async () => {
    const options = { clientId: 'delayed-back', clean: false, properties: { sessionExpiryInterval: 60 }, will: will('wills/delayed-back', { willDelayInterval: 1 }) };
    const first = await RawClient.connected(started.port, options, 5);
    first.client.destroy();
    await delay(300);
    const second = await RawClient.connected(started.port, { clientId: 'delayed-back', clean: false, properties: { sessionExpiryInterval: 60 } }, 5);
    await delay(1100);
    assert.equal(received('wills/delayed-back').length, 0);
    second.client.send({ type: 'disconnect', reasonCode: 0 });
  });

  test('[MQTT-3.1.3-9] v5 will delay: sent after the delay when the client stays away', async () => {
    const options = { clientId: 'delayed-gone', clean: false, properties: { sessionExpiryInterval: 60 }, will: will('wills/delayed-gone', { willDelayInterval: 1 }) };
    const first = await RawClient.connected(started.port, options, 5);
    first.client.destroy();
    await delay(500);
    assert.equal(received('wills/delayed-gone').length, 0);
    await delay(800);
    assert.equal(received('wills/delayed-gone').length, 1);
  });

  test('[MQTT-3.1.3-9] v5 will delay: sent when the session ends first', async () => {
    const options = { clientId: 'delayed-expiry', clean: false, properties: { sessionExpiryInterval: 1 }, will: will('wills/delayed-expiry', { willDelayInterval: 30 }) };
    const first = await RawClient.connected(started.port, options, 5);
    first.client.destroy();
    await delay(1300);
    assert.equal(received('wills/delayed-expiry').length, 1);
  });
});
