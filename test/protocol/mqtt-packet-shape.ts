// Mapping between Petrel's packet shape and mqtt-packet's (cmd/messageId/granted/...).
import type { Packet as LegacyPacket } from 'mqtt-packet';
import type { Packet, Properties, ProtocolVersion, UserProperty } from '../../src/protocol/packets.js';
import { withoutUndefined } from './normalise.js';

/** mqtt-packet carries these byte properties as booleans. */
const BOOLEAN_KEYS = new Set([
  'payloadFormatIndicator',
  'requestProblemInformation',
  'requestResponseInformation',
  'retainAvailable',
  'wildcardSubscriptionAvailable',
  'subscriptionIdentifiersAvailable',
  'sharedSubscriptionAvailable',
]);

type Loose = Record<string, unknown>;

export function toLegacyProperties(properties: Properties | undefined, singleSubscriptionIdentifier: boolean): Loose | undefined {
  if (properties === undefined) return undefined;
  const result: Loose = {};
  for (const [key, value] of Object.entries(properties)) {
    if (value === undefined) continue;
    if (BOOLEAN_KEYS.has(key)) result[key] = value === 1;
    else if (key === 'subscriptionIdentifiers') {
      const identifiers = value as number[];
      result.subscriptionIdentifier = singleSubscriptionIdentifier || identifiers.length === 1 ? identifiers[0] : identifiers;
    } else if (key === 'userProperties') {
      const record: Record<string, string | string[]> = Object.create(null) as Record<string, string | string[]>;
      for (const [name, pairValue] of value as UserProperty[]) {
        const existing = record[name];
        if (existing === undefined) record[name] = pairValue;
        else if (Array.isArray(existing)) existing.push(pairValue);
        else record[name] = [existing, pairValue];
      }
      result.userProperties = record;
    } else result[key] = value;
  }
  return result;
}

function fromLegacyProperties(properties: unknown): Properties | undefined {
  if (properties === undefined || properties === null) return undefined;
  const result: Loose = {};
  for (const [key, value] of Object.entries(properties as Loose)) {
    if (BOOLEAN_KEYS.has(key)) result[key] = value === true ? 1 : 0;
    else if (key === 'subscriptionIdentifier') result.subscriptionIdentifiers = Array.isArray(value) ? value : [value];
    else if (key === 'userProperties') {
      const pairs: UserProperty[] = [];
      for (const [name, pairValue] of Object.entries(value as Record<string, string | string[]>)) {
        for (const each of Array.isArray(pairValue) ? pairValue : [pairValue]) pairs.push([name, each]);
      }
      result.userProperties = pairs;
    } else result[key] = value;
  }
  return Object.keys(result).length === 0 ? undefined : (result as Properties);
}

export function toLegacy(packet: Packet, version: ProtocolVersion): LegacyPacket {
  const v5 = version === 5;
  const properties = v5 ? toLegacyProperties(packet.type === 'connect' || packet.type === 'publish' || packet.type === 'subscribe' ? packet.properties : 'properties' in packet ? packet.properties : undefined, packet.type === 'subscribe') : undefined;
  const base: Loose = { cmd: packet.type };
  if (properties !== undefined) base.properties = properties;
  switch (packet.type) {
    case 'connect':
      Object.assign(base, {
        protocolId: packet.protocolName,
        protocolVersion: packet.protocolVersion,
        clean: packet.clean,
        keepalive: packet.keepalive,
        clientId: packet.clientId,
      });
      if (packet.username !== undefined) base.username = packet.username;
      if (packet.password !== undefined) base.password = packet.password;
      if (packet.will !== undefined) {
        const will: Loose = { topic: packet.will.topic, payload: packet.will.payload, qos: packet.will.qos, retain: packet.will.retain };
        const willProperties = v5 ? toLegacyProperties(packet.will.properties, false) : undefined;
        if (willProperties !== undefined) will.properties = willProperties;
        base.will = will;
      }
      break;
    case 'connack':
      base.sessionPresent = packet.sessionPresent;
      if (v5) base.reasonCode = packet.reasonCode;
      else base.returnCode = packet.reasonCode;
      break;
    case 'publish':
      Object.assign(base, { topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: packet.dup });
      if (packet.packetId !== undefined) base.messageId = packet.packetId;
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      base.messageId = packet.packetId;
      base.reasonCode = packet.reasonCode;
      break;
    case 'subscribe':
      base.messageId = packet.packetId;
      base.subscriptions = packet.subscriptions.map((subscription) =>
        v5
          ? { topic: subscription.topicFilter, qos: subscription.qos, nl: subscription.noLocal, rap: subscription.retainAsPublished, rh: subscription.retainHandling }
          : { topic: subscription.topicFilter, qos: subscription.qos },
      );
      break;
    case 'suback':
      base.messageId = packet.packetId;
      base.granted = packet.reasonCodes;
      break;
    case 'unsubscribe':
      base.messageId = packet.packetId;
      base.unsubscriptions = packet.topicFilters;
      break;
    case 'unsuback':
      base.messageId = packet.packetId;
      if (v5) base.granted = packet.reasonCodes;
      break;
    case 'disconnect':
    case 'auth':
      if (v5) base.reasonCode = packet.reasonCode;
      break;
    default:
      break;
  }
  return base as unknown as LegacyPacket;
}

