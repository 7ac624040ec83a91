// Listener cost, side by side for tcp, tls, ws and wss: CONNECT-to-CONNACK time of new
// connections (handshakes included) and QoS 0 PUBLISH throughput from a publisher on that
// transport to a subscriber on plain TCP. Broker and clients share this one process, so the
// absolute figures are lower than a dedicated broker's; the ratios between transports are the point.
// Run: npm run bench:listeners   (builds, then runs dist/bench/listener-throughput.js)

import { connect as connectTcp, type Socket } from 'node:net';
import { readFileSync } from 'node:fs';
import { connect as connectTls } from 'node:tls';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';
import { Broker } from '../src/broker/broker.js';
import { defaultConfig } from '../src/config/schema.js';
import { PacketDecoder, encodePacket } from '../src/protocol/index.js';
import { TestCertificates } from '../test/helpers/certificates.js';

const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 300);
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? 200000);
const PAYLOAD_BYTES = Number(process.env.BENCH_PAYLOAD ?? 64);
const BATCH = 100;
const MAX_BACKLOG = 5000;

type Transport = 'tcp' | 'tls' | 'ws' | 'wss';
const transports: Transport[] = ['tcp', 'tls', 'ws', 'wss'];

/** A client byte pipe over any transport: write with backpressure, read raw bytes. */
interface Pipe {
  write(data: Buffer): Promise<void>;
  onData(listener: (data: Buffer) => void): void;
  close(): void;
}

function socketPipe(socket: Socket): Pipe {
  return {
    write: (data) => (socket.write(data) ? Promise.resolve() : new Promise((resolve) => socket.once('drain', () => resolve()))),
    onData: (listener) => socket.on('data', listener),
    close: () => socket.destroy(),
  };
}

function open(transport: Transport, port: number, ca: Buffer): Promise<Pipe> {
  return new Promise((resolve, reject) => {
    if (transport === 'tcp') {
      const socket = connectTcp({ port, host: '127.0.0.1', noDelay: true }, () => resolve(socketPipe(socket)));
      socket.on('error', reject);
    } else if (transport === 'tls') {
      const socket = connectTls({ port, host: '127.0.0.1', ca, servername: 'localhost' }, () => resolve(socketPipe(socket)));
      socket.on('error', reject);
    } else {
      const scheme = transport === 'wss' ? 'wss' : 'ws';
      const webSocket = new WebSocket(`${scheme}://localhost:${port}/mqtt`, ['mqtt'], { ca, perMessageDeflate: false });
      webSocket.on('error', reject);
      webSocket.on('open', () =>
        resolve({
          write: (data) =>
            new Promise((done) => {
              webSocket.send(data, { binary: true });
              // Wait for ws to hand the frames to the socket once a megabyte is queued.
              if (webSocket.bufferedAmount < 1 << 20) done();
              else webSocket.send(Buffer.alloc(0), { binary: true }, () => done());
            }),
          onData: (listener) => webSocket.on('message', (data: Buffer) => listener(data)),
          close: () => webSocket.terminate(),
        }),
      );
    }
  });
}

/** Opens a pipe and completes CONNECT / CONNACK; resolves with the pipe and the time it took. */
async function connectMqtt(transport: Transport, port: number, ca: Buffer, clientId: string): Promise<{ pipe: Pipe; ms: number }> {
  const startedAt = performance.now();
  const pipe = await open(transport, port, ca);
  const connack = new Promise<void>((resolve) => {
    let received = 0;
    pipe.onData((data) => {
      received += data.length;
      if (received >= 4) resolve();
    });
  });
  await pipe.write(encodePacket({ type: 'connect', protocolName: 'MQTT', protocolVersion: 4, clean: true, keepalive: 0, clientId }, 4));
  await connack;
  return { pipe, ms: performance.now() - startedAt };
}

