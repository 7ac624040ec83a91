import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { SignJWT } from 'jose';
import { buildAuth, type AuthSystem } from '../../src/auth/build-auth.js';
import { runPasswd } from '../../src/cli/passwd.js';
import { defaultConfig } from '../../src/config/schema.js';
import type { AuthenticateResult, ClientInfo, Hooks } from '../../src/hooks/hooks.js';
import type { ConnectPacket } from '../../src/protocol/packets.js';
import { makeClient, makeConnect, makePublish, makeSubscription, recordingLogger, temporaryDirectory } from './helpers.js';

function hooksOf(system: AuthSystem): Required<Pick<Hooks, 'authenticate' | 'authorizePublish' | 'authorizeSubscribe'>> {
  const [hooks] = system.hooks;
  assert.ok(hooks.authenticate && hooks.authorizePublish && hooks.authorizeSubscribe);
  return {
    authenticate: hooks.authenticate.bind(hooks),
    authorizePublish: hooks.authorizePublish.bind(hooks),
    authorizeSubscribe: hooks.authorizeSubscribe.bind(hooks),
  };
}

async function login(system: AuthSystem, connect: Partial<ConnectPacket>, client: Partial<ClientInfo> = {}): Promise<AuthenticateResult> {
  return hooksOf(system).authenticate({ client: makeClient(client), connect: makeConnect(connect) });
}

const password = (text: string) => Buffer.from(text);