/** Convert a packet decoded by mqtt-packet into Petrel's shape (without undefined keys). */
export function fromLegacy(legacy: LegacyPacket, version: ProtocolVersion): Packet {
  const source = legacy as unknown as Loose;
  const v5 = version === 5;
  const properties = v5 ? fromLegacyProperties(source.properties) : undefined;
  const messageId = source.messageId as number;
  let packet: Loose;
  switch (legacy.cmd) {
    case 'connect': {
      const will = source.will as Loose | undefined;
      packet = {
        type: 'connect',
        protocolName: source.protocolId,
        protocolVersion: source.protocolVersion,
        clean: source.clean,
        keepalive: source.keepalive,
        clientId: source.clientId,
        username: source.username,
        password: source.password,
        will:
          will === undefined
            ? undefined
            : { topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, properties: v5 ? fromLegacyProperties(will.properties) : undefined },
        properties,
      };
      break;
    }
    case 'connack':
      packet = { type: 'connack', sessionPresent: source.sessionPresent, reasonCode: v5 ? source.reasonCode : source.returnCode, properties };
      break;
    case 'publish':
      packet = {
        type: 'publish',
        topic: source.topic,
        payload: source.payload,
        qos: source.qos,
        retain: source.retain,
        dup: source.dup,
        packetId: (source.qos as number) > 0 ? messageId : undefined,
        properties,
      };
      break;
    case 'puback':
    case 'pubrec':
    case 'pubrel':
    case 'pubcomp':
      packet = { type: legacy.cmd, packetId: messageId, reasonCode: source.reasonCode ?? 0, properties };
      break;
    case 'subscribe':
      packet = {
        type: 'subscribe',
        packetId: messageId,
        subscriptions: (source.subscriptions as Loose[]).map((subscription) => ({
          topicFilter: subscription.topic,
          qos: subscription.qos,
          noLocal: v5 ? subscription.nl === true : false,
          retainAsPublished: v5 ? subscription.rap === true : false,
          retainHandling: v5 ? (subscription.rh ?? 0) : 0,
        })),
        properties,
      };
      break;
    case 'suback':
      packet = { type: 'suback', packetId: messageId, reasonCodes: source.granted, properties };
      break;
    case 'unsubscribe':
      packet = { type: 'unsubscribe', packetId: messageId, topicFilters: source.unsubscriptions, properties };
      break;
    case 'unsuback':
      packet = { type: 'unsuback', packetId: messageId, reasonCodes: v5 ? source.granted : [], properties };
      break;
    case 'disconnect':
    case 'auth':
      packet = { type: legacy.cmd, reasonCode: v5 ? (source.reasonCode ?? 0) : 0, properties };
      break;
    default:
      packet = { type: legacy.cmd };
  }
  return canonical(packet as unknown as Packet);
}

/** Sort user properties by name (stable): mqtt-packet groups them by name in an object. */
function canonicalProperties(properties: Properties | undefined): Properties | undefined {
  if (properties?.userProperties === undefined) return properties;
  const pairs = properties.userProperties.map((pair, index) => ({ pair, index }));
  pairs.sort((a, b) => (a.pair[0] < b.pair[0] ? -1 : a.pair[0] > b.pair[0] ? 1 : a.index - b.index));
  return { ...properties, userProperties: pairs.map((entry) => entry.pair) };
}

/** A packet in comparable form: no undefined keys, user properties in canonical order. */
export function canonical(packet: Packet): Packet {
  const copy = { ...packet } as Loose;
  if (copy.properties !== undefined) copy.properties = canonicalProperties(copy.properties as Properties);
  if (packet.type === 'connect' && packet.will !== undefined) {
    copy.will = { ...packet.will, properties: canonicalProperties(packet.will.properties) };
  }
  return withoutUndefined(copy) as Packet;
}
