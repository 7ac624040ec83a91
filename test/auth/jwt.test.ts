import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SignJWT, exportJWK, exportSPKI, generateKeyPair, type JWTPayload } from 'jose';
import { JwtVerifier, jwtAuthorizer, jwtAclAttribute, type JwtOptions } from '../../src/auth/jwt.js';
import { silentLogger } from '../../src/auth/logger.js';
import type { AuthenticateResult } from '../../src/hooks/hooks.js';
import { makeClient, makeConnect, makePublish, makeSubscription, temporaryDirectory } from './helpers.js';

type SigningKey = Parameters<SignJWT['sign']>[0];

function sign(payload: JWTPayload, key: SigningKey, alg: string, options: { kid?: string; expiresIn?: string | number } = {}) {
  let jwt = new SignJWT(payload).setProtectedHeader({ alg, ...(options.kid ? { kid: options.kid } : {}) }).setIssuedAt();
  if (options.expiresIn !== undefined) jwt = jwt.setExpirationTime(options.expiresIn);
  return jwt.sign(key);
}

function authenticate(verifier: JwtVerifier, token: string, username?: string): Promise<AuthenticateResult> {
  return verifier.authenticate({ client: makeClient(), connect: makeConnect({ username, password: Buffer.from(token) }) });
}

const baseOptions: JwtOptions = { aclClaim: 'acl' };
const secret = 'a-test-secret-of-at-least-32-bytes!!';

