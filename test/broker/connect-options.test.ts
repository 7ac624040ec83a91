// CONNECT-time options the core added late: Response Information (mqtt.responseInformation),
// the optional UTF-8 check of payloads marked Payload Format Indicator 1
// (mqtt.validateUtf8Payload), and limits.maxKeepAlive, which only 5.0 clients can be told about.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IConnackPacket, MqttClient } from 'mqtt';
import { startBroker } from '../helpers/broker-harness.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, delay } from '../helpers/mqtt-client.js';
import type { ConnackPacket, Subscription } from '../../src/protocol/packets.js';

const sub = (topicFilter: string, qos: 0 | 1 | 2): Subscription => ({ topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 });
/** A lone continuation byte: not UTF-8. */
const invalidUtf8 = Buffer.from([0x61, 0x80, 0x62]);

async function connackOf(url: string, options: Parameters<typeof connectClient>[1]): Promise<{ client: MqttClient; connack: IConnackPacket }> {
  let connack: IConnackPacket | undefined;
  const client = await connectClient(url, options, (connecting) => connecting.once('connect', (packet) => (connack = packet)));
  return { client, connack: connack! };
}

describe('Response Information (MQTT.js v5)', () => {
  test('a client asking for it gets the configured prefix with its client id; one not asking gets none', async () => {
    const started = await startBroker();
    const asking = await connackOf(started.url, { protocolVersion: 5, clientId: 'asker', properties: { requestResponseInformation: true } });
    assert.equal(asking.connack.properties?.responseInformation, 'response/asker');
    const silent = await connackOf(started.url, { protocolVersion: 5, clientId: 'quiet-one' });
    assert.equal(silent.connack.properties?.responseInformation, undefined);
    await closeClient(asking.client);
    await closeClient(silent.client);
    await started.stop();
  });

  test('a custom template is used, and "" turns Response Information off', async () => {
    const custom = await startBroker({ mqtt: { responseInformation: 'replies/{clientId}/inbox' } });
    const asking = await connackOf(custom.url, { protocolVersion: 5, clientId: 'templated', properties: { requestResponseInformation: true } });
    assert.equal(asking.connack.properties?.responseInformation, 'replies/templated/inbox');
    await closeClient(asking.client);
    await custom.stop();

    const off = await startBroker({ mqtt: { responseInformation: '' } });
    const refused = await connackOf(off.url, { protocolVersion: 5, clientId: 'no-info', properties: { requestResponseInformation: true } });
    assert.equal(refused.connack.properties?.responseInformation, undefined);
    await closeClient(refused.client);
    await off.stop();
  });
});

describe('mqtt.validateUtf8Payload', () => {
  test('off (default): a payload marked UTF-8 that is not is routed unchanged', async () => {
    const started = await startBroker();
    const { client: subscriber } = await RawClient.connected(started.port, { clientId: 'utf8-off-sub' }, 5);
    subscriber.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('utf8/off', 1)] });
    await subscriber.expect('suback');
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'utf8-off-pub' }, 5);
    publisher.send({ type: 'publish', topic: 'utf8/off', payload: invalidUtf8, qos: 1, retain: false, dup: false, packetId: 1, properties: { payloadFormatIndicator: 1 } });
    assert.equal((await publisher.expect('puback')).reasonCode, 0);
    const received = await subscriber.expect('publish');
    assert.deepEqual(received.payload, invalidUtf8);
    assert.equal(received.properties?.payloadFormatIndicator, 1);
    subscriber.destroy();
    publisher.destroy();
    await started.stop();
  });

  test('on: QoS 1 gets PUBACK 0x99 and is not routed, QoS 0 gets DISCONNECT 0x99, valid UTF-8 and unmarked payloads pass', async () => {
    const started = await startBroker({ mqtt: { validateUtf8Payload: true } });
    const { client: subscriber } = await RawClient.connected(started.port, { clientId: 'utf8-on-sub' }, 5);
    subscriber.send({ type: 'subscribe', packetId: 1, subscriptions: [sub('utf8/on', 1)] });
    await subscriber.expect('suback');
    const { client: publisher } = await RawClient.connected(started.port, { clientId: 'utf8-on-pub' }, 5);
    const send = (payload: Buffer, packetId: number, payloadFormatIndicator?: number) =>
      publisher.send({ type: 'publish', topic: 'utf8/on', payload, qos: 1, retain: false, dup: false, packetId, properties: payloadFormatIndicator === undefined ? undefined : { payloadFormatIndicator } });
    send(invalidUtf8, 1, 1);
    assert.equal((await publisher.expect('puback')).reasonCode, 0x99);
    send(Buffer.from('gr\u00fc\u00df dich'), 2, 1);
    assert.equal((await publisher.expect('puback')).reasonCode, 0);
    send(invalidUtf8, 3);
    assert.equal((await publisher.expect('puback')).reasonCode, 0);
    const delivered = [await subscriber.expect('publish'), await subscriber.expect('publish')];
    assert.deepEqual(delivered.map((packet) => packet.payload), [Buffer.from('gr\u00fc\u00df dich'), invalidUtf8]);
    for (const packet of delivered) subscriber.send({ type: 'puback', packetId: packet.packetId!, reasonCode: 0 });

    publisher.send({ type: 'publish', topic: 'utf8/on', payload: invalidUtf8, qos: 0, retain: false, dup: false, properties: { payloadFormatIndicator: 1 } });
    assert.equal((await publisher.expect('disconnect')).reasonCode, 0x99);
    await publisher.waitClosed();
    assert.deepEqual((await subscriber.quiet(50)).filter((packet) => packet.type === 'publish'), []);
    subscriber.destroy();
    await started.stop();
  });

  test('on: a will marked UTF-8 that is not is refused with CONNACK 0x99', async () => {
    const started = await startBroker({ mqtt: { validateUtf8Payload: true } });
    const will = { topic: 'utf8/will', payload: invalidUtf8, qos: 0 as const, retain: false, properties: { payloadFormatIndicator: 1 } };
    const { client, connack } = await RawClient.connected(started.port, { clientId: 'utf8-will', will }, 5);
    assert.equal((connack as ConnackPacket).reasonCode, 0x99);
    await client.waitClosed();
    await started.stop();
  });
});

describe('limits.maxKeepAlive', () => {
  test('5.0 gets Server Keep Alive; a 3.1.1 client keeps its own keep-alive (it cannot be told otherwise)', async () => {
    const started = await startBroker({ limits: { maxKeepAlive: 1 } });
    const v5 = await RawClient.connected(started.port, { clientId: 'cap-v5', keepalive: 60 }, 5);
    assert.equal((v5.connack as ConnackPacket).properties?.serverKeepAlive, 1);
    const v4 = await RawClient.connected(started.port, { clientId: 'cap-v4', keepalive: 60 }, 4);
    // Silent for longer than 1.5 x the cap: only the 5.0 client, bound by Server Keep Alive, is closed.
    await delay(1800);
    assert.equal(v5.client.closed, true);
    assert.equal(v4.client.closed, false);
    v4.client.destroy();
    await started.stop();
  });
});
