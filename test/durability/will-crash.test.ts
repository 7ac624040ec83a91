// Delayed wills across a kill -9 of the real broker (bin/petrel.js, LMDB store, sync mode).
// Three MQTT 5 clients with a will and a Will Delay Interval drop their connections without
// DISCONNECT, so their wills are pending; the broker is SIGKILLed before any of them is due:
// - late-will (delay 4 s): after the restart it is published when its delay, counted from the
//   original drop, has passed [MQTT-3.1.3-9] — not before, not much later, and once;
// - cancelled-will (delay 4 s): the client reconnects before the kill, which cancels the will
//   [MQTT-3.1.3-9]: it must never be published, the restart included;
// - due-will (delay 1 s): it falls due while the broker is down and is published at start-up.
// A persistent subscriber receives them (QoS 1), so a will published before it reconnects waits
// in its session.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Packet } from 'mqtt-packet';
import { BrokerProcess, sleep } from './broker-process.js';
import { freePort } from '../../src/bench/loopback-port.js';
import { WireConnection } from './wire-client.js';

/** How early a will may arrive: the broker counts from when it saw the drop, a little after ours; timers round to the millisecond. */
const earlyToleranceMs = 20;
/** How late a will may arrive after its due time (timer, routing, loopback). */
const lateToleranceMs = 1000;
/** Time for the store to commit what the drops and the reconnect wrote (sync mode commits within a few ms). */
const commitWaitMs = 300;

interface Arrival {
  topic: string;
  payload: string;
  at: number;
}

/** A persistent 5.0 subscriber to `will/#` (QoS 1) that records every arrival with its time. */
class WillSubscriber {
  readonly arrivals: Arrival[] = [];
  connectedAt = 0;
  private connection: WireConnection | undefined;

  /** `fresh`: clean start and subscribe; otherwise resume the session. Returns Session Present. */
  async connect(port: number, fresh: boolean): Promise<boolean> {
    let onSuback: (() => void) | undefined;
    const { connection, connack } = await WireConnection.open(
      { port, clientId: 'will-watcher', protocolVersion: 5, clean: fresh, sessionExpiry: 300 },
      (packet: Packet, current) => {
        if (packet.cmd === 'suback') onSuback?.();
        if (packet.cmd !== 'publish') return;
        this.arrivals.push({ topic: packet.topic, payload: packet.payload.toString(), at: Date.now() });
        if (packet.qos === 1) current.send({ cmd: 'puback', messageId: packet.messageId });
      },
      () => undefined,
    );
    this.connection = connection;
    this.connectedAt = Date.now();
    if (fresh) {
      const subacked = new Promise<void>((resolve) => (onSuback = resolve));
      connection.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'will/#', qos: 1 }] });
      await subacked;
    }
    return connack.sessionPresent;
  }

  arrivalsOf(topic: string): Arrival[] {
    return this.arrivals.filter((arrival) => arrival.topic === topic);
  }

  close(): void {
    this.connection?.destroy();
    this.connection = undefined;
  }
}

/** Connects a 5.0 client with a delayed will on `will/<clientId>`. */
async function connectWithWill(port: number, clientId: string, delaySeconds: number): Promise<WireConnection> {
  const { connection } = await WireConnection.open(
    { port, clientId, protocolVersion: 5, clean: true, sessionExpiry: 60, will: { topic: `will/${clientId}`, payload: Buffer.from(`gone:${clientId}`), qos: 1, delaySeconds } },
    () => undefined,
    () => undefined,
  );
  return connection;
}

