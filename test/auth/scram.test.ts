import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { ScramProvider } from '../../src/auth/scram.js';
import { deriveScramCredentials, type ScramCredentials } from '../../src/auth/password-hash.js';
import { makeClient, makeConnect } from './helpers.js';

// An independent client side of RFC 5802, written from the RFC rather than from the server code.
class ScramClient {
  readonly clientNonce: string;
  private clientFirstBare = '';
  private authMessage = '';
  private saltedPassword = Buffer.alloc(0);

  constructor(
    private readonly username: string,
    private readonly password: string,
    clientNonce = randomBytes(18).toString('base64'),
  ) {
    this.clientNonce = clientNonce;
  }

  first(): string {
    this.clientFirstBare = `n=${this.username.replaceAll('=', '=3D').replaceAll(',', '=2C')},r=${this.clientNonce}`;
    return `n,,${this.clientFirstBare}`;
  }

  final(serverFirst: string): string {
    const fields = new Map(serverFirst.split(',').map((part) => [part[0], part.slice(2)] as [string, string]));
    const nonce = fields.get('r') ?? '';
    assert.ok(nonce.startsWith(this.clientNonce), 'server nonce must extend the client nonce');
    this.saltedPassword = pbkdf2Sync(this.password, Buffer.from(fields.get('s') ?? '', 'base64'), Number(fields.get('i')), 32, 'sha256');
    const withoutProof = `c=biws,r=${nonce}`;
    this.authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientKey = createHmac('sha256', this.saltedPassword).update('Client Key').digest();
    const storedKey = createHash('sha256').update(clientKey).digest();
    const signature = createHmac('sha256', storedKey).update(this.authMessage).digest();
    const proof = Buffer.from(clientKey.map((byte, index) => byte ^ signature[index]));
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  expectedServerFinal(): string {
    const serverKey = createHmac('sha256', this.saltedPassword).update('Server Key').digest();
    return `v=${createHmac('sha256', serverKey).update(this.authMessage).digest('base64')}`;
  }
}

function providerWith(users: Record<string, ScramCredentials>): ScramProvider {
  return new ScramProvider({ scramCredentials: (name) => users[name] });
}

describe('SCRAM-SHA-256 enhanced authentication', () => {
  const credentials = deriveScramCredentials('pencil', randomBytes(16), 4096);

  test('the test client reproduces the RFC 7677 example, and derived keys sign it the same way', () => {
    const client = new ScramClient('user', 'pencil', 'rOprNGfwEbeRWgbNEkqO');
    assert.equal(client.first(), 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO');
    const serverFirst = 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096';
    assert.equal(
      client.final(serverFirst),
      'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    );
    assert.equal(client.expectedServerFinal(), 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
    const derived = deriveScramCredentials('pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,${serverFirst},c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0`;
    assert.equal(createHmac('sha256', derived.serverKey).update(authMessage).digest('base64'), '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });

  test('full exchange succeeds and the server proves itself', async () => {
    const provider = providerWith({ alice: credentials });
    assert.equal(provider.method, 'SCRAM-SHA-256');
    const client = new ScramClient('alice', 'pencil');
    const exchange = provider.begin(makeClient(), makeConnect());
    const first = await exchange.step(Buffer.from(client.first()));
    assert.equal(first.result, 'continue');
    assert.ok(first.result === 'continue');
    const final = await exchange.step(Buffer.from(client.final(first.data.toString())));
    assert.equal(final.result, 'success');
    assert.ok(final.result === 'success');
    assert.equal(final.username, 'alice');
    assert.equal(final.data?.toString(), client.expectedServerFinal());
    const extra = await exchange.step(Buffer.from('x'));
    assert.equal(extra.result, 'fail');
  });

  test('wrong password fails with 0x86', async () => {
    const exchange = providerWith({ alice: credentials }).begin(makeClient(), makeConnect());
    const client = new ScramClient('alice', 'not-pencil');
    const first = await exchange.step(Buffer.from(client.first()));
    assert.ok(first.result === 'continue');
    const final = await exchange.step(Buffer.from(client.final(first.data.toString())));
    assert.deepEqual(final, { result: 'fail', reasonCode: 0x86 });
  });

  test('unknown user gets a stable fake salt and fails at the end', async () => {
    const provider = providerWith({});
    const salts: string[] = [];
    for (let attempt = 0; attempt < 2; attempt++) {
      const exchange = provider.begin(makeClient(), makeConnect());
      const client = new ScramClient('mallory', 'guess');
      const first = await exchange.step(Buffer.from(client.first()));
      assert.ok(first.result === 'continue');
      salts.push(/s=([^,]+)/.exec(first.data.toString())?.[1] ?? '');
      const final = await exchange.step(Buffer.from(client.final(first.data.toString())));
      assert.equal(final.result, 'fail');
    }
    assert.equal(salts[0], salts[1]);
  });

  test('tampered nonce, channel binding request and malformed messages fail', async () => {
    const provider = providerWith({ alice: credentials });
    const run = async (clientFirst: string, mangle?: (final: string) => string) => {
      const exchange = provider.begin(makeClient(), makeConnect());
      const client = new ScramClient('alice', 'pencil');
      const first = await exchange.step(Buffer.from(clientFirst === '' ? client.first() : clientFirst));
      if (first.result !== 'continue' || !mangle) return first.result;
      return (await exchange.step(Buffer.from(mangle(client.final(first.data.toString()))))).result;
    };
    assert.equal(await run('p=tls-unique,,n=alice,r=abc'), 'fail');
    assert.equal(await run('n,,r=abc,n=alice'), 'fail');
    assert.equal(await run('garbage'), 'fail');
    assert.equal(await run('n,a=bob,n=alice,r=abc'), 'fail');
    assert.equal(await run('', (final) => final.replace(/r=[^,]+/, 'r=other')), 'fail');
    assert.equal(await run('', (final) => final.replace('c=biws', 'c=eSws')), 'fail');
    assert.equal(await run('', (final) => final.replace(/,p=.*/, '')), 'fail');
    assert.equal(await run('', (final) => final), 'success');
    const empty = provider.begin(makeClient(), makeConnect());
    assert.equal((await empty.step(undefined)).result, 'fail');
  });

  test('re-authentication must keep the connection user name', async () => {
    const provider = providerWith({ alice: credentials, bob: deriveScramCredentials('b', randomBytes(16), 4096) });
    const reauth = provider.begin(makeClient({ username: 'alice' }), undefined);
    const client = new ScramClient('bob', 'b');
    assert.equal((await reauth.step(Buffer.from(client.first()))).result, 'fail');
    const same = provider.begin(makeClient({ username: 'alice' }), undefined);
    const alice = new ScramClient('alice', 'pencil');
    const first = await same.step(Buffer.from(alice.first()));
    assert.ok(first.result === 'continue');
    assert.equal((await same.step(Buffer.from(alice.final(first.data.toString())))).result, 'success');
  });
});