describe('buildAuth', () => {
  test('default config: anonymous allowed, everything authorized except $SYS writes', async () => {
    const system = buildAuth(defaultConfig(), recordingLogger());
    try {
      assert.deepEqual(await login(system, {}), { result: 'allow' });
      assert.deepEqual(await login(system, { username: 'any', password: password('thing') }), { result: 'allow' });
      const hooks = hooksOf(system);
      assert.equal(hooks.authorizePublish(makeClient(), makePublish('a/b')), 'allow');
      assert.equal(hooks.authorizeSubscribe(makeClient(), makeSubscription('$SYS/#')), 'allow');
      assert.equal(hooks.authorizePublish(makeClient(), makePublish('$SYS/x')), 'deny');
      assert.deepEqual(system.enhancedAuth, []);
    } finally {
      system.close();
    }
  });

  test('password file + JWT chain, anonymous per listener, ACL default deny', async () => {
    const directory = temporaryDirectory();
    const passwordFile = join(directory.path, 'passwd');
    const aclFile = join(directory.path, 'acl');
    await runPasswd({ file: passwordFile, username: 'alice', password: 'pw-alice', create: true });
    writeFileSync(aclFile, 'allow user:alice both alice/#\nallow anonymous subscribe public/#\n');
    const secret = 'build-auth-test-secret-with-length!!';
    const config = defaultConfig({
      listeners: [{ port: 1883 }, { port: 1884, name: 'open', allowAnonymous: true }],
      auth: { anonymous: false, passwordFile, aclFile, aclDefault: 'deny', chain: ['password-file', 'jwt'], jwt: { secret } },
    });
    const system = buildAuth(config, recordingLogger(), { watch: false });
    try {
      assert.deepEqual(await login(system, { username: 'alice', password: password('pw-alice') }), { result: 'allow' });
      assert.deepEqual(await login(system, { username: 'alice', password: password('nope') }), { result: 'deny', reasonCode: 0x86 });
      assert.deepEqual(await login(system, { username: 'zed', password: password('nope') }), { result: 'deny', reasonCode: 0x86 });
      const token = await new SignJWT({ sub: 'device-9', acl: { pub: ['devices/device-9/#'] } })
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(secret));
      const viaJwt = await login(system, { password: password(token) });
      assert.ok(viaJwt?.result === 'allow');
      assert.equal(viaJwt.username, 'device-9');

      assert.equal((await login(system, {}, { listener: 'tcp:1883' }))?.result, 'deny');
      assert.deepEqual(await login(system, {}, { listener: 'open' }), { result: 'allow' });

      const hooks = hooksOf(system);
      const alice = makeClient({ username: 'alice' });
      assert.equal(hooks.authorizePublish(alice, makePublish('alice/x')), 'allow');
      assert.equal(hooks.authorizePublish(alice, makePublish('bob/x')), 'deny');
      const device = makeClient({ username: 'device-9', attributes: viaJwt.attributes ?? {} });
      assert.equal(hooks.authorizePublish(device, makePublish('devices/device-9/t')), 'allow');
      assert.equal(hooks.authorizePublish(device, makePublish('alice/x')), 'deny', 'the JWT claim is exhaustive');
      assert.equal(hooks.authorizeSubscribe(makeClient(), makeSubscription('public/news')), 'allow');
      assert.equal(hooks.authorizeSubscribe(makeClient(), makeSubscription('$SYS/#')), 'deny');
    } finally {
      system.close();
      directory.remove();
    }
  });

  test('failed logins lead to a delay and then a ban (0x8A), per address', async () => {
    const directory = temporaryDirectory();
    const passwordFile = join(directory.path, 'passwd');
    await runPasswd({ file: passwordFile, username: 'alice', password: 'pw', create: true });
    const system = buildAuth(defaultConfig({ auth: { passwordFile, failedLoginLimit: 1, banSeconds: 60 } }), recordingLogger(), { watch: false });
    try {
      const attacker = { remoteAddress: '203.0.113.9' };
      assert.equal((await login(system, { username: 'alice', password: password('x') }, attacker))?.result, 'deny');
      const started = Date.now();
      assert.equal((await login(system, { username: 'alice', password: password('y') }, attacker))?.result, 'deny');
      assert.ok(Date.now() - started >= 240, 'second attempt after the limit was delayed');
      assert.deepEqual(await login(system, { username: 'alice', password: password('pw') }, attacker), {
        result: 'deny',
        reasonCode: 0x8a,
        reasonString: 'too many failed logins',
      });
      assert.deepEqual(await login(system, { username: 'alice', password: password('pw') }), { result: 'allow' });
    } finally {
      system.close();
      directory.remove();
    }
  });

  test('SCRAM provider is offered when enabled and reads the password file', async () => {
    const directory = temporaryDirectory();
    const passwordFile = join(directory.path, 'passwd');
    await runPasswd({ file: passwordFile, username: 'alice', password: 'pw', create: true });
    const system = buildAuth(defaultConfig({ auth: { passwordFile, scram: { enabled: true } } }), recordingLogger(), { watch: false });
    try {
      assert.deepEqual(system.enhancedAuth.map((provider) => provider.method), ['SCRAM-SHA-256']);
      const exchange = system.enhancedAuth[0].begin(makeClient(), makeConnect());
      const first = await exchange.step(Buffer.from('n,,n=alice,r=abcdef'));
      assert.equal(first.result, 'continue');
      assert.match(first.result === 'continue' ? first.data.toString() : '', /^r=abcdef[^,]+,s=[^,]+,i=4096$/);
    } finally {
      system.close();
      directory.remove();
    }
  });

  test('reload(): new ACL applies to connected clients; broken files keep the previous state and are logged', async () => {
    const directory = temporaryDirectory();
    const passwordFile = join(directory.path, 'passwd');
    const aclFile = join(directory.path, 'acl');
    await runPasswd({ file: passwordFile, username: 'alice', password: 'pw', create: true });
    writeFileSync(aclFile, 'allow all both a/#\n');
    const logger = recordingLogger();
    const system = buildAuth(defaultConfig({ auth: { passwordFile, aclFile, aclDefault: 'deny' } }), logger, { watch: false });
    try {
      const hooks = hooksOf(system);
      const client = makeClient({ username: 'alice' });
      assert.equal(hooks.authorizePublish(client, makePublish('a/1')), 'allow');
      writeFileSync(aclFile, 'allow all both b/#\n');
      await system.reload();
      assert.equal(hooks.authorizePublish(client, makePublish('a/1')), 'deny', 'cached decision did not survive the reload');
      assert.equal(hooks.authorizePublish(client, makePublish('b/1')), 'allow');

      writeFileSync(aclFile, 'this is not a rule\n');
      writeFileSync(passwordFile, 'broken\n');
      await system.reload();
      assert.equal(hooks.authorizePublish(client, makePublish('b/1')), 'allow');
      assert.deepEqual(await login(system, { username: 'alice', password: password('pw') }), { result: 'allow' });
      const errors = logger.entries.filter((entry) => entry.level === 'error').map((entry) => entry.message);
      assert.ok(errors.some((message) => message?.includes('ACL file reload failed')));
      assert.ok(errors.some((message) => message?.includes('password file reload failed')));
      assert.ok(!JSON.stringify(logger.entries).includes('"pw"'), 'no password in the logs');
    } finally {
      system.close();
      directory.remove();
    }
  });

  test('file changes are picked up without a signal', async () => {
    const directory = temporaryDirectory();
    const aclFile = join(directory.path, 'acl');
    writeFileSync(aclFile, 'allow all both a/#\n');
    const system = buildAuth(defaultConfig({ auth: { aclFile, aclDefault: 'deny' } }), recordingLogger());
    try {
      const hooks = hooksOf(system);
      assert.equal(hooks.authorizePublish(makeClient(), makePublish('c/1')), 'deny');
      writeFileSync(aclFile, 'allow all both c/#\n');
      let decision: unknown = 'deny';
      for (let attempt = 0; attempt < 40 && decision !== 'allow'; attempt++) {
        await sleep(50);
        decision = hooksOf(system).authorizePublish(makeClient(), makePublish('c/1'));
      }
      assert.equal(decision, 'allow');
    } finally {
      system.close();
      directory.remove();
    }
  });

  test('configuration mistakes are reported at build time', () => {
    assert.throws(() => buildAuth(defaultConfig({ auth: { chain: ['password-file'] } }), recordingLogger()), /passwordFile/);
    assert.throws(() => buildAuth(defaultConfig({ auth: { chain: ['jwt'] } }), recordingLogger()), /auth\.jwt/);
    assert.throws(() => buildAuth(defaultConfig({ auth: { chain: ['http'] } }), recordingLogger()), /auth\.http/);
  });
});