describe('JWT authentication', () => {
  test('HS256: valid token allowed with sub as user name and expiresAt from exp', async () => {
    const verifier = new JwtVerifier({ ...baseOptions, secret }, silentLogger);
    const token = await sign({ sub: 'alice' }, new TextEncoder().encode(secret), 'HS256', { expiresIn: '1h' });
    const result = await authenticate(verifier, token);
    assert.ok(result?.result === 'allow');
    assert.equal(result.username, 'alice');
    assert.ok(result.expiresAt && Math.abs(result.expiresAt - (Date.now() + 3_600_000)) < 5000);
  });

  test('wrong secret, expired token, user name mismatch are denied 0x86; non-JWT passwords pass on', async () => {
    const verifier = new JwtVerifier({ ...baseOptions, secret }, silentLogger);
    const key = new TextEncoder().encode(secret);
    const forged = await sign({ sub: 'alice' }, new TextEncoder().encode('another-secret-of-enough-length!!!'), 'HS256');
    assert.deepEqual(await authenticate(verifier, forged), { result: 'deny', reasonCode: 0x86, reasonString: 'invalid token' });
    const expired = await sign({ sub: 'alice' }, key, 'HS256', { expiresIn: Math.floor(Date.now() / 1000) - 60 });
    assert.deepEqual(await authenticate(verifier, expired), { result: 'deny', reasonCode: 0x86, reasonString: 'token expired' });
    const valid = await sign({ sub: 'alice' }, key, 'HS256');
    assert.equal((await authenticate(verifier, valid, 'bob'))?.result, 'deny');
    assert.equal((await authenticate(verifier, valid, 'alice'))?.result, 'allow');
    assert.deepEqual(await authenticate(verifier, 'just-a-password'), { result: 'next' });
    const unsigned = `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from('{"sub":"x"}').toString('base64url')}.`;
    assert.equal((await authenticate(verifier, unsigned))?.result, 'deny');
  });

  test('issuer and audience are checked', async () => {
    const verifier = new JwtVerifier({ ...baseOptions, secret, issuer: 'https://issuer', audience: 'petrel' }, silentLogger);
    const key = new TextEncoder().encode(secret);
    const good = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://issuer').setAudience('petrel').sign(key);
    const wrongIssuer = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://evil').setAudience('petrel').sign(key);
    const wrongAudience = await new SignJWT({ sub: 'a' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://issuer').setAudience('other').sign(key);
    assert.equal((await authenticate(verifier, good))?.result, 'allow');
    assert.equal((await authenticate(verifier, wrongIssuer))?.result, 'deny');
    assert.equal((await authenticate(verifier, wrongAudience))?.result, 'deny');
  });

  test('RS256 and ES256 with a PEM public key file; a broken file on reload keeps the old key', async () => {
    const directory = temporaryDirectory();
    try {
      for (const alg of ['RS256', 'ES256']) {
        const { publicKey, privateKey } = await generateKeyPair(alg, { extractable: true });
        const file = join(directory.path, `${alg}.pem`);
        writeFileSync(file, await exportSPKI(publicKey));
        const verifier = new JwtVerifier({ ...baseOptions, publicKeyFile: file }, silentLogger);
        const token = await sign({ sub: 'device-1' }, privateKey, alg);
        assert.equal((await authenticate(verifier, token))?.result, 'allow', alg);
        const other = await generateKeyPair(alg);
        assert.equal((await authenticate(verifier, await sign({ sub: 'x' }, other.privateKey, alg)))?.result, 'deny', alg);
        writeFileSync(file, 'not a key');
        assert.throws(() => verifier.reload());
        assert.equal((await authenticate(verifier, token))?.result, 'allow', `${alg} after failed reload`);
      }
    } finally {
      directory.remove();
    }
  });

  test('JWKS file with several keys, picked by kid; reload picks up a rotated key', async () => {
    const directory = temporaryDirectory();
    try {
      const first = await generateKeyPair('ES256', { extractable: true });
      const second = await generateKeyPair('RS256', { extractable: true });
      const file = join(directory.path, 'jwks.json');
      const jwk = async (key: Parameters<typeof exportJWK>[0], kid: string, alg: string) => ({ ...(await exportJWK(key)), kid, alg });
      writeFileSync(file, JSON.stringify({ keys: [await jwk(first.publicKey, 'one', 'ES256')] }));
      const verifier = new JwtVerifier({ ...baseOptions, jwksFile: file }, silentLogger);
      const tokenOne = await sign({ sub: 'a' }, first.privateKey, 'ES256', { kid: 'one' });
      const tokenTwo = await sign({ sub: 'b' }, second.privateKey, 'RS256', { kid: 'two' });
      assert.equal((await authenticate(verifier, tokenOne))?.result, 'allow');
      assert.equal((await authenticate(verifier, tokenTwo))?.result, 'deny');
      writeFileSync(file, JSON.stringify({ keys: [await jwk(first.publicKey, 'one', 'ES256'), await jwk(second.publicKey, 'two', 'RS256')] }));
      verifier.reload();
      assert.equal((await authenticate(verifier, tokenTwo))?.result, 'allow');
    } finally {
      directory.remove();
    }
  });

  test('ACL claim is stored and enforced by the JWT authorizer', async () => {
    const verifier = new JwtVerifier({ ...baseOptions, secret }, silentLogger);
    const key = new TextEncoder().encode(secret);
    const token = await sign({ sub: 'alice', acl: { pub: ['cmd/alice/#'], sub: ['state/#'] } }, key, 'HS256');
    const result = await authenticate(verifier, token);
    assert.ok(result?.result === 'allow');
    const client = makeClient({ username: 'alice', attributes: result.attributes ?? {} });
    assert.deepEqual(client.attributes[jwtAclAttribute], { pub: ['cmd/alice/#'], sub: ['state/#'] });
    const authorizer = jwtAuthorizer();
    assert.equal(authorizer.authorizePublish?.(client, makePublish('cmd/alice/on')), 'allow');
    assert.equal(authorizer.authorizePublish?.(client, makePublish('cmd/bob/on')), 'deny');
    assert.equal(authorizer.authorizeSubscribe?.(client, makeSubscription('state/+/x')), 'allow');
    assert.equal(authorizer.authorizeSubscribe?.(client, makeSubscription('$share/g/state/1')), 'allow');
    assert.equal(authorizer.authorizeSubscribe?.(client, makeSubscription('#')), 'deny');
    assert.equal(authorizer.authorizePublish?.(makeClient(), makePublish('anything')), 'next');
    const malformed = await sign({ sub: 'alice', acl: { pub: 'not-a-list' } }, key, 'HS256');
    assert.equal((await authenticate(verifier, malformed))?.result, 'deny');
  });
});