describe('delayed wills across a kill -9 of the broker', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'petrel-will-crash-'));
  const running: BrokerProcess[] = [];
  const connections: Array<{ destroy(): void }> = [];
  const subscriber = new WillSubscriber();

  after(async () => {
    subscriber.close();
    for (const connection of connections) connection.destroy();
    for (const broker of running) await broker.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a pending will fires on time after the restart, a cancelled one never, an overdue one at start-up', { timeout: 30_000 }, async (context) => {
    let port = await freePort();
    const startBroker = async (): Promise<BrokerProcess> => {
      const broker = await BrokerProcess.startOnFreePort({ port, dataDir });
      running.push(broker);
      port = broker.port;
      return broker;
    };
    const broker = await startBroker();
    await subscriber.connect(port, true);

    const late = await connectWithWill(port, 'late-will', 4);
    const cancelled = await connectWithWill(port, 'cancelled-will', 4);
    const due = await connectWithWill(port, 'due-will', 1);
    connections.push(late, cancelled, due);
    // Ungraceful drops (no DISCONNECT): the wills wait for their delay.
    const droppedAt = Date.now();
    late.destroy();
    cancelled.destroy();
    due.destroy();

    await sleep(commitWaitMs);
    // Back within the delay, without a will: the pending one is cancelled [MQTT-3.1.3-9].
    const { connection: back, connack } = await WireConnection.open({ port, clientId: 'cancelled-will', protocolVersion: 5, clean: false, sessionExpiry: 60 }, () => undefined, () => undefined);
    connections.push(back);
    assert.equal(connack.sessionPresent, true, 'the reconnecting client should find its session');
    await sleep(commitWaitMs);

    const killedAt = Date.now();
    assert.ok(killedAt < droppedAt + 1000, `the kill came too late (${killedAt - droppedAt} ms after the drops): the 1 s will may have fired`);
    assert.equal(subscriber.arrivals.length, 0, 'no will is due before the kill');
    await broker.kill();
    subscriber.close();
    back.destroy();

    // Stay down until the 1 s will is overdue.
    await sleep(Math.max(0, droppedAt + 1000 + 200 - Date.now()));
    const restarted = await startBroker();
    const sessionPresent = await subscriber.connect(port, false);
    assert.equal(sessionPresent, true, 'the subscriber session should survive the kill');

    const lateDue = droppedAt + 4000;
    assert.ok(subscriber.connectedAt < lateDue - 200, `the restart took until ${subscriber.connectedAt - droppedAt} ms after the drops: too late to see the 4 s will fire on its own timer`);
    const deadline = lateDue + lateToleranceMs + 500;
    while (Date.now() < deadline) await sleep(50);
    const stopped = await restarted.stop();
    subscriber.close();
    assert.equal(stopped.code, 0, `broker did not stop cleanly: ${restarted.output}`);

    context.diagnostic(`arrivals (ms after the drops): ${subscriber.arrivals.map((arrival) => `${arrival.topic} +${arrival.at - droppedAt}`).join(', ')}; killed at +${killedAt - droppedAt}, subscriber back at +${subscriber.connectedAt - droppedAt}`);
    const dueArrivals = subscriber.arrivalsOf('will/due-will');
    assert.equal(dueArrivals.length, 1, `the overdue will should arrive once at start-up, got ${dueArrivals.length}`);
    assert.equal(dueArrivals[0]!.payload, 'gone:due-will');
    assert.ok(dueArrivals[0]!.at - subscriber.connectedAt <= lateToleranceMs, `the overdue will came ${dueArrivals[0]!.at - subscriber.connectedAt} ms after the subscriber reconnected`);

    const lateArrivals = subscriber.arrivalsOf('will/late-will');
    assert.equal(lateArrivals.length, 1, `the pending will should arrive once, got ${lateArrivals.length}`);
    const lateBy = lateArrivals[0]!.at - lateDue;
    assert.ok(lateBy >= -earlyToleranceMs, `the pending will came ${-lateBy} ms before its delay had passed`);
    assert.ok(lateBy <= lateToleranceMs, `the pending will came ${lateBy} ms after its delay had passed`);

    assert.deepEqual(subscriber.arrivalsOf('will/cancelled-will'), [], 'a will cancelled by a reconnect before the kill was published after the restart');
  });
});
