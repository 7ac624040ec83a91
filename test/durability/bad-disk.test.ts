// A write error at broker level: the real broker runs under `ulimit -f` (bash counts 1 KiB
// blocks), so growing the LMDB file fails with EFBIG, as on a full disk. The broker must then
// refuse new durable work (5.0: PUBACK 0x97, or DISCONNECT 0x80 for the publishes caught in the
// failing commit; 3.1.1: no PUBACK at all), say why in its log, and never have acknowledged a
// message it then loses: after a restart without the limit, every acknowledged message is there.

import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Packet } from 'mqtt-packet';
import { BrokerProcess, sleep } from './broker-process.js';
import { freePort } from '../../src/bench/loopback-port.js';
import { CrashSubscriber } from './crash-clients.js';
import { WireConnection } from './wire-client.js';

const payload = Buffer.alloc(2048, 'x');

/** Publishes QoS 1 messages (payload: the sequence number, padded) and records the answers. */
class FillingPublisher {
  readonly acknowledged = new Set<number>();
  readonly refusals = new Map<number, number>();
  readonly disconnectReasons: number[] = [];
  private connection: WireConnection | undefined;
  private readonly pending = new Map<number, number>();
  private nextSeq = 1;
  private nextPacketId = 1;

  constructor(
    private readonly port: number,
    private readonly clientId: string,
    private readonly protocolVersion: 4 | 5,
  ) {}

  get connected(): boolean {
    return this.connection !== undefined && !this.connection.closed;
  }

  async connect(): Promise<void> {
    this.pending.clear();
    const { connection } = await WireConnection.open(
      { port: this.port, clientId: this.clientId, protocolVersion: this.protocolVersion, clean: true },
      (packet) => this.onPacket(packet),
      () => undefined,
    );
    this.connection = connection;
  }

  /** Sends one message; its sequence number. */
  publish(): number {
    const seq = this.nextSeq++;
    const packetId = this.nextPacketId;
    this.nextPacketId = (this.nextPacketId % 60_000) + 1;
    this.pending.set(packetId, seq);
    this.connection!.send({ cmd: 'publish', topic: `disk/${this.clientId}`, payload: Buffer.concat([Buffer.from(`${seq}:`), payload]), qos: 1, retain: false, dup: false, messageId: packetId });
    return seq;
  }

  get unanswered(): number {
    return this.pending.size;
  }

  close(): void {
    this.connection?.destroy();
  }

  private onPacket(packet: Packet): void {
    if (packet.cmd === 'disconnect') this.disconnectReasons.push(packet.reasonCode ?? 0);
    if (packet.cmd !== 'puback' || packet.messageId === undefined) return;
    const seq = this.pending.get(packet.messageId);
    if (seq === undefined) return;
    this.pending.delete(packet.messageId);
    const reasonCode = packet.reasonCode ?? 0;
    if (reasonCode < 0x80) this.acknowledged.add(seq);
    else this.refusals.set(seq, reasonCode);
  }
}

describe('write errors at broker level', () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'petrel-bad-disk-'));
  const brokers: BrokerProcess[] = [];
  const closers: Array<() => void> = [];

  after(async () => {
    for (const close of closers) close();
    for (const broker of brokers) await broker.kill();
    rmSync(dataDir, { recursive: true, force: true });
  });

  test('a file size limit makes the broker refuse durable work, log why, and lose nothing it acknowledged', { timeout: 60_000 }, async () => {
    const port = await freePort();
    const broker = await BrokerProcess.start({ port, dataDir, shellPrefix: 'ulimit -f 2048 &&' });
    brokers.push(broker);

    // An offline persistent subscriber: every message is queued on disk for it.
    const subscriber = new CrashSubscriber('disk-sub', 5, 'B', 'disk/#');
    closers.push(() => subscriber.close());
    await subscriber.connect(port);
    subscriber.close();

    const modern = new FillingPublisher(port, 'disk-pub-5', 5);
    closers.push(() => modern.close());
    await modern.connect();
    // Publish until the broker refuses with PUBACK 0x97 (a DISCONNECT 0x80 for the publishes
    // caught in the failing commit comes first: reconnect and go on).
    const deadline = Date.now() + 30_000;
    while (![...modern.refusals.values()].includes(0x97) && Date.now() < deadline) {
      if (!modern.connected) await modern.connect();
      if (modern.unanswered < 16) modern.publish();
      else await sleep(1);
    }
    assert.ok([...modern.refusals.values()].includes(0x97), `no PUBACK 0x97 within 30 s (acknowledged ${modern.acknowledged.size}, broker: ${broker.output})`);
    assert.ok(modern.acknowledged.size > 0, 'nothing was acknowledged before the limit: the test filled nothing');
    for (const reason of modern.disconnectReasons) assert.equal(reason, 0x80, `DISCONNECT reason ${reason}`);
    for (const reason of modern.refusals.values()) assert.ok(reason === 0x97 || reason === 0x80, `PUBACK reason ${reason}`);

    // 3.1.1 has no way to say no in a PUBACK: none comes.
    const legacy = new FillingPublisher(port, 'disk-pub-4', 4);
    closers.push(() => legacy.close());
    await legacy.connect();
    legacy.publish();
    await sleep(1500);
    assert.equal(legacy.acknowledged.size, 0, '3.1.1 publish acknowledged while the store cannot write');
    assert.equal(legacy.unanswered, 1);

    // The log says why: the refusal, with the path and the system's error (lmdb-js reports the failed
    // file growth as EIO, sometimes EFBIG).
    const refusal = broker.output.split('\n').find((line) => line.includes('store write failed; refusing durable work until a write succeeds'));
    assert.ok(refusal !== undefined, `no log line about the refusal: ${broker.output.slice(0, 2000)}`);
    assert.match(refusal, /"path":"[^"]*petrel\.mdb"/);
    assert.match(refusal, /Input\/output error|File too large|EFBIG|ENOSPC/);

    // Restart without the limit: everything acknowledged was stored.
    modern.close();
    legacy.close();
    await broker.kill();
    const restarted = await BrokerProcess.startOnFreePort({ port, dataDir });
    brokers.push(restarted);
    await subscriber.connect(restarted.port);
    const topic = 'disk/disk-pub-5';
    const received = (): Set<number> => new Set(subscriber.received.get(topic) ?? []);
    const until = Date.now() + 15_000;
    while ([...modern.acknowledged].some((seq) => !received().has(seq)) && Date.now() < until) await sleep(50);
    const missing = [...modern.acknowledged].filter((seq) => !received().has(seq));
    assert.deepEqual(missing, [], `${missing.length} of ${modern.acknowledged.size} acknowledged messages lost`);

    // And the broker takes durable work again.
    const again = new FillingPublisher(restarted.port, 'disk-pub-again', 5);
    closers.push(() => again.close());
    await again.connect();
    const seq = again.publish();
    while (again.unanswered > 0 && again.connected) await sleep(10);
    assert.ok(again.acknowledged.has(seq), 'no PUBACK after the restart');
    subscriber.close();
    again.close();
    const stopped = await restarted.stop();
    assert.equal(stopped.code, 0, restarted.output);
  });
});
