// Every message that reaches Broker.publish has one object shape (the same properties in the same
// order), whether a client published it, it is a will, or it is a $SYS value. V8 optimises the
// publish path for the shapes it has seen; a new one arriving later (the first $SYS update after
// start-up) threw that code away and stalled deliveries for ~10 ms on a broker pinned to a core.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Broker } from '../../src/broker/broker.js';
import { defaultConfig } from '../../src/config/schema.js';
import type { StoredMessage } from '../../src/store/store.js';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import { RawClient } from '../helpers/raw-client.js';
import { closeClient, connectClient, delay } from '../helpers/mqtt-client.js';

describe('messages reaching Broker.publish', () => {
  const shapes = new Map<string, string[]>();
  const original = Broker.prototype.publish;
  let broker: Broker;
  let port = 0;

  before(async () => {
    Broker.prototype.publish = function (this: Broker, stored: StoredMessage, publisher: ClientInfo | undefined): number {
      const origin = stored.topic.startsWith('$SYS/') ? '$SYS' : stored.topic;
      if (!shapes.has(origin)) shapes.set(origin, Object.keys(stored));
      return original.call(this, stored, publisher);
    };
    broker = new Broker(
      defaultConfig({
        listeners: [{ type: 'tcp', host: '127.0.0.1', port: 0 }],
        storage: { mode: 'memory' },
        http: { enabled: false },
        mqtt: { sysInterval: 1 },
        log: { level: 'silent' },
      }),
    );
    await broker.start();
    port = broker.addresses[0]!.port;
  });

  after(async () => {
    Broker.prototype.publish = original;
    await broker.stop();
  });

  test('a client PUBLISH, a will and $SYS values have the same properties in the same order', async () => {
    const publisher = await connectClient(`mqtt://127.0.0.1:${port}`, { clientId: 'shape-pub' });
    await publisher.publishAsync('shape/client', 'x', { qos: 1 });
    const willing = await RawClient.connected(port, { clientId: 'shape-will', will: { topic: 'shape/will', payload: Buffer.from('w'), qos: 0, retain: false } }, 4);
    willing.client.destroy(); // no DISCONNECT: the will is published
    for (let waited = 0; waited < 3000 && !shapes.has('shape/will'); waited += 50) await delay(50);
    await closeClient(publisher);

    assert.deepEqual([...shapes.keys()].sort(), ['$SYS', 'shape/client', 'shape/will']);
    const client = shapes.get('shape/client');
    assert.deepEqual(shapes.get('$SYS'), client, '$SYS value');
    assert.deepEqual(shapes.get('shape/will'), client, 'will');
  });
});
