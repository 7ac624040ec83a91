// fast-check generators of valid Petrel packets, per protocol version.
import fc from 'fast-check';
import type {
  Packet,
  Properties,
  ProtocolVersion,
  QoS,
  Subscription,
  UserProperty,
  WillMessage,
} from '../../src/protocol/packets.js';

/** Strings a UTF-8 field may carry: any code point but U+0000 (lone surrogates are excluded by 'binary'). */
export const utf8String = (maxLength = 12): fc.Arbitrary<string> =>
  fc.string({ unit: 'binary', maxLength }).filter((value) => !value.includes('\u0000'));

export const topicName: fc.Arbitrary<string> = fc
  .string({ unit: 'binary', minLength: 1, maxLength: 16 })
  .filter((value) => !value.includes('+') && !value.includes('#') && !value.includes('\u0000'));

export const topicFilter: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom('a/#', '+/b', '#', '+', 'sport/+/player1', '$share/group/a/b'),
  utf8String(16).filter((value) => value.length > 0),
);

const qos = fc.constantFrom<QoS>(0, 1, 2);
const packetId = fc.integer({ min: 1, max: 65_535 });
const binary = (maxLength = 16): fc.Arbitrary<Buffer> => fc.uint8Array({ maxLength }).map((bytes) => Buffer.from(bytes));
const uint16 = fc.integer({ min: 0, max: 65_535 });
const uint32 = fc.integer({ min: 0, max: 0xffff_ffff });
const flag = fc.constantFrom(0, 1);

/** Keys that a JS object cannot hold as an own data property survive poorly in mqtt-packet's shape. */
const userPropertyName = utf8String(6).filter((value) => value !== '__proto__');
const userProperties: fc.Arbitrary<UserProperty[]> = fc.array(fc.tuple(userPropertyName, utf8String(6)), { minLength: 1, maxLength: 3 });

type Context = 'connect' | 'connack' | 'publish' | 'will' | 'ack' | 'subscribe' | 'suback' | 'unsubscribe' | 'unsuback' | 'disconnect' | 'auth';

/** One arbitrary per property allowed in the context (MQTT 5 §2.2.2.2). */
function propertyArbitraries(context: Context): Partial<Record<keyof Properties, fc.Arbitrary<unknown>>> {
  const reasonString = { reasonString: utf8String(), userProperties };
  switch (context) {
    case 'publish':
    case 'will':
      return {
        payloadFormatIndicator: flag,
        messageExpiryInterval: uint32,
        contentType: utf8String(),
        responseTopic: topicName,
        correlationData: binary(),
        userProperties,
        ...(context === 'publish'
          ? { subscriptionIdentifiers: fc.array(fc.integer({ min: 1, max: 268_435_455 }), { minLength: 1, maxLength: 3 }), topicAlias: fc.integer({ min: 1, max: 65_535 }) }
          : { willDelayInterval: uint32 }),
      };
    case 'connect':
      return {
        sessionExpiryInterval: uint32,
        receiveMaximum: fc.integer({ min: 1, max: 65_535 }),
        maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
        topicAliasMaximum: uint16,
        requestResponseInformation: flag,
        requestProblemInformation: flag,
        userProperties,
        authenticationMethod: utf8String(),
      };
    case 'connack':
      return {
        sessionExpiryInterval: uint32,
        receiveMaximum: fc.integer({ min: 1, max: 65_535 }),
        maximumQoS: flag,
        retainAvailable: flag,
        maximumPacketSize: fc.integer({ min: 1, max: 0xffff_ffff }),
        assignedClientIdentifier: utf8String(),
        topicAliasMaximum: uint16,
        reasonString: utf8String(),
        userProperties,
        wildcardSubscriptionAvailable: flag,
        subscriptionIdentifiersAvailable: flag,
        sharedSubscriptionAvailable: flag,
        serverKeepAlive: uint16,
        responseInformation: utf8String(),
        serverReference: utf8String(),
        authenticationMethod: utf8String(),
        authenticationData: binary(),
      };
    case 'subscribe':
      return { subscriptionIdentifiers: fc.integer({ min: 1, max: 268_435_455 }).map((value) => [value]), userProperties };
    case 'unsubscribe':
      return { userProperties };
    case 'disconnect':
      return { sessionExpiryInterval: uint32, serverReference: utf8String(), ...reasonString };
    case 'auth':
      return { authenticationMethod: utf8String(), authenticationData: binary(), ...reasonString };
    default:
      return reasonString;
  }
}

/** Random MQTT 5 properties for a context, or undefined (no properties). */
export function properties(context: Context): fc.Arbitrary<Properties | undefined> {
  const record = propertyArbitraries(context) as Record<string, fc.Arbitrary<unknown>>;
  return fc.option(fc.record(record, { requiredKeys: [] }) as fc.Arbitrary<Properties>, { nil: undefined }).map((value) =>
    value === undefined || Object.keys(value).length === 0 ? undefined : value,
  );
}

function optionalProperties(version: ProtocolVersion, context: Context): fc.Arbitrary<Properties | undefined> {
  return version === 5 ? properties(context) : fc.constant(undefined);
}

const PUBACK_CODES = [0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99];
const PUBREL_CODES = [0x00, 0x92];
const SUBACK_CODES_V5 = [0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8f, 0x91, 0x97, 0x9e, 0xa1, 0xa2];
const UNSUBACK_CODES = [0x00, 0x11, 0x80, 0x83, 0x87, 0x8f, 0x91];
const CONNACK_CODES_V5 = [0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8a, 0x8c, 0x90, 0x95, 0x97, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9f];
const DISCONNECT_CODES = [
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x87, 0x89, 0x8b, 0x8d, 0x8e, 0x8f, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e,
  0x9f, 0xa0, 0xa1, 0xa2,
];

