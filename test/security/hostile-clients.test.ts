// Hostile and broken clients against a real broker. Each case checks that the offender is dealt
// with (closed, refused, capped) and that a well-behaved client on the same broker keeps getting
// its messages with low delay while it happens.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectTcp, type Socket } from 'node:net';
import type { MqttClient } from 'mqtt';
import { encodePacket } from '../../src/protocol/encoder.js';
import type { SubackPacket } from '../../src/protocol/packets.js';
import { ReasonCode } from '../../src/protocol/reason-codes.js';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { closeClient, collect, connectClient } from '../helpers/mqtt-client.js';
import { RawClient } from '../helpers/raw-client.js';

const connectTimeoutMs = 800;
const maxSubscriptionsPerClient = 50;
const maxClientIdLength = 64;
const maxTopicLength = 200;
const maxTopicLevels = 16;
/** The largest delivery delay the well-behaved client may see while an attack is going on. */
const maxCanaryDelayMs = 400;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A well-behaved publisher / subscriber pair exchanging a timestamped message every 20 ms:
 * `check()` fails if messages stopped or were slow since the last check.
 */
class Canary {
  private readonly publisher: MqttClient;
  private readonly subscriber: MqttClient;
  private readonly delays: number[] = [];
  private readonly timer: NodeJS.Timeout;
  private sent = 0;

  private constructor(publisher: MqttClient, subscriber: MqttClient, topic: string) {
    this.publisher = publisher;
    this.subscriber = subscriber;
    subscriber.on('message', (_topic, payload) => this.delays.push(Date.now() - Number(payload.toString())));
    this.timer = setInterval(() => {
      this.sent++;
      publisher.publish(topic, String(Date.now()), { qos: 1 });
    }, 20);
  }

  static async start(url: string): Promise<Canary> {
    const subscriber = await connectClient(url, { clientId: 'canary-subscriber', protocolVersion: 5 });
    await subscriber.subscribeAsync('canary/beat', { qos: 1 });
    const publisher = await connectClient(url, { clientId: 'canary-publisher', protocolVersion: 5 });
    return new Canary(publisher, subscriber, 'canary/beat');
  }

  /** Waits (up to 1 s) for `minimum` more messages and asserts none of them, nor earlier ones since the last check, was slow. */
  async check(minimum = 5): Promise<void> {
    const deadline = Date.now() + 1000;
    while (this.delays.length < minimum && Date.now() < deadline) await sleep(10);
    const delays = this.delays.splice(0);
    assert.ok(delays.length >= minimum, `the canary got ${delays.length} messages (${this.sent} sent in all), expected at least ${minimum}`);
    const worst = Math.max(...delays);
    assert.ok(worst <= maxCanaryDelayMs, `the canary's worst delivery delay was ${worst} ms`);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await closeClient(this.publisher);
    await closeClient(this.subscriber);
  }
}

function openSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Milliseconds until the broker closes the socket; rejects after `timeoutMs`. */
function timeToClose(socket: Socket, timeoutMs: number, label = 'socket'): Promise<number> {
  const startedAt = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0);
    const timer = setTimeout(() => reject(new Error(`${label} still open after ${timeoutMs} ms`)), timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - startedAt);
    });
  });
}

const connectBytes = (clientId: string, keepalive = 0) =>
  encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive, clientId }, 4);

