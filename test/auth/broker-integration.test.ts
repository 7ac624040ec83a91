// The auth chain inside a real broker, with real clients: MQTT.js 3.1.1 and 5.0, and mosquitto_pub/sub.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt';
import { SignJWT } from 'jose';
import { buildAuth, type AuthSystem } from '../../src/auth/build-auth.js';
import { Broker } from '../../src/broker/broker.js';
import { runPasswd } from '../../src/cli/passwd.js';
import { defaultConfig } from '../../src/config/schema.js';
import { recordingLogger, temporaryDirectory } from './helpers.js';

const run = promisify(execFile);
const jwtSecret = 'integration-secret-of-sufficient-size!';

/** Connects and resolves with the client, or rejects with the CONNACK error (its `code` is the reason code). */
function connect(url: string, options: IClientOptions): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (error) => {
      client.end(true);
      reject(error);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

function connackCode(promise: Promise<MqttClient>): Promise<number | undefined> {
  return promise.then(
    (client) => {
      client.end(true);
      return 0;
    },
    (error: { code?: number }) => error.code,
  );
}

/** The PUBACK/PUBREC reason code of a publish (MQTT.js rejects on codes >= 0x80). */
function pubackCode(client: MqttClient, topic: string, qos: 1 | 2): Promise<number | undefined> {
  return client.publishAsync(topic, 'payload', { qos }).then(
    (packet) => (packet as { reasonCode?: number } | undefined)?.reasonCode ?? 0,
    (error: { code?: number }) => error.code,
  );
}

/** The SUBACK codes, whether MQTT.js resolves or rejects (it rejects when a 5.0 code is a failure). */
function subackCodes(client: MqttClient, filters: Record<string, { qos: 0 | 1 | 2 }>): Promise<number[]> {
  return client.subscribeAsync(filters).then(
    (grants) => grants.map((grant) => grant.qos),
    (error: { packet?: { granted?: number[] } }) => {
      if (!error.packet?.granted) throw error;
      return error.packet.granted;
    },
  );
}

describe('auth inside the broker', () => {
  const directory = temporaryDirectory();
  let broker: Broker;
  let system: AuthSystem;
  let url = '';
  let port = 0;

  before(async () => {
    const passwordFile = join(directory.path, 'passwd');
    const aclFile = join(directory.path, 'acl');
    await runPasswd({ file: passwordFile, username: 'alice', password: 'alice-pw', create: true });
    await runPasswd({ file: passwordFile, username: 'bob', password: 'bob-pw' });
    writeFileSync(
      aclFile,
      ['allow user:alice both alice/#', 'allow all subscribe shared/#', 'allow user:bob publish shared/# maxqos=1', 'allow user:bob subscribe alice/public'].join('\n'),
    );
    const config = defaultConfig({
      listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
      storage: { mode: 'memory' },
      http: { enabled: false },
      mqtt: { sysInterval: 0 },
      log: { level: 'silent' },
      auth: { anonymous: false, passwordFile, aclFile, aclDefault: 'deny', chain: ['password-file', 'jwt'], jwt: { secret: jwtSecret }, scram: { enabled: true } },
    });
    system = buildAuth(config, recordingLogger(), { watch: false });
    broker = new Broker(config, { hooks: system.hooks, enhancedAuth: system.enhancedAuth });
    await broker.start();
    port = broker.addresses[0].port;
    url = `mqtt://127.0.0.1:${port}`;
  });

  after(async () => {
    system.close();
    await broker.stop();
    directory.remove();
  });

  test('MQTT.js 5.0 and 3.1.1: right password connects, wrong password and anonymous are refused', async () => {
    assert.equal(await connackCode(connect(url, { protocolVersion: 5, username: 'alice', password: 'alice-pw' })), 0);
    assert.equal(await connackCode(connect(url, { protocolVersion: 4, username: 'alice', password: 'alice-pw' })), 0);
    assert.equal(await connackCode(connect(url, { protocolVersion: 5, username: 'alice', password: 'wrong', clientId: 'w5' })), 0x86);
    assert.equal(await connackCode(connect(url, { protocolVersion: 4, username: 'alice', password: 'wrong', clientId: 'w4' })), 4);
    assert.equal(await connackCode(connect(url, { protocolVersion: 5 })), 0x87);
    assert.equal(await connackCode(connect(url, { protocolVersion: 4 })), 5);
  });

  test('denied SUBSCRIBE gets 0x87 (5.0) / 0x80 (3.1.1); denied PUBLISH gets PUBACK 0x87 (5.0)', async () => {
    for (const protocolVersion of [5, 4] as const) {
      const client = await connect(url, { protocolVersion, username: 'bob', password: 'bob-pw', clientId: `bob-${protocolVersion}` });
      try {
        const granted = await subackCodes(client, {
          'shared/a': { qos: 1 },
          'alice/private': { qos: 1 },
          '$share/g/shared/b': { qos: 0 },
          '$SYS/#': { qos: 0 },
        });
        const expectedDenied = protocolVersion === 5 ? 0x87 : 0x80;
        assert.deepEqual(granted, [1, expectedDenied, 0, expectedDenied]);
        if (protocolVersion === 5) {
          assert.equal(await pubackCode(client, 'alice/x', 1), 0x87);
          assert.equal(await pubackCode(client, 'shared/x', 2), 0x87, 'maxqos=1 refuses QoS 2');
          assert.equal(await pubackCode(client, 'shared/x', 1), 0);
        }
      } finally {
        await client.endAsync();
      }
    }
  });

  test('mosquitto_pub / mosquitto_sub with -u/-P: authorized delivery, bad password refused', async () => {
    const subscriber = execFile('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'alice', '-P', 'alice-pw', '-t', 'alice/inbox', '-C', '1', '-W', '5', '-q', '1']);
    let output = '';
    subscriber.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => subscriber.on('exit', resolve));
    // Publish until the subscriber is connected and receives (it may subscribe after our first publish).
    for (let attempt = 0; attempt < 20 && output === ''; attempt++) {
      await run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'alice', '-P', 'alice-pw', '-t', 'alice/inbox', '-m', 'hello', '-q', '1']);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await exited, 0);
    assert.equal(output.trim(), 'hello');
    await assert.rejects(
      run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(port), '-u', 'alice', '-P', 'nope', '-i', 'bad-pw', '-t', 'alice/x', '-m', 'x', '-V', 'mqttv311']),
      (error: { stderr?: string }) => /not authori[sz]ed|bad user name or password|refused/i.test(error.stderr ?? ''),
    );
  });

  test('JWT in the password field; the broker closes the connection when the token expires', async () => {
    const expiresAt = Math.floor(Date.now() / 1000) + 2;
    const token = await new SignJWT({ sub: 'sensor-1' }).setProtectedHeader({ alg: 'HS256' }).setExpirationTime(expiresAt).sign(new TextEncoder().encode(jwtSecret));
    const client = await connect(url, { protocolVersion: 5, username: 'sensor-1', password: token, clientId: 'sensor-1' });
    const disconnected = await new Promise<number | undefined>((resolve) => {
      client.once('disconnect', (packet) => resolve(packet.reasonCode));
      client.once('close', () => resolve(undefined));
    });
    client.end(true);
    assert.ok(disconnected === 0x87 || disconnected === 0xa0, `DISCONNECT reason ${disconnected}`);
    assert.ok(Date.now() >= expiresAt * 1000 - 50);
  });

  test('MQTT.js 5.0 SCRAM-SHA-256 enhanced authentication: success and wrong password', async () => {
    const attempt = (password: string, clientId: string) => {
      const clientNonce = randomBytes(18).toString('base64');
      const clientFirstBare = `n=alice,r=${clientNonce}`;
      let expectedServerFinal = '';
      const client = mqtt.connect(url, {
        protocolVersion: 5,
        clientId,
        reconnectPeriod: 0,
        connectTimeout: 3000,
        properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(`n,,${clientFirstBare}`) },
      });
      client.handleAuth = (packet, callback) => {
        const serverFirst = packet.properties?.authenticationData?.toString() ?? '';
        const fields = new Map(serverFirst.split(',').map((part) => [part[0], part.slice(2)] as [string, string]));
        const salted = pbkdf2Sync(password, Buffer.from(fields.get('s') ?? '', 'base64'), Number(fields.get('i')), 32, 'sha256');
        const withoutProof = `c=biws,r=${fields.get('r')}`;
        const authMessage = `${clientFirstBare},${serverFirst},${withoutProof}`;
        const clientKey = createHmac('sha256', salted).update('Client Key').digest();
        const signature = createHmac('sha256', createHash('sha256').update(clientKey).digest()).update(authMessage).digest();
        const proof = Buffer.from(clientKey.map((byte, index) => byte ^ signature[index])).toString('base64');
        const serverKey = createHmac('sha256', salted).update('Server Key').digest();
        expectedServerFinal = `v=${createHmac('sha256', serverKey).update(authMessage).digest('base64')}`;
        callback(undefined, {
          cmd: 'auth',
          reasonCode: 0x18,
          properties: { authenticationMethod: 'SCRAM-SHA-256', authenticationData: Buffer.from(`${withoutProof},p=${proof}`) },
        });
      };
      return new Promise<{ code: number; serverFinal?: string; expected: string }>((resolve) => {
        client.once('connect', (connack) => {
          resolve({ code: 0, serverFinal: connack.properties?.authenticationData?.toString(), expected: expectedServerFinal });
          client.end(true);
        });
        client.once('error', (error: Error & { code?: number }) => {
          resolve({ code: error.code ?? -1, expected: expectedServerFinal });
          client.end(true);
        });
      });
    };
    const good = await attempt('alice-pw', 'scram-good');
    assert.equal(good.code, 0);
    assert.equal(good.serverFinal, good.expected);
    const bad = await attempt('not-alice-pw', 'scram-bad');
    assert.equal(bad.code, 0x86);
  });
});
