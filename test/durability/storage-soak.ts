// Bounded storage soak (npm run soak:storage; not part of npm test): the real broker in sync
// mode, with churning clients that hold persistent sessions and queued messages, for
// SOAK_MINUTES (default 5). Every cycle (SOAK_CYCLE_MS, default 2 s):
//   - SOAK_SESSIONS (default 50) new clients connect with a 5.0 Session Expiry Interval of
//     SOAK_EXPIRY_S (default 6 s), subscribe to `soak/all` and their own topic, and go offline;
//   - a publisher sends SOAK_MESSAGES (default 20) QoS 1 messages of 1 KiB to `soak/all`
//     (queued on disk for every offline session) and rewrites 10 of 100 retained topics;
//   - half of the previous cycle's clients come back, drain their queue and leave with
//     Session Expiry Interval 0 (their session ends); the other half never come back and
//     their sessions expire on the broker's timer.
// The data directory's size is printed every SOAK_REPORT_S (default 15 s); it should grow to
// the high-water mark of live data within the first cycles and then stay flat.

import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Packet } from 'mqtt-packet';
import { BrokerProcess, sleep } from './broker-process.js';
import { freePort } from '../../src/bench/loopback-port.js';
import { WireConnection } from './wire-client.js';

const minutes = Number(process.env.SOAK_MINUTES ?? 5);
const cycleMs = Number(process.env.SOAK_CYCLE_MS ?? 2000);
const sessionsPerCycle = Number(process.env.SOAK_SESSIONS ?? 50);
const messagesPerCycle = Number(process.env.SOAK_MESSAGES ?? 20);
const expirySeconds = Number(process.env.SOAK_EXPIRY_S ?? 6);
const reportSeconds = Number(process.env.SOAK_REPORT_S ?? 15);
const payload = Buffer.alloc(1024, 'q');

function directoryBytes(dir: string): number {
  let total = 0;
  for (const name of readdirSync(dir)) total += statSync(join(dir, name)).size;
  return total;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(2)} MB`;
}

/** Connects, subscribes, and leaves (without DISCONNECT: the session stays, with its expiry). */
async function createOfflineSession(port: number, clientId: string): Promise<void> {
  let subacked: () => void = () => undefined;
  const suback = new Promise<void>((resolve) => (subacked = resolve));
  const { connection } = await WireConnection.open(
    { port, clientId, protocolVersion: 5, clean: true, sessionExpiry: expirySeconds },
    (packet) => {
      if (packet.cmd === 'suback') subacked();
    },
    () => undefined,
  );
  connection.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: 'soak/all', qos: 1 }, { topic: `soak/client/${clientId}`, qos: 1 }] });
  await suback;
  connection.destroy();
}

/** Reconnects, takes (and acknowledges) what was queued, then ends the session. Returns the messages received. */
async function drainAndEnd(port: number, clientId: string): Promise<number> {
  let received = 0;
  let lastMessageAt = Date.now();
  const { connection } = await WireConnection.open(
    { port, clientId, protocolVersion: 5, clean: false, sessionExpiry: expirySeconds },
    (packet: Packet, current) => {
      if (packet.cmd !== 'publish') return;
      received++;
      lastMessageAt = Date.now();
      if (packet.qos === 1) current.send({ cmd: 'puback', messageId: packet.messageId });
    },
    () => undefined,
  );
  while (Date.now() - lastMessageAt < 300 && !connection.closed) await sleep(50);
  // 5.0: a DISCONNECT may lower a non-zero expiry to 0, which ends the session now.
  connection.send({ cmd: 'disconnect', properties: { sessionExpiryInterval: 0 } });
  connection.destroy();
  return received;
}

async function publishCycle(port: number, cycle: number): Promise<void> {
  const pending = new Set<number>();
  let acknowledged: () => void = () => undefined;
  const { connection } = await WireConnection.open(
    { port, clientId: `soak-publisher-${cycle}`, protocolVersion: 5, clean: true },
    (packet) => {
      if (packet.cmd === 'puback' && packet.messageId !== undefined) {
        pending.delete(packet.messageId);
        if (pending.size === 0) acknowledged();
      }
    },
    () => acknowledged(),
  );
  const done = new Promise<void>((resolve) => (acknowledged = resolve));
  let packetId = 1;
  for (let index = 0; index < messagesPerCycle; index++) {
    pending.add(packetId);
    connection.send({ cmd: 'publish', topic: 'soak/all', payload, qos: 1, retain: false, dup: false, messageId: packetId++ });
  }
  for (let index = 0; index < 10; index++) {
    const topic = `soak/retained/${(cycle * 10 + index) % 100}`;
    pending.add(packetId);
    connection.send({ cmd: 'publish', topic, payload, qos: 1, retain: true, dup: false, messageId: packetId++ });
  }
  await done;
  connection.end();
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'petrel-soak-'));
  const port = await freePort();
  const broker = await BrokerProcess.start({ port, dataDir });
  const startedAt = Date.now();
  const endAt = startedAt + minutes * 60_000;
  const sizes: Array<{ seconds: number; bytes: number }> = [];
  let nextReport = startedAt;
  let previous: string[] = [];
  let cycle = 0;
  let drained = 0;
  let sessionsCreated = 0;
  console.log(
    `storage soak: ${minutes} min, a cycle every ${cycleMs} ms: ${sessionsPerCycle} sessions (expiry ${expirySeconds} s), ${messagesPerCycle} x 1 KiB QoS 1 to all, 10 retained rewrites; data dir ${dataDir}`,
  );
  try {
    while (Date.now() < endAt) {
      const cycleStart = Date.now();
      cycle++;
      const clientIds = Array.from({ length: sessionsPerCycle }, (_, index) => `soak-${cycle}-${index}`);
      await Promise.all(clientIds.map((clientId) => createOfflineSession(port, clientId)));
      sessionsCreated += clientIds.length;
      await publishCycle(port, cycle);
      const returning = previous.filter((_, index) => index % 2 === 0);
      const counts = await Promise.all(returning.map((clientId) => drainAndEnd(port, clientId)));
      drained += counts.reduce((sum, count) => sum + count, 0);
      previous = clientIds;
      if (Date.now() >= nextReport) {
        const seconds = Math.round((Date.now() - startedAt) / 1000);
        const bytes = directoryBytes(dataDir);
        sizes.push({ seconds, bytes });
        console.log(`t=${String(seconds).padStart(4)} s  cycle ${String(cycle).padStart(4)}  sessions created ${sessionsCreated}  messages drained ${drained}  data dir ${megabytes(bytes)}`);
        nextReport += reportSeconds * 1000;
      }
      await sleep(Math.max(0, cycleMs - (Date.now() - cycleStart)));
    }
  } finally {
    const stopped = await broker.stop();
    if (stopped.code !== 0) console.log(`broker exit: ${String(stopped.code ?? stopped.signal)}\n${broker.output}`);
    rmSync(dataDir, { recursive: true, force: true });
  }
  if (sizes.length < 4) return;
  const half = sizes.slice(Math.floor(sizes.length / 2));
  const firstHalfMax = Math.max(...sizes.slice(0, Math.floor(sizes.length / 2)).map((entry) => entry.bytes));
  const secondHalfMax = Math.max(...half.map((entry) => entry.bytes));
  console.log(`\nlargest size in the first half ${megabytes(firstHalfMax)}, in the second half ${megabytes(secondHalfMax)}: ${secondHalfMax <= firstHalfMax * 1.1 ? 'flat (bounded)' : 'still growing'}`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
