// `petrel start --workers 4` end to end: clients spread over the workers by node:cluster, and
// every feature that crosses workers checked with MQTT.js clients.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IDisconnectPacket, MqttClient } from 'mqtt';
import type { PubackPacket } from '../../src/protocol/packets.js';
import { closeClient, collect, connectClient, connectCollecting, delay } from '../helpers/mqtt-client.js';
import { RawClient } from '../helpers/raw-client.js';
import { startCluster, type RunningCluster } from './cluster-process.js';

const workers = 4;

describe('petrel start --workers 4 (memory store)', () => {
  let cluster: RunningCluster;
  const clients: MqttClient[] = [];

  before(async () => {
    cluster = await startCluster({ workers });
  });

  after(async () => {
    await Promise.all(clients.map((client) => closeClient(client)));
    assert.equal(await cluster.stop(), 0, 'a graceful stop exits 0');
  });

  async function open(clientId: string, options: Parameters<typeof connectClient>[1] = {}): Promise<{ client: MqttClient; worker: number; inbox: ReturnType<typeof collect> }> {
    const { client, inbox } = await connectCollecting(cluster.url, { clientId, ...options });
    clients.push(client);
    return { client, inbox, worker: await cluster.workerOf(clientId) };
  }

  test('four worker processes share one port', () => {
    assert.equal(cluster.pids.length, workers);
    assert.equal(new Set(cluster.pids).size, workers);
  });

  test('a message reaches subscribers on every worker, once each', async () => {
    const subscribers: Array<Awaited<ReturnType<typeof open>>> = [];
    for (let index = 0; index < 8; index++) subscribers.push(await open(`fan-${index}`));
    const used = new Set(subscribers.map((subscriber) => subscriber.worker));
    assert.ok(used.size >= 3, `subscribers landed on ${used.size} workers only`);
    for (const subscriber of subscribers) await subscriber.client.subscribeAsync(subscriber.worker % 2 === 0 ? 'fan/#' : 'fan/+/x', { qos: 1 });
    // Overlapping filters on one worker still mean one copy per subscriber.
    await subscribers[0]!.client.subscribeAsync('fan/a/+', { qos: 0 });
    await delay(100); // route announcements travel between workers
    const { client: publisher } = await open('fan-publisher');
    await publisher.publishAsync('fan/a/x', 'hello', { qos: 1 });
    for (const subscriber of subscribers) await subscriber.inbox.wait(1);
    await delay(200);
    for (const subscriber of subscribers) assert.deepEqual(subscriber.inbox.messages.map((message) => message.payload), ['hello']);
  });

  test('no local holds across workers, and a topic nobody wants is not forwarded (0x10 on 5.0)', async () => {
    const { client, inbox } = await open('self-talker', { protocolVersion: 5 });
    await client.subscribeAsync('self/topic', { qos: 1, nl: true });
    const other = await open('self-listener');
    await other.client.subscribeAsync('self/topic', { qos: 1 });
    await delay(100);
    await client.publishAsync('self/topic', 'x', { qos: 1 });
    await other.inbox.wait(1);
    await delay(150);
    assert.equal(inbox.messages.length, 0);
    // PUBACK 0x10 only when no worker has a subscriber; one on another worker counts as a delivery.
    const pubacks: number[] = [];
    for (let attempt = 0; attempt < 4; attempt++) {
      const clientId = `raw-publisher-${attempt}`;
      const { client: raw } = await RawClient.connected(cluster.port, { clientId }, 5);
      const worker = await cluster.workerOf(clientId);
      raw.send({ type: 'publish', topic: 'nobody/listens/here', payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId: 1 });
      pubacks.push(((await raw.expect('puback')) as PubackPacket).reasonCode);
      raw.send({ type: 'publish', topic: 'self/topic', payload: Buffer.from('y'), qos: 1, retain: false, dup: false, packetId: 2 });
      const remote = worker !== other.worker;
      pubacks.push(((await raw.expect('puback')) as PubackPacket).reasonCode);
      raw.destroy();
      if (remote) break;
    }
    assert.deepEqual(pubacks.slice(-2), [0x10, 0x00]);
  });

  test('retained messages are seen from every worker, and deleted everywhere', async () => {
    const { client: publisher } = await open('retainer');
    await publisher.publishAsync('kept/one', 'value-1', { qos: 1, retain: true });
    await delay(100);
    const readers: Array<Awaited<ReturnType<typeof open>>> = [];
    for (let index = 0; index < workers + 1; index++) readers.push(await open(`reader-${index}`));
    assert.ok(new Set(readers.map((reader) => reader.worker)).size >= 3);
    for (const reader of readers) {
      await reader.client.subscribeAsync('kept/#', { qos: 1 });
      const [message] = await reader.inbox.wait(1);
      assert.equal(message!.payload, 'value-1');
      assert.equal(message!.packet.retain, true);
    }
    await publisher.publishAsync('kept/one', '', { qos: 1, retain: true });
    await delay(150);
    for (let index = 0; index < workers; index++) {
      const late = await open(`late-reader-${index}`);
      await late.client.subscribeAsync('kept/#', { qos: 1 });
      await delay(100);
      assert.equal(late.inbox.messages.length, 0, `worker ${late.worker} still had the deleted retained message`);
    }
  });

  test('a shared subscription gets each message once across workers', async () => {
    const members: Array<Awaited<ReturnType<typeof open>>> = [];
    for (let index = 0; index < 6; index++) members.push(await open(`member-${index}`));
    assert.ok(new Set(members.map((member) => member.worker)).size >= 3);
    for (const member of members) await member.client.subscribeAsync('$share/team/jobs/+', { qos: 1 });
    await delay(100);
    const { client: publisher } = await open('job-publisher');
    const total = 60;
    for (let index = 0; index < total; index++) await publisher.publishAsync(`jobs/${index}`, String(index), { qos: 1 });
    const deadline = Date.now() + 5000;
    const count = (): number => members.reduce((sum, member) => sum + member.inbox.messages.length, 0);
    while (count() < total && Date.now() < deadline) await delay(20);
    await delay(200);
    const received = members.flatMap((member) => member.inbox.messages.map((message) => message.payload)).sort((left, right) => Number(left) - Number(right));
    assert.deepEqual(received, Array.from({ length: total }, (_, index) => String(index)));
    const workersServing = new Set(members.filter((member) => member.inbox.messages.length > 0).map((member) => member.worker));
    assert.ok(workersServing.size >= 2, 'the group was served from one worker only');
  });

  test('a shared group prefers an online member on another worker to an offline one', async () => {
    const persistent = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } };
    const sleepy = await open('sleepy-member', persistent);
    await sleepy.client.subscribeAsync('$share/prefer/pref/+', { qos: 1 });
    await closeClient(sleepy.client);
    let awake = await open('awake-member-0');
    for (let index = 1; index < 6 && awake.worker === sleepy.worker; index++) awake = await open(`awake-member-${index}`);
    assert.notEqual(awake.worker, sleepy.worker);
    await awake.client.subscribeAsync('$share/prefer/pref/+', { qos: 1 });
    let publisher = await open('prefer-publisher-0');
    // Published from the offline member's worker, where only the offline member is local.
    for (let index = 1; index < 8 && publisher.worker !== sleepy.worker; index++) publisher = await open(`prefer-publisher-${index}`);
    for (let index = 0; index < 10; index++) await publisher.client.publishAsync(`pref/${index}`, String(index), { qos: 1 });
    assert.equal((await awake.inbox.wait(10)).length, 10);
    const back = await open('sleepy-member', persistent);
    await delay(200);
    assert.deepEqual(back.inbox.messages, [], 'the offline member got messages an online member could take');
  });

  test('takeover across workers: the old connection gets DISCONNECT 0x8E, the new one the session', async () => {
    let first: Awaited<ReturnType<typeof open>> | undefined;
    let second: Awaited<ReturnType<typeof open>> | undefined;
    let disconnect: Promise<IDisconnectPacket> | undefined;
    const options = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } };
    for (let attempt = 0; attempt < 8 && (second === undefined || second.worker === first!.worker); attempt++) {
      const clientId = `taken-${attempt}`;
      first = await open(clientId, options);
      await first.client.subscribeAsync('takeover/topic', { qos: 1 });
      const firstClient = first.client;
      disconnect = new Promise((resolve) => firstClient.once('disconnect', resolve));
      second = await open(clientId, options);
    }
    assert.notEqual(second!.worker, first!.worker, 'could not get the two connections on different workers');
    assert.equal((await disconnect!).reasonCode, 0x8e);
    assert.equal((second!.client as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent, true);
    await delay(100);
    const { client: publisher } = await open('takeover-publisher');
    await publisher.publishAsync('takeover/topic', 'after takeover', { qos: 1 });
    const [message] = await second!.inbox.wait(1);
    assert.equal(message!.payload, 'after takeover');
  });

  test('an offline persistent session queues on its worker and is delivered on whichever worker the client returns to', async () => {
    const options = { protocolVersion: 5 as const, clean: false, properties: { sessionExpiryInterval: 300 } };
    const away = await open('traveller', options);
    await away.client.subscribeAsync('mail/traveller', { qos: 1 });
    await closeClient(away.client);
    await delay(100);
    const { client: publisher } = await open('mailer');
    for (let index = 0; index < 3; index++) await publisher.publishAsync('mail/traveller', `letter-${index}`, { qos: 1 });
    await delay(100);
    let back = await open('traveller', options);
    // Land on another worker than the one holding the session, if the round-robin allows.
    for (let attempt = 0; attempt < 4 && back.worker === away.worker; attempt++) {
      assert.deepEqual((await back.inbox.wait(3)).map((message) => message.payload), ['letter-0', 'letter-1', 'letter-2']);
      await closeClient(back.client);
      for (let index = 0; index < 3; index++) await publisher.publishAsync('mail/traveller', `letter-${index}`, { qos: 1 });
      await delay(100);
      back = await open('traveller', options);
    }
    assert.notEqual(back.worker, away.worker);
    assert.equal((back.client as unknown as { connackPacket?: { sessionPresent: boolean } }).connackPacket?.sessionPresent, true);
    assert.deepEqual((await back.inbox.wait(3)).map((message) => message.payload), ['letter-0', 'letter-1', 'letter-2']);
  });
});
