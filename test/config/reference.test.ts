// Keeps the documentation true to the schema: the README's configuration table and
// petrel.example.yaml must list every key with the schema's default.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import { configKeys, formatDefault } from '../../src/config/reference.js';
import { defaultConfig } from '../../src/config/schema.js';

function repositoryRoot(): string {
  let directory = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(directory, 'package.json')) || !existsSync(join(directory, 'petrel.example.yaml'))) {
    const parent = dirname(directory);
    if (parent === directory) throw new Error('repository root not found');
    directory = parent;
  }
  return directory;
}

const root = repositoryRoot();
const keys = configKeys();

interface ReferenceRow {
  defaultText: string;
  environment: string;
}

function readmeReference(): Map<string, ReferenceRow> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('### Reference'));
  const rows = new Map<string, ReferenceRow>();
  for (const line of section.split('\n')) {
    const match = /^\| `([^`]+)` \| ([^|]+) \| ([^|]+) \|/.exec(line);
    if (match === null) continue;
    rows.set(match[1] as string, { defaultText: (match[2] as string).trim(), environment: (match[3] as string).trim() });
  }
  return rows;
}

describe('README configuration reference', () => {
  const rows = readmeReference();

  test('the schema walk finds the keys (so the checks below are not vacuous)', () => {
    assert.ok(keys.length > 50, `only ${keys.length} keys`);
    assert.ok(keys.some((key) => key.path === 'limits.maxPacketSize'));
  });

  test('every schema key has a row with the schema default and its environment variable', () => {
    const problems: string[] = [];
    for (const key of keys) {
      const row = rows.get(key.path);
      if (row === undefined) {
        problems.push(`${key.path}: no row`);
        continue;
      }
      if (row.defaultText !== formatDefault(key)) problems.push(`${key.path}: default ${row.defaultText}, schema says ${formatDefault(key)}`);
      if (!row.environment.includes(`\`${key.environment}\``)) problems.push(`${key.path}: environment column lacks ${key.environment}`);
    }
    assert.deepEqual(problems, []);
  });

  test('no row documents a key the schema does not have', () => {
    const known = new Set(keys.map((key) => key.path));
    assert.deepEqual([...rows.keys()].filter((path) => !known.has(path)), []);
  });

  test('the documented environment variables really set their key', () => {
    const sample: Record<string, string> = {
      PETREL_LIMITS__MAX_PACKET_SIZE: '4096',
      PETREL_MQTT__MAXIMUM_QOS: '1',
      PETREL_MQTT__QUEUE_QOS0: 'true',
      PETREL_LISTENERS__0__CERTIFICATE_AS_USERNAME: 'true',
      PETREL_AUTH__JWT__ACL_CLAIM: 'rules',
    };
    for (const name of Object.keys(sample)) assert.ok(keys.some((key) => key.environment === name), `${name} is not a documented variable`);
    const config = loadConfig({ env: { ...sample, PETREL_LISTENERS__0__PORT: '1883' } });
    assert.equal(config.limits.maxPacketSize, 4096);
    assert.equal(config.mqtt.maximumQoS, 1);
    assert.equal(config.mqtt.queueQoS0, true);
    assert.equal(config.listeners[0]?.certificateAsUsername, true);
    assert.equal(config.auth.jwt?.aclClaim, 'rules');
  });
});

describe('petrel.example.yaml', () => {
  const file = join(root, 'petrel.example.yaml');
  const text = readFileSync(file, 'utf8');

  test('loads, and its active settings are exactly the defaults', () => {
    assert.deepEqual(loadConfig({ file }), defaultConfig());
  });

  test('mentions every schema key, set or commented out, at its nesting', () => {
    // Uncommenting every "#   key: value" line must give a YAML document holding every key path.
    const uncommented = text
      .split('\n')
      .map((line) => line.replace(/^(\s*)# ?(\s*(- )?[A-Za-z]+:( |$))/, '$1$2'))
      .join('\n');
    const document: unknown = YAML.parse(uncommented);
    const missing = keys.filter((key) => {
      let current: unknown = document;
      for (const segment of key.path.split('.')) {
        const isList = segment.endsWith('[]');
        const name = isList ? segment.slice(0, -2) : segment;
        current = (current as Record<string, unknown> | undefined)?.[name];
        if (isList) current = Array.isArray(current) ? current[0] : undefined;
      }
      return current === undefined;
    });
    assert.deepEqual(missing.map((key) => key.path), []);
  });
});
