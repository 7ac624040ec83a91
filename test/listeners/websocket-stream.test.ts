// The WebSocket-to-stream adapter on its own: backpressure in both directions, ordering, and the
// close codes it uses.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { once } from 'node:events';
import WebSocket, { WebSocketServer } from 'ws';
import { TextFrameError, WebSocketStream } from '../../src/listeners/websocket-stream.js';

describe('WebSocketStream', () => {
  let server: WebSocketServer;
  let url: string;
  const accepted: Array<(stream: WebSocketStream) => void> = [];

  before(async () => {
    server = new WebSocketServer({ host: '127.0.0.1', port: 0 });
    server.on('connection', (socket) => {
      const stream = new WebSocketStream(socket);
      const next = accepted.shift();
      next?.(stream);
    });
    await once(server, 'listening');
    const address = server.address();
    if (address === null || typeof address === 'string') throw new Error('unexpected address');
    url = `ws://127.0.0.1:${address.port}`;
  });

  after(async () => {
    for (const client of server.clients) client.terminate();
    await new Promise((resolve) => server.close(resolve));
  });

  async function pair(): Promise<{ client: WebSocket; stream: WebSocketStream }> {
    const streamPromise = new Promise<WebSocketStream>((resolve) => accepted.push(resolve));
    const client = new WebSocket(url);
    await once(client, 'open');
    return { client, stream: await streamPromise };
  }

  test('writes wait for a slow reader: the bytes stay in the stream (writableLength), drain comes once it reads, nothing is lost', async () => {
    const { client, stream } = await pair();
    // The client stops reading its socket: once the kernel buffers are full, writes must pile up
    // in the stream, where the broker measures them, not inside ws.
    client.pause();
    const chunk = Buffer.alloc(64 * 1024, 7);
    const total = 48 * 1024 * 1024;
    let accepted = true;
    for (let written = 0; written < total; written += chunk.length) accepted = stream.write(chunk);
    assert.equal(accepted, false);
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.ok(stream.writableLength > total / 2, `most bytes wait in the stream (${stream.writableLength} of ${total})`);
    let received = 0;
    client.on('message', (data: Buffer) => (received += data.length));
    const drained = once(stream, 'drain');
    client.resume();
    await drained;
    const deadline = Date.now() + 5000;
    while (received < total && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(received, total);
    client.terminate();
  });

  test('a reader that stops reading pauses the WebSocket; data arrives in order once it reads again', async () => {
    const { client, stream } = await pair();
    stream.pause();
    const frames = 2000;
    for (let index = 0; index < frames; index++) client.send(Buffer.alloc(1024, index % 256));
    await new Promise((resolve) => setTimeout(resolve, 200));
    // What ws had already read off the socket still arrives, but not the 2 MB sent.
    assert.ok(stream.readableLength < 512 * 1024, `the stream holds a bounded amount (${stream.readableLength} bytes)`);
    const chunks: Buffer[] = [];
    stream.on('data', (data: Buffer) => chunks.push(data));
    stream.resume();
    const deadline = Date.now() + 5000;
    while (Buffer.concat(chunks).length < frames * 1024 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    const all = Buffer.concat(chunks);
    assert.equal(all.length, frames * 1024);
    for (let index = 0; index < frames; index++) assert.equal(all[index * 1024], index % 256);
    client.terminate();
  });

  test('a text frame destroys the stream with TextFrameError and closes with 1003', async () => {
    const { client, stream } = await pair();
    const errored = once(stream, 'error');
    const closed = once(client, 'close');
    client.send('hello');
    const [error] = await errored;
    assert.ok(error instanceof TextFrameError);
    const [code] = await closed;
    assert.equal(code, 1003);
  });

  test('end() closes with 1000 after the written data; a client close ends and closes the stream', async () => {
    const { client, stream } = await pair();
    const messages: Buffer[] = [];
    client.on('message', (data: Buffer) => messages.push(data));
    const closed = once(client, 'close');
    stream.end(Buffer.from('last words'));
    const [code] = await closed;
    assert.equal(code, 1000);
    assert.equal(Buffer.concat(messages).toString(), 'last words');

    const second = await pair();
    const streamClosed = once(second.stream, 'close');
    second.stream.resume();
    second.client.close(1000);
    await streamClosed;
    assert.ok(second.stream.destroyed);
  });
});
