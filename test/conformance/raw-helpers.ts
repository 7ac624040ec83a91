// Packet builders and waits shared by the conformance tests (raw-socket style).

import { RawClient } from '../helpers/raw-client.js';
import type { Packet, ProtocolVersion, Properties, PublishPacket, QoS, Subscription } from '../../src/protocol/packets.js';

export const sub = (topicFilter: string, qos: QoS, options: Partial<Subscription> = {}): Subscription => ({
  topicFilter,
  qos,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  ...options,
});

export function publish(topic: string, payload: string, qos: QoS, extra: Partial<PublishPacket> = {}): PublishPacket {
  return { type: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false, ...(qos > 0 ? { packetId: 1 } : {}), ...extra };
}

/** Connects a raw client and subscribes it; resolves after SUBACK. */
export async function subscriber(port: number, clientId: string, subscriptions: Subscription[], version: ProtocolVersion = 4, connect: { clean?: boolean; properties?: Properties } = {}): Promise<RawClient> {
  const { client } = await RawClient.connected(port, { clientId, ...connect }, version);
  client.send({ type: 'subscribe', packetId: 1, subscriptions });
  await client.expect('suback');
  return client;
}

/** Publishes with the full QoS handshake from a raw client. */
export async function publishAndAck(client: RawClient, packet: PublishPacket): Promise<void> {
  client.send(packet);
  if (packet.qos === 1) await client.expect('puback');
  if (packet.qos === 2) {
    const pubrec = await client.expect('pubrec');
    client.send({ type: 'pubrel', packetId: pubrec.packetId, reasonCode: 0 });
    await client.expect('pubcomp');
  }
}

/** Collects `count` PUBLISH packets, answering QoS 1 with PUBACK and QoS 2 with PUBREC/PUBCOMP. */
export async function receive(client: RawClient, count: number, timeoutMs = 5000): Promise<PublishPacket[]> {
  const received: PublishPacket[] = [];
  while (received.length < count) {
    const packet = await client.expect('publish', timeoutMs);
    received.push(packet);
    if (packet.qos === 1) client.send({ type: 'puback', packetId: packet.packetId!, reasonCode: 0 });
    if (packet.qos === 2) {
      client.send({ type: 'pubrec', packetId: packet.packetId!, reasonCode: 0 });
      const pubrel = await client.expect('pubrel', timeoutMs);
      client.send({ type: 'pubcomp', packetId: pubrel.packetId, reasonCode: 0 });
    }
  }
  return received;
}

/** Packets that arrived within `ms` (for "nothing is sent" checks). */
export async function silence(client: RawClient, ms = 150): Promise<Packet[]> {
  return client.quiet(ms);
}

export const waitFor = async (condition: () => boolean, timeoutMs = 5000): Promise<void> => {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
};
