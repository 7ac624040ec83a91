// Conformance, enhanced authentication (MQTT 5.0 §4.12): the method is repeated on every AUTH
// and on CONNACK, failures close the connection, re-authentication failure disconnects.

import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBroker, type StartedBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import type { EnhancedAuthProvider } from '../../src/hooks/hooks.js';
import type { ConnectPacket } from '../../src/protocol/packets.js';

const METHOD = 'ECHO-TWICE';

// Accepts a client that sends "open" then "sesame"; anything else fails with 0x87.
const provider: EnhancedAuthProvider = {
  method: METHOD,
  begin: () => {
    let stage = 0;
    return {
      step: (data) => {
        const text = data?.toString();
        if (stage === 0 && text === 'open') {
          stage = 1;
          return { result: 'continue', data: Buffer.from('and?') };
        }
        if (stage === 1 && text === 'sesame') return { result: 'success' };
        return { result: 'fail', reasonCode: 0x87 };
      },
    };
  },
};

const connect = (clientId: string, data: string): ConnectPacket => ({
  type: 'connect',
  protocolName: 'MQTT',
  protocolVersion: 5,
  clean: true,
  keepalive: 0,
  clientId,
  properties: { authenticationMethod: METHOD, authenticationData: Buffer.from(data) },
});

describe('conformance: enhanced authentication', () => {
  let started: StartedBroker;
  before(async () => {
    started = await startBroker({}, { enhancedAuth: [provider] });
  });
  after(async () => {
    await started.stop();
  });

  test('[MQTT-4.12.0-2] [MQTT-4.12.0-5] every AUTH from the server is 0x18 and carries the method; so does the successful CONNACK', async () => {
    const client = await RawClient.open(started.port, 5);
    client.send(connect('enh-ok', 'open'));
    const challenge = await client.expect('auth');
    assert.equal(challenge.reasonCode, 0x18);
    assert.equal(challenge.properties?.authenticationMethod, METHOD);
    client.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('sesame') } });
    const connack = await client.expect('connack');
    assert.equal(connack.reasonCode, 0);
    assert.equal(connack.properties?.authenticationMethod, METHOD);
    client.destroy();
  });

  test('[MQTT-4.12.0-4] a failed exchange: CONNACK with a code of 0x80 or more, then the connection is closed', async () => {
    const client = await RawClient.open(started.port, 5);
    client.send(connect('enh-fail', 'open'));
    await client.expect('auth');
    client.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('wrong') } });
    const connack = await client.expect('connack');
    assert.ok(connack.reasonCode >= 0x80);
    assert.equal(connack.sessionPresent, false);
    await client.waitClosed();
  });

  test('[MQTT-4.12.0-1] an unsupported Authentication Method: CONNACK 0x8C or 0x87, then closed', async () => {
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'enh-unknown', properties: { authenticationMethod: 'NOT-THIS' } }, 5);
    assert.ok(connack.type === 'connack' && [0x8c, 0x87].includes(connack.reasonCode));
    await client.waitClosed();
  });

  test('[MQTT-4.12.1-2] a failed re-authentication: DISCONNECT with a failure code, then closed', async () => {
    const client = await RawClient.open(started.port, 5);
    client.send(connect('enh-reauth', 'open'));
    await client.expect('auth');
    client.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('sesame') } });
    await client.expect('connack');
    client.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('nonsense') } });
    const disconnect = await client.expect('disconnect');
    assert.ok(disconnect.reasonCode >= 0x80);
    await client.waitClosed();
  });

  test('[MQTT-4.12.1-1] re-authentication with another method than the original is refused', async () => {
    const client = await RawClient.open(started.port, 5);
    client.send(connect('enh-other-method', 'open'));
    await client.expect('auth');
    client.send({ type: 'auth', reasonCode: 0x18, properties: { authenticationMethod: METHOD, authenticationData: Buffer.from('sesame') } });
    await client.expect('connack');
    client.send({ type: 'auth', reasonCode: 0x19, properties: { authenticationMethod: 'SOMETHING-ELSE', authenticationData: Buffer.from('open') } });
    const disconnect = await client.expect('disconnect');
    assert.ok(disconnect.reasonCode >= 0x80);
    await client.waitClosed();
  });
});
