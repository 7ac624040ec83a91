import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cleanEnvironment, repositoryRoot, runPetrel } from './petrel-process.js';

const directory = mkdtempSync(join(tmpdir(), 'petrel-cli-'));
after(() => rmSync(directory, { recursive: true, force: true }));

describe('petrel command line', () => {
  test('--help lists the start command and exits 0', async () => {
    const result = await runPetrel(['--help']);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /Usage: petrel/);
    assert.match(result.stdout, /\bstart\b/);
  });

  test('--version prints the package.json version', async () => {
    const { version } = JSON.parse(readFileSync(join(repositoryRoot, 'package.json'), 'utf8')) as { version: string };
    const result = await runPetrel(['--version']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout.trim(), version);
  });

  test('start --help lists every documented flag', async () => {
    const result = await runPetrel(['start', '--help']);
    assert.equal(result.code, 0, result.stderr);
    for (const flag of ['--config', '--host', '--port', '--data-dir', '--workers', '--log-level']) {
      assert.ok(result.stdout.includes(flag), `${flag} missing from: ${result.stdout}`);
    }
  });

  test('an unknown option is a usage error (exit 2)', async () => {
    const result = await runPetrel(['start', '--no-such-option']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /unknown option '--no-such-option'/);
  });

  test('start with a bad config value exits 2 naming the key and value', async () => {
    const file = join(directory, 'bad.yaml');
    writeFileSync(file, 'limits:\n  maxPacketSize: -1\n');
    const result = await runPetrel(['start', '--config', file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^config error: limits\.maxPacketSize: expected a positive integer.*, got -1 \(from .*bad\.yaml\)$/m);
    assert.equal(result.stdout, '');
  });

  test('start with an unknown key exits 2 naming the key', async () => {
    const file = join(directory, 'unknown.yaml');
    writeFileSync(file, 'storage:\n  mode: sync\n  flavour: vanilla\n');
    const result = await runPetrel(['start', '-c', file]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /config error: storage\.flavour: unknown key/);
  });

  test('a bad environment variable exits 2 naming the variable', async () => {
    const result = await runPetrel(['start'], { env: cleanEnvironment({ PETREL_PORT: 'eighty' }) });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /config error: listeners\[0\]\.port: expected an integer from 0 to 65535, got "eighty" \(from PETREL_PORT\)/);
  });

  test('a bad flag exits 2 naming the flag', async () => {
    const result = await runPetrel(['start', '--log-level', 'loud']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /config error: log\.level: .*got "loud" \(from --log-level\)/);
  });

  test('--workers takes a number or auto: anything else exits 2 naming the key and the flag', async () => {
    const help = await runPetrel(['start', '--help']);
    assert.match(help.stdout, /--workers <n\|auto>/);
    const result = await runPetrel(['start', '--workers', 'all']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /^config error: workers: expected a positive integer <= 64 or auto, got "all" \(from --workers\)$/m);
    assert.equal(result.stdout, '');
  });

  test('a missing config file exits 2', async () => {
    const result = await runPetrel(['start', '--config', join(directory, 'absent.yaml')]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /config error: cannot read config file .*absent\.yaml/);
  });
});