describe('hostile clients', () => {
  let broker: StartedBroker;
  let canary: Canary;

  before(async () => {
    broker = await startBroker({ limits: { connectTimeoutMs, maxSubscriptionsPerClient, maxClientIdLength, maxTopicLength, maxTopicLevels } });
    canary = await Canary.start(broker.url);
    await sleep(200);
    await canary.check();
  });

  after(async () => {
    await canary.stop();
    await broker.stop();
  });

  test('a socket that never sends CONNECT is closed after limits.connectTimeoutMs', async () => {
    const sockets = await Promise.all(Array.from({ length: 20 }, () => openSocket(broker.port)));
    const times = await Promise.all(sockets.map((socket) => timeToClose(socket, connectTimeoutMs + 1500)));
    for (const time of times) assert.ok(time >= connectTimeoutMs - 100, `closed after ${time} ms, not before the timeout`);
    await canary.check();
  });

  test('slowloris before CONNECT: bytes trickling in do not extend the connect timeout', async () => {
    const socket = await openSocket(broker.port);
    socket.on('error', () => {});
    const connect = connectBytes('slowloris', 60);
    let index = 0;
    const trickle = setInterval(() => {
      if (index < connect.length - 1 && !socket.destroyed) socket.write(connect.subarray(index, ++index));
    }, 100);
    try {
      const time = await timeToClose(socket, connectTimeoutMs + 1500);
      assert.ok(time < connectTimeoutMs + 500, `closed after ${time} ms`);
    } finally {
      clearInterval(trickle);
    }
    await canary.check();
  });

  test(
    'slowloris after CONNECT: a packet trickling in one byte at a time is not a sign of life for keep-alive',
    async () => {
      const { client } = await RawClient.connected(broker.port, { clientId: 'slow-publisher', keepalive: 1 });
      // A PUBLISH announcing 100 bytes, sent one byte every 300 ms: 30 s to complete.
      const publish = Buffer.concat([Buffer.from([0x30, 100, 0x00, 0x01, 0x74]), Buffer.alloc(95, 0x41)]);
      let index = 0;
      const trickle = setInterval(() => {
        if (!client.closed) client.sendBytes(publish.subarray(index, ++index));
      }, 300);
      try {
        // Keep-alive 1 s: closed 1.5 s after the last complete packet (the CONNECT).
        await client.waitClosed(3000);
      } finally {
        clearInterval(trickle);
        client.destroy();
      }
      await canary.check();
    },
  );

  test('a packet claiming 256 MB is refused from its header, without buffering', async (context) => {
    const rssBefore = process.memoryUsage().rss;
    // Before CONNECT: a CONNECT claiming 268,435,455 bytes.
    const early = await openSocket(broker.port);
    early.on('error', () => {});
    early.write(Buffer.from([0x10, 0xff, 0xff, 0xff, 0x7f]));
    assert.ok((await timeToClose(early, 1000, 'early')) < 500);

    // After CONNECT (5.0): a PUBLISH claiming 256 MB gets DISCONNECT 0x95 and the close.
    const { client } = await RawClient.connected(broker.port, { clientId: 'huge-publisher' }, 5);
    client.sendBytes(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x74]));
    const disconnect = await client.expect('disconnect', 1000);
    assert.equal(disconnect.reasonCode, ReasonCode.PacketTooLarge);
    await client.waitClosed(1000);

    // Streaming the announced body anyway: the broker has closed, nothing accumulates.
    const streamer = await openSocket(broker.port);
    streamer.on('error', () => {});
    // The broker's FIN: it has stopped taking the packet (what still arrives is discarded until the socket goes).
    const ended = new Promise<number>((resolve) => {
      streamer.once('end', () => resolve(Date.now()));
      setTimeout(() => resolve(Infinity), 3000).unref();
    });
    streamer.resume();
    streamer.write(connectBytes('streamer'));
    await sleep(50);
    const headerSentAt = Date.now();
    streamer.write(Buffer.from([0x30, 0xff, 0xff, 0xff, 0x7f, 0x00, 0x01, 0x74]));
    const chunk = Buffer.alloc(1024 * 1024);
    for (let sent = 0; sent < 64 && !streamer.destroyed; sent++) {
      streamer.write(chunk);
      await sleep(1);
    }
    assert.ok((await ended) - headerSentAt < 500, 'the broker ended the connection at the header');
    await timeToClose(streamer, 2500, 'streamer');
    global.gc?.();
    const growth = process.memoryUsage().rss - rssBefore;
    context.diagnostic(`RSS growth across the three oversized packets: ${(growth / 1024 / 1024).toFixed(1)} MB`);
    assert.ok(growth < 48 * 1024 * 1024, `RSS grew by ${Math.round(growth / 1024 / 1024)} MB`);
    await canary.check();
  });

  test('an over-long client id is refused: 0x85 on 5.0, 0x02 on 3.1.1', async () => {
    const longId = 'x'.repeat(maxClientIdLength + 1);
    const v5 = await RawClient.connected(broker.port, { clientId: longId }, 5);
    assert.equal((v5.connack as { reasonCode: number }).reasonCode, ReasonCode.ClientIdentifierNotValid);
    await v5.client.waitClosed(1000);
    const v4 = await RawClient.connected(broker.port, { clientId: longId }, 4);
    assert.equal((v4.connack as { reasonCode: number }).reasonCode, 0x02);
    await v4.client.waitClosed(1000);
    // A client id of exactly the limit is fine.
    const fits = await RawClient.connected(broker.port, { clientId: 'y'.repeat(maxClientIdLength) }, 5);
    assert.equal((fits.connack as { reasonCode: number }).reasonCode, 0);
    fits.client.destroy();
    await canary.check();
  });

  test('over-long topics and too many topic levels: publish refused (0x90), subscribe refused (0x8F)', async () => {
    const { client } = await RawClient.connected(broker.port, { clientId: 'topic-abuser' }, 5);
    try {
      const longTopic = 'a'.repeat(maxTopicLength + 1);
      const deepTopic = Array.from({ length: maxTopicLevels + 1 }, () => 'l').join('/');
      client.send({ type: 'subscribe', packetId: 1, subscriptions: [longTopic, deepTopic, 'fine/topic'].map((topicFilter) => ({ topicFilter, qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 })) });
      const suback = (await client.expect('suback')) as SubackPacket;
      assert.deepEqual(suback.reasonCodes, [ReasonCode.TopicFilterInvalid, ReasonCode.TopicFilterInvalid, 1]);
      for (const [packetId, topic] of [
        [2, longTopic],
        [3, deepTopic],
      ] as const) {
        client.send({ type: 'publish', topic, payload: Buffer.from('x'), qos: 1, retain: false, dup: false, packetId });
        const puback = await client.expect('puback');
        assert.deepEqual([puback.packetId, puback.reasonCode], [packetId, ReasonCode.TopicNameInvalid]);
      }
      const watcher = await connectClient(broker.url, { clientId: 'deep-watcher' });
      const inbox = collect(watcher);
      await watcher.subscribeAsync('#');
      client.send({ type: 'publish', topic: deepTopic, payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
      await sleep(100);
      assert.equal(inbox.messages.filter((message) => message.topic === deepTopic).length, 0);
      await closeClient(watcher);
    } finally {
      client.destroy();
    }
    await canary.check();
  });

  test('a flood of SUBSCRIBE filters is capped at limits.maxSubscriptionsPerClient (0x97 beyond)', async () => {
    const { client } = await RawClient.connected(broker.port, { clientId: 'subscribe-flooder' }, 5);
    try {
      const countBefore = broker.broker.router.index.subscriptionCount;
      const codes: number[] = [];
      // 20 SUBSCRIBE packets of 100 filters each, as fast as the socket takes them.
      for (let packet = 0; packet < 20; packet++) {
        const subscriptions = Array.from({ length: 100 }, (_, index) => ({
          topicFilter: `flood/${packet}/${index}/#`,
          qos: 0 as const,
          noLocal: false,
          retainAsPublished: false,
          retainHandling: 0 as const,
        }));
        client.send({ type: 'subscribe', packetId: packet + 1, subscriptions });
      }
      for (let packet = 0; packet < 20; packet++) codes.push(...((await client.expect('suback')) as SubackPacket).reasonCodes);
      assert.equal(codes.filter((code) => code === 0).length, maxSubscriptionsPerClient);
      assert.equal(codes.filter((code) => code === ReasonCode.QuotaExceeded).length, 2000 - maxSubscriptionsPerClient);
      assert.equal(broker.broker.router.index.subscriptionCount - countBefore, maxSubscriptionsPerClient);
      // Re-subscribing to a filter it already has is not a new subscription.
      client.send({ type: 'subscribe', packetId: 100, subscriptions: [{ topicFilter: 'flood/0/0/#', qos: 1, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
      assert.deepEqual(((await client.expect('suback')) as SubackPacket).reasonCodes, [1]);
    } finally {
      client.destroy();
    }
    await sleep(100);
    await canary.check();
  });

  test('publishing to $SYS is refused (0x87 on 5.0) and never reaches $SYS subscribers', async () => {
    const watcher = await connectClient(broker.url, { clientId: 'sys-watcher' });
    const inbox = collect(watcher);
    await watcher.subscribeAsync('$SYS/#');
    const { client } = await RawClient.connected(broker.port, { clientId: 'sys-forger' }, 5);
    try {
      client.send({ type: 'publish', topic: '$SYS/broker/clients/connected', payload: Buffer.from('9999'), qos: 1, retain: true, dup: false, packetId: 1 });
      const puback = await client.expect('puback');
      assert.equal(puback.reasonCode, ReasonCode.NotAuthorized);
      client.send({ type: 'publish', topic: '$SYS', payload: Buffer.from('x'), qos: 0, retain: false, dup: false });
      await sleep(100);
      assert.deepEqual(inbox.messages.map((message) => message.payload), []);
      // Nor was it retained for later subscribers.
      const late = await connectClient(broker.url, { clientId: 'sys-late' });
      const lateInbox = collect(late);
      await late.subscribeAsync('$SYS/broker/clients/connected');
      await sleep(100);
      assert.equal(lateInbox.messages.length, 0);
      await closeClient(late);
    } finally {
      client.destroy();
      await closeClient(watcher);
    }
    await canary.check();
  });
});
