import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../../src/config/load.js';
import { workerCount } from '../../src/config/worker-count.js';

const directory = mkdtempSync(join(tmpdir(), 'petrel-config-'));
after(() => rmSync(directory, { recursive: true, force: true }));

let fileCounter = 0;
function writeConfig(text: string): string {
  fileCounter += 1;
  const file = join(directory, `petrel-${fileCounter}.yaml`);
  writeFileSync(file, text);
  return file;
}

/** The ConfigError lines thrown by `run`; fails the test when nothing is thrown. */
function configErrors(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    for (const line of error.message.split('\n')) assert.match(line, /^config error: /);
    return error.issues;
  }
  assert.fail('expected loadConfig to throw a ConfigError');
}

describe('defaults', () => {
  test('no file, no environment, no flags: one TCP listener on 1883 and a store in ./data', () => {
    const config = loadConfig({});
    assert.equal(config.listeners.length, 1);
    assert.deepEqual(
      { type: config.listeners[0]?.type, host: config.listeners[0]?.host, port: config.listeners[0]?.port },
      { type: 'tcp', host: '0.0.0.0', port: 1883 },
    );
    assert.equal(config.storage.mode, 'sync');
    assert.equal(config.storage.dir, './data');
    assert.equal(config.workers, 'auto');
    assert.deepEqual(config.log, { level: 'info', pretty: false });
    assert.equal(config.limits.maxPacketSize, 1048576);
  });

  test('an empty file is the defaults', () => {
    const config = loadConfig({ file: writeConfig('# nothing\n') });
    assert.equal(config.listeners[0]?.port, 1883);
  });

  test('a section whose keys are all commented out keeps its defaults', () => {
    const config = loadConfig({ file: writeConfig('storage:\n  # dir: /elsewhere\nlimits:\n') });
    assert.equal(config.storage.dir, './data');
    assert.equal(config.limits.maxPacketSize, 1048576);
  });

  test('sections given partially keep defaults for the other keys', () => {
    const config = loadConfig({ file: writeConfig('limits:\n  maxPacketSize: 2048\n') });
    assert.equal(config.limits.maxPacketSize, 2048);
    assert.equal(config.limits.maxTopicLevels, 64);
  });
});

describe('precedence: file < environment < flags', () => {
  const file = writeConfig(
    ['listeners:', '  - port: 1000', '    host: 127.0.0.1', 'log:', '  level: warn', 'storage:', '  dir: /from/file', 'workers: 2'].join('\n'),
  );

  test('the file alone', () => {
    const config = loadConfig({ file });
    assert.equal(config.listeners[0]?.port, 1000);
    assert.equal(config.log.level, 'warn');
    assert.equal(config.storage.dir, '/from/file');
    assert.equal(config.workers, 2);
  });

  test('environment variables override the file', () => {
    const config = loadConfig({
      file,
      env: { PETREL_PORT: '2000', PETREL_HOST: '::1', PETREL_LOG_LEVEL: 'debug', PETREL_DATA_DIR: '/from/env', PETREL_WORKERS: '3' },
    });
    assert.equal(config.listeners[0]?.port, 2000);
    assert.equal(config.listeners[0]?.host, '::1');
    assert.equal(config.log.level, 'debug');
    assert.equal(config.storage.dir, '/from/env');
    assert.equal(config.workers, 3);
  });

  test('flags override the environment', () => {
    const config = loadConfig({
      file,
      env: { PETREL_PORT: '2000', PETREL_LOG_LEVEL: 'debug', PETREL_DATA_DIR: '/from/env', PETREL_WORKERS: '3' },
      flags: { port: '3000', host: '127.0.0.2', logLevel: 'error', dataDir: '/from/flag', workers: 4 },
    });
    assert.equal(config.listeners[0]?.port, 3000);
    assert.equal(config.listeners[0]?.host, '127.0.0.2');
    assert.equal(config.log.level, 'error');
    assert.equal(config.storage.dir, '/from/flag');
    assert.equal(config.workers, 4);
  });

  test('PETREL_CONFIG names the file; the file option wins over it', () => {
    const other = writeConfig('listeners:\n  - port: 1500\n');
    assert.equal(loadConfig({ env: { PETREL_CONFIG: file } }).listeners[0]?.port, 1000);
    assert.equal(loadConfig({ file: other, env: { PETREL_CONFIG: file } }).listeners[0]?.port, 1500);
  });
});

