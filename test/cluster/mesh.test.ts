import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Mesh } from '../../src/cluster/mesh.js';

const directory = mkdtempSync(join(tmpdir(), 'petrel-mesh-test-'));
after(() => rmSync(directory, { recursive: true, force: true }));

interface Recorder {
  mesh: Mesh;
  frames: Array<{ peer: number; type: number; body: string }>;
  events: string[];
  socketPath: string;
}

function node(self: number, name: string): Recorder {
  const socketPath = join(directory, `${name}.sock`);
  const recorder: Recorder = { frames: [], events: [], socketPath, mesh: undefined as unknown as Mesh };
  recorder.mesh = new Mesh({
    self,
    socketPath,
    logger: pino({ level: 'silent' }),
    onFrame: (peer, type, body) => recorder.frames.push({ peer, type, body: body.toString() }),
    onPeerUp: (peer) => recorder.events.push(`up ${peer}`),
    onPeerDown: (peer) => recorder.events.push(`down ${peer}`),
  });
  return recorder;
}

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 3000;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe('worker mesh', () => {
  test('two workers exchange frames both ways, in order, over one connection', async () => {
    const first = node(0, 'a0');
    const second = node(1, 'a1');
    await first.mesh.listen();
    await second.mesh.listen();
    await second.mesh.connect(0, first.socketPath);
    await until(() => first.mesh.hasPeer(1), 'the Hello');
    assert.deepEqual(second.events, ['up 0']);
    assert.deepEqual(first.events, ['up 1']);
    for (let index = 0; index < 100; index++) second.mesh.send(0, 3, Buffer.from(`m${index}`));
    first.mesh.send(1, 2, Buffer.from('back'));
    await until(() => first.frames.length === 100 && second.frames.length === 1, 'the frames');
    assert.deepEqual(
      first.frames.map((frame) => frame.body),
      Array.from({ length: 100 }, (_, index) => `m${index}`),
    );
    assert.ok(first.frames.every((frame) => frame.peer === 1 && frame.type === 3));
    assert.deepEqual(second.frames, [{ peer: 0, type: 2, body: 'back' }]);
    assert.equal(first.mesh.send(7, 3, Buffer.from('nobody')), false);
    await second.mesh.close();
    await until(() => first.events.includes('down 1'), 'peer down');
    assert.equal(first.mesh.hasPeer(1), false);
    await first.mesh.close();
  });

  test('a restarted worker replaces its old connection (the old one counts as down)', async () => {
    const first = node(0, 'b0');
    await first.mesh.listen();
    const old = node(2, 'b2-old');
    await old.mesh.listen();
    await old.mesh.connect(0, first.socketPath);
    await until(() => first.mesh.hasPeer(2), 'the first Hello');
    const renewed = node(2, 'b2-new');
    await renewed.mesh.listen();
    await renewed.mesh.connect(0, first.socketPath);
    await until(() => first.events.length === 3, 'the replacement');
    assert.deepEqual(first.events, ['up 2', 'down 2', 'up 2']);
    first.mesh.send(2, 9, Buffer.from('to the new one'));
    await until(() => renewed.frames.length === 1, 'a frame on the new connection');
    assert.deepEqual(old.frames, []);
    await Promise.all([old.mesh.close(), renewed.mesh.close()]);
    await first.mesh.close();
  });

  test('a connection that does not start with Hello is closed without reaching the node', async () => {
    const first = node(0, 'c0');
    await first.mesh.listen();
    const socket = createConnection(first.socketPath);
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    socket.write(Buffer.from([0, 0, 0, 2, 3, 65]));
    await new Promise<void>((resolve) => socket.once('close', () => resolve()));
    assert.deepEqual(first.events, []);
    assert.deepEqual(first.frames, []);
    await first.mesh.close();
  });
});
