// The scenarios against a real Mosquitto: short runs, exact bookkeeping.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { runConn } from '../../src/bench/conn.js';
import { runFanin, runFanout, runLatency, runP2p, runPub, runSub } from '../../src/bench/scenarios.js';
import type { TrafficSummary } from '../../src/bench/traffic-types.js';
import { startMosquitto, type RunningMosquitto } from './mosquitto-broker.js';

function assertComplete(summary: TrafficSummary): void {
  const messages = summary.messages;
  assert.ok(messages.sent > 0, 'something was sent');
  assert.equal(messages.expectedDeliveries, messages.delivered, 'every expected delivery arrived');
  assert.equal(messages.lost, 0, 'nothing lost');
  assert.equal(messages.outOfOrder, 0, 'nothing out of order');
  assert.equal(messages.foreign, 0);
  assert.equal(summary.errors.total, 0, JSON.stringify(summary.errors));
  assert.equal(summary.latency.count, messages.delivered, 'one latency sample per delivery');
  assert.ok(summary.latency.minMs <= summary.latency.p50Ms && summary.latency.p50Ms <= summary.latency.p99Ms);
  assert.ok(summary.latency.p99Ms <= summary.latency.maxMs && summary.latency.maxMs < 10_000);
  assert.ok(summary.throughput.deliveredPerSecond > 0 && summary.throughput.sentPerSecond > 0);
  assert.equal(summary.connections.connected, summary.connections.attempted);
}

describe('bench scenarios against mosquitto', () => {
  let broker: RunningMosquitto;
  before(async () => {
    broker = await startMosquitto();
  });
  after(async () => {
    await broker.stop();
  });

  test('fanin QoS 1, 5 -> 1: every message delivered once, in order, acknowledged', async () => {
    const summary = await runFanin({ port: broker.port, qos: 1, publishers: 5, durationSeconds: 1.5, brokerPids: [broker.pid] });
    assertComplete(summary);
    assert.equal(summary.messages.acknowledged, summary.messages.sent);
    assert.equal(summary.settings.publishers, 5);
    assert.equal(summary.settings.subscribers, 1);
    assert.ok(summary.messages.sent > 1000, `only ${summary.messages.sent} sent in 1.5 s`);
    assert.ok(summary.broker !== null && summary.broker.rssBytes > 0 && summary.broker.cpuPercent > 0);
    assert.ok(summary.generator.cpuPercent > 0);
  });

  test('fanout QoS 1 over MQTT 5, 1 -> 20: each subscriber gets every message', async () => {
    const summary = await runFanout({ port: broker.port, qos: 1, subscribers: 20, durationSeconds: 1, protocolVersion: 5 });
    assertComplete(summary);
    assert.equal(summary.messages.delivered, summary.messages.sent * 20);
  });

  test('p2p QoS 2 over MQTT 5, 10 pairs, 200-byte payloads: the window follows the broker Receive Maximum', async () => {
    // Mosquitto silently drops incoming QoS 2 messages beyond its 20 in flight; on MQTT 5 it says so in CONNACK.
    const summary = await runP2p({ port: broker.port, qos: 2, pairs: 10, size: 200, durationSeconds: 1, inflight: 100, protocolVersion: 5 });
    assertComplete(summary);
    assert.equal(summary.settings.inflight, 20);
    assert.equal(summary.messages.acknowledged, summary.messages.sent);
  });

  test('p2p QoS 2 over MQTT 3.1.1 within the broker window', async () => {
    const summary = await runP2p({ port: broker.port, qos: 2, pairs: 3, durationSeconds: 1, inflight: 20 });
    assertComplete(summary);
    assert.equal(summary.messages.acknowledged, summary.messages.sent);
  });

  test('latency at a fixed 2000 msg/s keeps the rate', async () => {
    const summary = await runLatency({ port: broker.port, qos: 0, rate: 2000, durationSeconds: 1.5 });
    assertComplete(summary);
    assert.ok(Math.abs(summary.messages.sent - 3000) < 300, `sent ${summary.messages.sent}, expected ~3000`);
    assert.ok(summary.latency.p50Ms < 100, `p50 ${summary.latency.p50Ms} ms`);
  });

  test('separate pub and sub runs: the subscriber accounts for what the publishers sent', async () => {
    const subscribing = runSub({ port: broker.port, qos: 1, clients: 1, topic: 'bench/pubsub/#', durationSeconds: 2.5, clientIdPrefix: 'sub-run' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const published = await runPub({ port: broker.port, qos: 1, clients: 3, topic: 'bench/pubsub/%i', rate: 3000, durationSeconds: 1, clientIdPrefix: 'pub-run' });
    const received = await subscribing;
    assert.equal(published.messages.acknowledged, published.messages.sent);
    assert.equal(published.messages.delivered, 0);
    assert.equal(received.messages.expectedDeliveries, null);
    assert.equal(received.messages.delivered, published.messages.sent);
    assert.equal(received.messages.lost, 0);
    assert.equal(received.messages.outOfOrder, 0);
  });

  test('conn: 300 connections over 2 processes and 3 source addresses, broker memory reported', async () => {
    const summary = await runConn({
      port: broker.port,
      clients: 300,
      rate: 1000,
      holdSeconds: 0.5,
      processes: 2,
      localAddresses: ['127.0.0.1', '127.0.0.2', '127.0.0.3'],
      brokerPids: [broker.pid],
    });
    assert.equal(summary.connections.attempted, 300);
    assert.equal(summary.connections.connected, 300, JSON.stringify(summary.connections.failureReasons));
    assert.equal(summary.connections.failed, 0);
    assert.equal(summary.connections.openAfterHold, 300);
    assert.equal(summary.settings.processes, 2);
    assert.ok(summary.connections.connectsPerSecond > 100, `${summary.connections.connectsPerSecond} conn/s`);
    assert.ok(summary.broker !== null && summary.broker.rssHeldBytes > 0);
    assert.ok(summary.generator.rssBytes > 0);
  });
});

describe('bench failure reporting', () => {
  test('the subscriber counts loss when the broker drops messages (tiny mosquitto queue)', async () => {
    const broker = await startMosquitto(5);
    try {
      const summary = await runFanin({ port: broker.port, qos: 1, publishers: 5, durationSeconds: 1, drainSeconds: 2 });
      assert.ok(summary.messages.lost > 0, 'a 5-message queue under full-speed fan-in drops messages');
      assert.equal(summary.messages.lost, (summary.messages.expectedDeliveries as number) - summary.messages.delivered);
    } finally {
      await broker.stop();
    }
  });

  test('connection failures are counted per reason', async () => {
    const broker = await startMosquitto();
    const port = broker.port;
    await broker.stop(); // nothing listens there any more
    const summary = await runConn({ port, clients: 20, rate: 0, holdSeconds: 0 });
    assert.equal(summary.connections.connected, 0);
    assert.equal(summary.connections.failed, 20);
    assert.deepEqual(summary.connections.failureReasons, { ECONNREFUSED: 20 });
    await assert.rejects(runFanin({ port, publishers: 2, durationSeconds: 1 }), /ECONNREFUSED x3/);
  });
});