describe('workers', () => {
  test('a number or "auto", from the file, the environment or --workers', () => {
    assert.equal(loadConfig({ file: writeConfig('workers: auto\n') }).workers, 'auto');
    assert.equal(loadConfig({ file: writeConfig('workers: 1\n') }).workers, 1);
    assert.equal(loadConfig({ env: { PETREL_WORKERS: 'auto' } }).workers, 'auto');
    assert.equal(loadConfig({ env: { PETREL_WORKERS: '1' } }).workers, 1);
    assert.equal(loadConfig({ file: writeConfig('workers: 4\n'), flags: { workers: 'auto' } }).workers, 'auto');
    assert.equal(loadConfig({ env: { PETREL_WORKERS: 'auto' }, flags: { workers: '1' } }).workers, 1);
  });

  test('anything else names the key, the value and its source', () => {
    assert.deepEqual(configErrors(() => loadConfig({ env: { PETREL_WORKERS: 'many' } })), [
      'workers: expected a positive integer <= 64 or auto, got "many" (from PETREL_WORKERS)',
    ]);
    assert.deepEqual(configErrors(() => loadConfig({ flags: { workers: '65' } })), [
      'workers: expected a positive integer <= 64 or auto, got 65 (from --workers)',
    ]);
    const file = writeConfig('workers: 2.5\n');
    assert.deepEqual(configErrors(() => loadConfig({ file })), [`workers: expected a positive integer <= 64 or auto, got 2.5 (from ${file})`]);
  });

  test('"auto" is one worker per core, 1 to 64; a number is itself', () => {
    assert.equal(workerCount('auto', 2), 2);
    assert.equal(workerCount('auto', 1), 1);
    assert.equal(workerCount('auto', 0), 1);
    assert.equal(workerCount('auto', 200), 64);
    assert.equal(workerCount(3, 200), 3);
    assert.equal(workerCount(1, 8), 1);
  });
});

describe('--host/--port target the first TCP listener', () => {
  test('skips listeners of other types', () => {
    const file = writeConfig(
      ['listeners:', '  - type: ws', '    port: 8083', '  - type: tcp', '    port: 1883', '  - port: 1884'].join('\n'),
    );
    const config = loadConfig({ file, flags: { port: 0 } });
    assert.deepEqual(
      config.listeners.map((listener) => [listener.type, listener.port]),
      [['ws', 8083], ['tcp', 0], ['tcp', 1884]],
    );
  });

  test('a config without a TCP listener gets one', () => {
    const config = loadConfig({ file: writeConfig('listeners:\n  - type: ws\n    port: 8083\n'), flags: { port: '1999' } });
    assert.deepEqual(
      config.listeners.map((listener) => [listener.type, listener.port]),
      [['ws', 8083], ['tcp', 1999]],
    );
  });

  test('--host alone on a config without listeners keeps port 1883', () => {
    const config = loadConfig({ flags: { host: '127.0.0.1' } });
    assert.equal(config.listeners.length, 1);
    assert.equal(config.listeners[0]?.host, '127.0.0.1');
    assert.equal(config.listeners[0]?.port, 1883);
  });
});

describe('generic PETREL_SECTION__KEY variables', () => {
  test('nesting, camelCase and coercion to the schema type', () => {
    const config = loadConfig({
      env: {
        PETREL_LIMITS__MAX_PACKET_SIZE: '2048',
        PETREL_MQTT__MAXIMUM_QOS: '1',
        PETREL_MQTT__RETAIN_AVAILABLE: 'false',
        PETREL_MQTT__QUEUE_QOS0: 'yes',
        PETREL_AUTH__CHAIN: 'jwt, password-file',
        PETREL_HTTP__HOST: '0.0.0.0',
        PETREL_LISTENERS__0__PORT: '1884',
        PETREL_LISTENERS__0__PROXY_PROTOCOL: 'true',
      },
    });
    assert.equal(config.limits.maxPacketSize, 2048);
    assert.equal(config.mqtt.maximumQoS, 1);
    assert.equal(config.mqtt.retainAvailable, false);
    assert.equal(config.mqtt.queueQoS0, true);
    assert.deepEqual(config.auth.chain, ['jwt', 'password-file']);
    assert.equal(config.http.host, '0.0.0.0');
    assert.equal(config.listeners[0]?.port, 1884);
    assert.equal(config.listeners[0]?.proxyProtocol, true);
  });

  test('a container created by a variable blames that variable for its missing keys', () => {
    assert.deepEqual(configErrors(() => loadConfig({ env: { PETREL_LISTENERS__0__PROXY_PROTOCOL: 'true' } })), [
      'listeners[0].port: missing, expected an integer from 0 to 65535 (from PETREL_LISTENERS__0__PROXY_PROTOCOL)',
    ]);
  });

  test('a structured value can be given as a flow (JSON) list', () => {
    const config = loadConfig({ env: { PETREL_LISTENERS: '[{"port": 1884}, {"type": "ws", "port": 8083}]' } });
    assert.deepEqual(
      config.listeners.map((listener) => [listener.type, listener.port]),
      [['tcp', 1884], ['ws', 8083]],
    );
  });

  test('a string that should be a number names the variable and the value', () => {
    const issues = configErrors(() => loadConfig({ env: { PETREL_PORT: 'abc' } }));
    assert.deepEqual(issues, ['listeners[0].port: expected an integer from 0 to 65535, got "abc" (from PETREL_PORT)']);
  });

  test('an unknown key under a section is an error naming the variable', () => {
    const issues = configErrors(() => loadConfig({ env: { PETREL_LIMITS__MAX_PAKET_SIZE: '5' } }));
    assert.equal(issues.length, 1);
    assert.match(issues[0] ?? '', /^limits\.maxPaketSize: unknown key \(did you mean maxPacketSize\?\);/);
    assert.match(issues[0] ?? '', /\(from PETREL_LIMITS__MAX_PAKET_SIZE\)$/);
  });

  test('variables that are not configuration are left alone', () => {
    const config = loadConfig({ env: { PETREL_BENCH_DURATION: '10', PATH: '/usr/bin', PETREL_TEST: 'x' } });
    assert.equal(config.listeners[0]?.port, 1883);
  });
});

