import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpAuthenticator, type HttpAuthOptions } from '../../src/auth/http-auth.js';
import { silentLogger } from '../../src/auth/logger.js';
import { makeClient, makeConnect } from './helpers.js';

// The fake auth service: the user name selects the behaviour.
const received: Array<Record<string, unknown>> = [];
function handle(request: IncomingMessage, response: ServerResponse) {
  let text = '';
  request.on('data', (chunk: Buffer) => (text += chunk.toString()));
  request.on('end', () => {
    const body = JSON.parse(text) as Record<string, unknown>;
    received.push(body);
    switch (body.username) {
      case 'json-allow':
        return response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ result: 'allow', username: 'renamed' }));
      case 'json-deny':
        return response.writeHead(200).end(JSON.stringify({ result: 'deny', reasonCode: 0x87 }));
      case 'status-204':
        return response.writeHead(204).end();
      case 'status-401':
        return response.writeHead(401).end();
      case 'status-403':
        return response.writeHead(403).end();
      case 'status-404':
        return response.writeHead(404).end();
      case 'status-500':
        return response.writeHead(500).end();
      case 'slow':
        // Answers after the client has given up.
        setTimeout(() => response.writeHead(200).end(), 500).unref();
        return;
      default:
        return response.writeHead(401).end();
    }
  });
}

describe('HTTP auth hook', () => {
  let server: Server;
  let url = '';

  before(async () => {
    server = createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/auth`;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  const make = (overrides: Partial<HttpAuthOptions> = {}) =>
    new HttpAuthenticator({ url, timeoutMs: 200, cacheSize: 100, cacheTtlMs: 60_000, onError: 'deny', ...overrides }, silentLogger);

  const ask = (authenticator: HttpAuthenticator, username: string, password: Buffer = Buffer.from('pw')) =>
    authenticator.authenticate({ client: makeClient({ remoteAddress: '10.9.8.7' }), connect: makeConnect({ username, password }) });

  test('sends the documented request body', async () => {
    received.length = 0;
    await ask(make(), 'json-allow');
    assert.deepEqual(received[0], {
      clientId: 'client-1',
      username: 'json-allow',
      password: 'pw',
      passwordEncoding: 'utf8',
      remoteAddress: '10.9.8.7',
      listener: 'tcp:1883',
    });
    await ask(make(), 'json-allow', Buffer.from([0xff, 0xfe, 0x00]));
    assert.equal(received[1].passwordEncoding, 'base64');
    assert.equal(received[1].password, Buffer.from([0xff, 0xfe, 0x00]).toString('base64'));
  });

  test('JSON body and status codes map to results', async () => {
    const authenticator = make();
    assert.deepEqual(await ask(authenticator, 'json-allow'), { result: 'allow', username: 'renamed' });
    assert.deepEqual(await ask(authenticator, 'json-deny'), { result: 'deny', reasonCode: 0x87 });
    assert.deepEqual(await ask(authenticator, 'status-204'), { result: 'allow' });
    assert.deepEqual(await ask(authenticator, 'status-401'), { result: 'deny', reasonCode: 0x86 });
    assert.deepEqual(await ask(authenticator, 'status-403'), { result: 'deny', reasonCode: 0x87 });
    assert.deepEqual(await ask(authenticator, 'status-404'), { result: 'next' });
    assert.equal((await ask(authenticator, 'status-500'))?.result, 'deny');
    assert.equal((await ask(make({ onError: 'next' }), 'status-500'))?.result, 'next');
  });

  test('timeout yields onError and is not cached', async () => {
    for (const onError of ['allow', 'deny', 'next'] as const) {
      const authenticator = make({ onError });
      const started = Date.now();
      const result = await ask(authenticator, 'slow');
      assert.equal(result?.result, onError);
      assert.ok(Date.now() - started < 450, 'the timeout cut the request short');
      await ask(authenticator, 'slow');
      assert.equal(authenticator.requestCount, 2);
    }
  });

  test('unreachable service yields onError', async () => {
    const authenticator = new HttpAuthenticator(
      { url: 'http://127.0.0.1:1/auth', timeoutMs: 500, cacheSize: 10, cacheTtlMs: 1000, onError: 'allow' },
      silentLogger,
    );
    assert.equal((await ask(authenticator, 'anyone'))?.result, 'allow');
  });

  test('a cache hit avoids a second request; other credentials miss; the cache is bounded', async () => {
    const authenticator = make({ cacheSize: 2 });
    await ask(authenticator, 'json-allow');
    await ask(authenticator, 'json-allow');
    assert.equal(authenticator.requestCount, 1);
    await ask(authenticator, 'json-allow', Buffer.from('other-password'));
    assert.equal(authenticator.requestCount, 2);
    await ask(authenticator, 'status-401');
    // Capacity 2: the first entry was evicted.
    await ask(authenticator, 'json-allow');
    assert.equal(authenticator.requestCount, 4);
    const uncached = make({ cacheSize: 0 });
    await ask(uncached, 'json-allow');
    await ask(uncached, 'json-allow');
    assert.equal(uncached.requestCount, 2);
  });
});
