import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  createScramCredentials,
  deriveScramCredentials,
  hashPassword,
  parseScramCredentials,
  verifyPassword,
} from '../../src/auth/password-hash.js';
import { PasswordFile, parsePasswordFile, passwordFileAuthenticator } from '../../src/auth/password-file.js';
import { silentLogger } from '../../src/auth/logger.js';
import { runPasswd } from '../../src/cli/passwd.js';
import { makeClient, makeConnect, temporaryDirectory } from './helpers.js';

const here = dirname(fileURLToPath(import.meta.url));

function repositoryRoot(): string {
  let directory = here;
  while (!existsSync(join(directory, 'package.json'))) directory = dirname(directory);
  return directory;
}

function runCli(args: string[], input?: string): Promise<{ code: number | null; stderr: string }> {
  // Compiled (the final suite): the real `petrel` launcher. Under tsx: a small entry with only `passwd`.
  const typescript = import.meta.url.endsWith('.ts');
  const nodeArgs = typescript
    ? ['--import', 'tsx', join(here, 'fixtures', 'passwd-entry.ts'), 'passwd', ...args]
    : [join(repositoryRoot(), 'bin', 'petrel.js'), 'passwd', ...args];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, nodeArgs, { cwd: repositoryRoot(), stdio: ['pipe', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdin.end(input ?? '');
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('password hashing', () => {
  test('scrypt hash verifies the right password only', async () => {
    const encoded = await hashPassword('correct horse');
    assert.match(encoded, /^\$scrypt\$N=16384,r=8,p=1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    assert.equal(await verifyPassword(Buffer.from('correct horse'), encoded), true);
    assert.equal(await verifyPassword(Buffer.from('correct horsf'), encoded), false);
    assert.equal(await verifyPassword(Buffer.from(''), encoded), false);
  });

  test('the same password gets a different salt each time', async () => {
    assert.notEqual(await hashPassword('x'), await hashPassword('x'));
  });

  test('malformed or hostile hash strings are refused, not executed', async () => {
    assert.equal(await verifyPassword(Buffer.from('x'), '$scrypt$N=1048577,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA=='), false);
    assert.equal(await verifyPassword(Buffer.from('x'), '$scrypt$N=1073741824,r=8,p=1$AAAAAAAAAAA=$AAAAAAAAAAAAAAAAAAAAAA=='), false);
    assert.equal(await verifyPassword(Buffer.from('x'), 'plain-text'), false);
  });

  test('SCRAM credentials round trip through their encoding', () => {
    const encoded = createScramCredentials('pencil');
    const parsed = parseScramCredentials(encoded);
    assert.ok(parsed);
    const again = deriveScramCredentials('pencil', parsed.salt, parsed.iterations);
    assert.deepEqual(again.storedKey, parsed.storedKey);
    assert.deepEqual(again.serverKey, parsed.serverKey);
  });
});

describe('password file', () => {
  test('parse rejects bad lines with their line number', () => {
    assert.throws(() => parsePasswordFile('alice'), /line 1/);
    assert.throws(() => parsePasswordFile('# comment\n\nalice:nothash'), /line 3/);
    assert.equal(parsePasswordFile('# only a comment\n').size, 0);
  });

  test('runPasswd creates, updates and deletes users; the authenticator follows', async () => {
    const directory = temporaryDirectory();
    try {
      const file = join(directory.path, 'passwd');
      await runPasswd({ file, username: 'alice', password: 'secret-a', create: true });
      await runPasswd({ file, username: 'bob', password: 'secret-b' });
      assert.equal(statSync(file).mode & 0o777, 0o600);
      let loaded = new PasswordFile(file, silentLogger);
      assert.equal(loaded.size, 2);
      assert.ok(loaded.scramCredentials('alice'));
      const hook = passwordFileAuthenticator(loaded);
      const ask = (username: string | undefined, password?: string) =>
        hook.authenticate?.({
          client: makeClient(),
          connect: makeConnect({ username, password: password === undefined ? undefined : Buffer.from(password) }),
        });
      assert.deepEqual(await ask('alice', 'secret-a'), { result: 'allow' });
      assert.deepEqual(await ask('alice', 'wrong'), { result: 'deny', reasonCode: 0x86 });
      assert.deepEqual(await ask('alice'), { result: 'deny', reasonCode: 0x86 });
      assert.deepEqual(await ask('carol', 'anything'), { result: 'next' });
      assert.deepEqual(await ask(undefined), { result: 'next' });

      await runPasswd({ file, username: 'alice', password: 'changed' });
      await runPasswd({ file, username: 'bob', delete: true });
      loaded.reload();
      assert.equal(loaded.size, 1);
      assert.equal(await loaded.verify('alice', Buffer.from('changed')), true);
      assert.equal(await loaded.verify('alice', Buffer.from('secret-a')), false);
      assert.equal(loaded.has('bob'), false);

      await assert.rejects(runPasswd({ file, username: 'bob', delete: true }), /not found/);
      await assert.rejects(runPasswd({ file, username: 'a:b', password: 'x' }), /":"/);
      await assert.rejects(runPasswd({ file: join(directory.path, 'missing'), username: 'x', password: 'y' }), /-c/);
      loaded = new PasswordFile(file, silentLogger);
      assert.equal(loaded.size, 1);
    } finally {
      directory.remove();
    }
  });

  test('petrel passwd as a child process: -c -b, stdin mode, mismatch, -D', async () => {
    const directory = temporaryDirectory();
    try {
      const file = join(directory.path, 'passwd');
      assert.equal((await runCli(['-c', '-b', file, 'alice', 'pw-alice'])).code, 0);
      assert.equal((await runCli([file, 'bob'], 'pw-bob\npw-bob\n')).code, 0);
      const mismatch = await runCli([file, 'carol'], 'one\ntwo\n');
      assert.equal(mismatch.code, 1);
      assert.match(mismatch.stderr, /do not match/);
      const noBatch = await runCli([file, 'dave', 'inline']);
      assert.equal(noBatch.code, 1);
      let loaded = new PasswordFile(file, silentLogger);
      assert.equal(await loaded.verify('alice', Buffer.from('pw-alice')), true);
      assert.equal(await loaded.verify('bob', Buffer.from('pw-bob')), true);
      assert.equal(loaded.has('carol'), false);
      assert.equal((await runCli(['-D', file, 'alice'])).code, 0);
      loaded = new PasswordFile(file, silentLogger);
      assert.deepEqual([loaded.has('alice'), loaded.has('bob')], [false, true]);
      assert.doesNotMatch(readFileSync(file, 'utf8'), /pw-bob/);
    } finally {
      directory.remove();
    }
  });

  test('a broken file on reload keeps the previous users', async () => {
    const directory = temporaryDirectory();
    try {
      const file = join(directory.path, 'passwd');
      await runPasswd({ file, username: 'alice', password: 'pw', create: true });
      const loaded = new PasswordFile(file, silentLogger);
      writeFileSync(file, 'garbage line without hash\n');
      assert.throws(() => loaded.reload(), /line 1/);
      assert.equal(await loaded.verify('alice', Buffer.from('pw')), true);
    } finally {
      directory.remove();
    }
  });
});
