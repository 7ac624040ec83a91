// Connection-level log lines carry clientId, remoteAddress and reasonCode (README "Logging"):
// read back through a pino destination stream.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { delay } from '../helpers/mqtt-client.js';

interface LogLine {
  msg: string;
  clientId?: string;
  remoteAddress?: string;
  reasonCode?: number;
  dropped?: number;
  byReason?: Record<string, number>;
}

function capturingLogger(): { logger: pino.Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      for (const text of chunk.toString('utf8').split('\n')) if (text.length > 0) lines.push(JSON.parse(text) as LogLine);
      callback();
    },
  });
  return { logger: pino({ level: 'debug' }, destination), lines };
}

const isLoopback = (address: string | undefined): boolean => address === '127.0.0.1' || address === '::ffff:127.0.0.1';

describe('connection log lines', () => {
  test('connect accepted and refused, takeover and client DISCONNECT name the client, its address and the reason code', async () => {
    const { logger, lines } = capturingLogger();
    const started = await startBroker({ limits: { maxClientIdLength: 20 } }, { logger });
    try {
      const first = await RawClient.connected(started.port, { clientId: 'logged' }, 5);
      const second = await RawClient.connected(started.port, { clientId: 'logged' }, 5);
      await first.client.waitClosed();
      const refused = await RawClient.connected(started.port, { clientId: 'x'.repeat(30) }, 5);
      await refused.client.waitClosed();
      second.client.send({ type: 'disconnect', reasonCode: 0x04 });
      await second.client.waitClosed();
      await delay(20);

      const find = (msg: string) => lines.filter((line) => line.msg === msg);
      const connected = find('client connected');
      assert.equal(connected.length, 2);
      for (const line of connected) {
        assert.equal(line.clientId, 'logged');
        assert.ok(isLoopback(line.remoteAddress), `remoteAddress ${line.remoteAddress}`);
        assert.equal(line.reasonCode, 0);
      }
      const takenOver = find('session taken over');
      assert.equal(takenOver.length, 1);
      assert.equal(takenOver[0]!.reasonCode, 0x8e);
      assert.ok(isLoopback(takenOver[0]!.remoteAddress));
      const refusal = find('connection refused');
      assert.equal(refusal.length, 1);
      assert.equal(refusal[0]!.clientId, 'x'.repeat(30));
      assert.equal(refusal[0]!.reasonCode, 0x85);
      assert.ok(isLoopback(refusal[0]!.remoteAddress));
      const disconnected = find('client disconnected');
      assert.equal(disconnected.length, 1);
      assert.equal(disconnected[0]!.clientId, 'logged');
      assert.equal(disconnected[0]!.reasonCode, 0x04);
    } finally {
      await started.stop();
    }
  });

  test('keepalive timeout, protocol violation and the dropped-messages summary carry the same fields', async () => {
    const { logger, lines } = capturingLogger();
    const started = await startBroker({}, { logger });
    try {
      const sleepy = await RawClient.connected(started.port, { clientId: 'sleepy-logged', keepalive: 1 }, 4);
      const small = await RawClient.connected(started.port, { clientId: 'small-logged', properties: { maximumPacketSize: 64 } }, 5);
      small.client.send({ type: 'subscribe', packetId: 1, subscriptions: [{ topicFilter: 'big/t', qos: 0, noLocal: false, retainAsPublished: false, retainHandling: 0 }] });
      await small.client.expect('suback');
      const violator = await RawClient.connected(started.port, { clientId: 'violator' }, 5);
      for (let index = 0; index < 3; index++) {
        violator.client.send({ type: 'publish', topic: 'big/t', payload: Buffer.alloc(200, 0x41), qos: 0, retain: false, dup: false });
      }
      violator.client.send({ type: 'publish', topic: '', payload: Buffer.from('no alias'), qos: 0, retain: false, dup: false });
      await violator.client.waitClosed();
      small.client.destroy();
      await sleepy.client.waitClosed(3000);
      await delay(20);

      const keepalive = lines.find((line) => line.msg === 'keepalive expired');
      assert.equal(keepalive?.clientId, 'sleepy-logged');
      assert.equal(keepalive?.reasonCode, 0x8d);
      assert.ok(isLoopback(keepalive?.remoteAddress));
      const violation = lines.find((line) => line.msg === 'protocol violation');
      assert.equal(violation?.clientId, 'violator');
      assert.equal(violation?.reasonCode, 0x82);
      assert.ok(isLoopback(violation?.remoteAddress));
      const summary = lines.find((line) => line.msg === 'messages dropped');
      assert.equal(summary?.clientId, 'small-logged');
      assert.equal(summary?.dropped, 3);
      assert.deepEqual(summary?.byReason, { 'packet-too-large': 3 });
      assert.ok(isLoopback(summary?.remoteAddress));
    } finally {
      await started.stop();
    }
  });
});
