import { test } from 'node:test';
import assert from 'node:assert/strict';
import { certificateAuthenticator } from '../../src/auth/certificate-auth.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import { makeClient, makeConnect } from './helpers.js';

const ask = (hooks: ReturnType<typeof certificateAuthenticator>, client: Partial<ClientInfo>) =>
  hooks.authenticate?.({ client: makeClient(client), connect: makeConnect() });

test('subject CN, else the first SAN, becomes the user name', () => {
  const hooks = certificateAuthenticator();
  assert.deepEqual(ask(hooks, { certificate: { subjectCN: 'device-7', subjectAltNames: ['DNS:other'] } }), { result: 'allow', username: 'device-7' });
  assert.deepEqual(ask(hooks, { certificate: { subjectAltNames: ['DNS:sensor.example', 'IP Address:10.0.0.1'] } }), {
    result: 'allow',
    username: 'sensor.example',
  });
  assert.deepEqual(ask(hooks, { certificate: {} }), { result: 'next' });
  assert.deepEqual(ask(hooks, {}), { result: 'next' });
});

test('restricted to the listeners configured with certificateAsUsername', () => {
  const hooks = certificateAuthenticator(new Set(['mtls']));
  assert.deepEqual(ask(hooks, { listener: 'mtls', certificate: { subjectCN: 'a' } }), { result: 'allow', username: 'a' });
  assert.deepEqual(ask(hooks, { listener: 'tls:8883', certificate: { subjectCN: 'a' } }), { result: 'next' });
});