async function measureConnect(transport: Transport, port: number, ca: Buffer): Promise<{ meanMs: number; p99Ms: number }> {
  const times: number[] = [];
  for (let index = 0; index < CONNECTIONS; index++) {
    const { pipe, ms } = await connectMqtt(transport, port, ca, `connect-${transport}-${index}`);
    times.push(ms);
    pipe.close();
  }
  times.sort((left, right) => left - right);
  return { meanMs: times.reduce((sum, time) => sum + time, 0) / times.length, p99Ms: times[Math.floor(times.length * 0.99)]! };
}

async function measureThroughput(transport: Transport, port: number, tcpPort: number, ca: Buffer): Promise<{ perSecond: number; received: number }> {
  const topic = `bench/${transport}`;
  const subscriber = await connectMqtt('tcp', tcpPort, ca, `subscriber-${transport}`);
  let received = 0;
  let finished: () => void = () => {};
  const allReceived = new Promise<void>((resolve) => (finished = resolve));
  const decoder = new PacketDecoder((packet) => {
    if (packet.type === 'publish' && ++received === MESSAGES) finished();
    if (packet.type === 'suback') subscribed();
  }, { protocolVersion: 4 });
  let subscribed: () => void = () => {};
  const subscription = new Promise<void>((resolve) => (subscribed = resolve));
  subscriber.pipe.onData((data) => decoder.push(data));
  await subscriber.pipe.write(encodePacket({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: topic, qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] }, 4));
  await subscription;

  const publisher = await connectMqtt(transport, port, ca, `publisher-${transport}`);
  const one = encodePacket({ type: 'publish', topic, payload: Buffer.alloc(PAYLOAD_BYTES, 0x61), qos: 0, retain: false, dup: false }, 4);
  const batch = Buffer.concat(Array.from({ length: BATCH }, () => one));
  const startedAt = performance.now();
  for (let sent = 0; sent < MESSAGES; sent += BATCH) {
    // At most MAX_BACKLOG messages on their way: a flood would measure the broker's QoS 0 drops.
    while (sent - received > MAX_BACKLOG) await new Promise((resolve) => setImmediate(resolve));
    await publisher.pipe.write(batch);
  }
  // Should some be dropped anyway, stop waiting once nothing more arrives.
  let last = -1;
  while (received < MESSAGES && received !== last) {
    last = received;
    await Promise.race([allReceived, new Promise((resolve) => setTimeout(resolve, 1000))]);
  }
  const seconds = (performance.now() - startedAt) / 1000;
  publisher.pipe.close();
  subscriber.pipe.close();
  return { perSecond: received / seconds, received };
}

async function main(): Promise<void> {
  const certificates = new TestCertificates();
  const server = certificates.server();
  const ca = readFileSync(certificates.ca);
  const tls = { cert: server.cert, key: server.key };
  const config = defaultConfig({
    listeners: transports.map((type) => ({ type, name: type, host: '127.0.0.1', port: 0, ...(type === 'tls' || type === 'wss' ? tls : {}) })),
    storage: { mode: 'memory' },
    http: { enabled: false },
    mqtt: { sysInterval: 0 },
    log: { level: 'silent' },
  });
  const broker = new Broker(config);
  await broker.start();
  const port = (type: Transport) => broker.addresses.find((address) => address.name === type)!.port;
  console.log(`Node ${process.version}; ${CONNECTIONS} sequential connections; ${MESSAGES} QoS 0 messages of ${PAYLOAD_BYTES} B to a tcp subscriber`);
  console.log(`transport  connect mean  connect p99  messages/s  received (at most ${MAX_BACKLOG} on their way)`);
  try {
    for (const transport of transports) {
      const connect = await measureConnect(transport, port(transport), ca);
      const throughput = await measureThroughput(transport, port(transport), port('tcp'), ca);
      console.log(
        `${transport.padEnd(9)}  ${connect.meanMs.toFixed(2).padStart(9)} ms  ${connect.p99Ms.toFixed(2).padStart(8)} ms  ${Math.round(throughput.perSecond).toLocaleString('en-US').padStart(10)}  ${throughput.received}`,
      );
    }
  } finally {
    await broker.stop();
    certificates.remove();
  }
}

await main();