function will(version: ProtocolVersion): fc.Arbitrary<WillMessage> {
  return fc
    .record({ topic: topicName, payload: binary(), qos, retain: fc.boolean(), properties: optionalProperties(version, 'will') })
    .map(({ properties: willProperties, ...rest }) => (willProperties === undefined ? rest : { ...rest, properties: willProperties }));
}

function subscription(version: ProtocolVersion): fc.Arbitrary<Subscription> {
  if (version !== 5) {
    return fc.record({ topicFilter, qos }).map(({ topicFilter: filter, qos: level }) => ({
      topicFilter: filter,
      qos: level,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0 as const,
    }));
  }
  return fc
    .record({
      topicFilter,
      qos,
      noLocal: fc.boolean(),
      retainAsPublished: fc.boolean(),
      retainHandling: fc.constantFrom<0 | 1 | 2>(0, 1, 2),
    })
    .map((value) => (value.topicFilter.startsWith('$share/') ? { ...value, noLocal: false } : value)); // [MQTT-3.8.3-4]
}

/** Drop keys whose value is undefined, so generated packets compare equal to decoded ones. */
function asPacket(value: { type: Packet['type'] } & Record<string, unknown>): Packet {
  return Object.fromEntries(Object.entries(value).filter(([, entry]) => entry !== undefined)) as unknown as Packet;
}

export function packet(version: ProtocolVersion): fc.Arbitrary<Packet> {
  const v5 = version === 5;
  const arbitraries: fc.Arbitrary<Packet>[] = [
    fc
      .record({
        clean: fc.boolean(),
        keepalive: uint16,
        clientId: version === 3 ? utf8String(23).filter((value) => value.length > 0) : utf8String(23),
        username: fc.option(utf8String(), { nil: undefined }),
        password: fc.option(binary(), { nil: undefined }),
        will: fc.option(will(version), { nil: undefined }),
        properties: optionalProperties(version, 'connect'),
      })
      .map((value) => {
        // [MQTT-3.1.2-22] a password needs a user name before MQTT 5.
        const password = v5 || value.username !== undefined ? value.password : undefined;
        return asPacket({ type: 'connect' as const, protocolName: version === 3 ? 'MQIsdp' : 'MQTT', protocolVersion: version, ...value, password });
      }),
    fc
      .record({
        sessionPresent: fc.boolean(),
        reasonCode: v5 ? fc.constantFrom(...CONNACK_CODES_V5) : fc.integer({ min: 0, max: 5 }),
        properties: optionalProperties(version, 'connack'),
      })
      .map((value) => asPacket({ type: 'connack' as const, ...value, sessionPresent: value.sessionPresent && value.reasonCode === 0 && version !== 3 })),
    fc
      .record({ topic: topicName, payload: binary(64), qos, retain: fc.boolean(), dup: fc.boolean(), packetId, properties: optionalProperties(version, 'publish') })
      .map((value) => ({
        type: 'publish' as const,
        ...value,
        dup: value.qos > 0 && value.dup, // [MQTT-3.3.1-2]
        packetId: value.qos > 0 ? value.packetId : undefined,
      }) as Packet),
    ...(['puback', 'pubrec', 'pubrel', 'pubcomp'] as const).map((type) =>
      fc
        .record({
          packetId,
          reasonCode: v5 ? fc.constantFrom(...(type === 'puback' || type === 'pubrec' ? PUBACK_CODES : PUBREL_CODES)) : fc.constant(0),
          properties: optionalProperties(version, 'ack'),
        })
        .map((value) => asPacket({ type, ...value }) as Packet),
    ),
    fc
      .record({ packetId, subscriptions: fc.array(subscription(version), { minLength: 1, maxLength: 4 }), properties: optionalProperties(version, 'subscribe') })
      .map((value) => asPacket({ type: 'subscribe' as const, ...value })),
    fc
      .record({
        packetId,
        reasonCodes: fc.array(v5 ? fc.constantFrom(...SUBACK_CODES_V5) : fc.constantFrom(0, 1, 2, 0x80), { minLength: 1, maxLength: 4 }),
        properties: optionalProperties(version, 'suback'),
      })
      .map((value) => asPacket({ type: 'suback' as const, ...value })),
    fc
      .record({ packetId, topicFilters: fc.array(topicFilter, { minLength: 1, maxLength: 4 }), properties: optionalProperties(version, 'unsubscribe') })
      .map((value) => asPacket({ type: 'unsubscribe' as const, ...value })),
    fc
      .record({
        packetId,
        reasonCodes: v5 ? fc.array(fc.constantFrom(...UNSUBACK_CODES), { minLength: 1, maxLength: 4 }) : fc.constant([]),
        properties: optionalProperties(version, 'unsuback'),
      })
      .map((value) => asPacket({ type: 'unsuback' as const, ...value })),
    fc.constant<Packet>({ type: 'pingreq' }),
    fc.constant<Packet>({ type: 'pingresp' }),
    fc
      .record({ reasonCode: v5 ? fc.constantFrom(...DISCONNECT_CODES) : fc.constant(0), properties: optionalProperties(version, 'disconnect') })
      .map((value) => asPacket({ type: 'disconnect' as const, ...value })),
  ];
  if (v5) {
    arbitraries.push(
      fc
        .record({ reasonCode: fc.constantFrom(0x00, 0x18, 0x19), properties: optionalProperties(version, 'auth') })
        .map((value) => asPacket({ type: 'auth' as const, ...value })),
    );
  }
  return fc.oneof(...arbitraries);
}

export const protocolVersion = fc.constantFrom<ProtocolVersion>(3, 4, 5);