describe('errors name the key, the value and the source', () => {
  test('a bad value in the file', () => {
    const file = writeConfig('limits:\n  maxPacketSize: -1\n');
    const issues = configErrors(() => loadConfig({ file }));
    assert.deepEqual(issues, [`limits.maxPacketSize: expected a positive integer <= 268435460, got -1 (from ${file})`]);
  });

  test('the message is one "config error:" line per issue', () => {
    const file = writeConfig('limits:\n  maxPacketSize: -1\nlisteners:\n  - type: udp\n    port: 70000\n');
    try {
      loadConfig({ file });
      assert.fail('expected a ConfigError');
    } catch (error) {
      assert.ok(error instanceof ConfigError);
      const lines = error.message.split('\n');
      assert.equal(lines.length, 3);
      assert.ok(lines.includes(`config error: listeners[0].type: expected one of tcp, tls, ws, wss, got "udp" (from ${file})`));
      assert.ok(lines.includes(`config error: listeners[0].port: expected an integer from 0 to 65535, got 70000 (from ${file})`));
    }
  });

  test('an unknown top-level key', () => {
    const file = writeConfig('listners:\n  - port: 1883\n');
    const issues = configErrors(() => loadConfig({ file }));
    assert.equal(issues.length, 1);
    assert.match(issues[0] ?? '', /^listners: unknown key \(did you mean listeners\?\); allowed keys: listeners, storage, /);
  });

  test('an unknown nested key', () => {
    const issues = configErrors(() => loadConfig({ file: writeConfig('storage:\n  directory: /tmp\n') }));
    assert.match(issues[0] ?? '', /^storage\.directory: unknown key/);
  });

  test('a wrong type', () => {
    const file = writeConfig('log:\n  pretty: "very"\n');
    assert.deepEqual(configErrors(() => loadConfig({ file })), [`log.pretty: expected true or false, got "very" (from ${file})`]);
  });

  test('a missing required key', () => {
    const file = writeConfig('listeners:\n  - host: 127.0.0.1\n');
    assert.deepEqual(configErrors(() => loadConfig({ file })), [
      `listeners[0].port: missing, expected an integer from 0 to 65535 (from ${file})`,
    ]);
  });

  test('an empty listener list', () => {
    const file = writeConfig('listeners: []\n');
    assert.deepEqual(configErrors(() => loadConfig({ file })), [`listeners: expected at least 1 item(s), got an empty list (from ${file})`]);
  });

  test('a bad flag names the flag', () => {
    assert.deepEqual(configErrors(() => loadConfig({ flags: { workers: '0' } })), [
      'workers: expected a positive integer <= 64 or auto, got 0 (from --workers)',
    ]);
    assert.deepEqual(configErrors(() => loadConfig({ flags: { logLevel: 'loud' } })), [
      'log.level: expected one of fatal, error, warn, info, debug, trace, silent, got "loud" (from --log-level)',
    ]);
  });
});

describe('file errors', () => {
  test('a YAML syntax error names the file, line and column', () => {
    const file = writeConfig('limits:\n  maxPacketSize: [1, 2\nlog: {}\n');
    const issues = configErrors(() => loadConfig({ file }));
    assert.ok(issues.length >= 1);
    assert.match(issues[0] ?? '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+:\\d+: invalid YAML: `));
  });

  test('a duplicated key is a YAML error', () => {
    const file = writeConfig('workers: 1\nworkers: 2\n');
    assert.match(configErrors(() => loadConfig({ file }))[0] ?? '', /:2:1: invalid YAML: .*[Uu]nique/);
  });

  test('a top level that is not a mapping', () => {
    const file = writeConfig('- port: 1883\n');
    assert.deepEqual(configErrors(() => loadConfig({ file })), [`${file}: expected a mapping of settings at the top level, got a list`]);
  });

  test('a missing file', () => {
    const file = join(directory, 'does-not-exist.yaml');
    assert.match(configErrors(() => loadConfig({ file }))[0] ?? '', /^cannot read config file .*does-not-exist\.yaml: ENOENT/);
  });
});
