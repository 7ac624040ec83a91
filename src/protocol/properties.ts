// MQTT 5 properties (§2.2.2): identifiers, data types, which packets may carry them,
// and their decoding/encoding. Contexts are bit masks: bit n = packet type code n,
// bit 0 (type code 0 is reserved) = will properties inside CONNECT.
import type { ByteReader } from './byte-reader.js';
import { MqttProtocolError, malformed, protocolError } from './errors.js';
import type { PacketType, Properties, UserProperty } from './packets.js';
import { ReasonCode } from './reason-codes.js';
import { hasWildcard } from './validate.js';
import { writeVariableInteger } from './byte-writer.js';
import { encodedPropertiesSize, writePropertyValues } from './property-writer.js';

export const PropertyDataType = {
  byte: 1,
  twoByteInteger: 2,
  fourByteInteger: 3,
  variableByteInteger: 4,
  utf8String: 5,
  binary: 6,
  stringPair: 7,
} as const;
type DataType = (typeof PropertyDataType)[keyof typeof PropertyDataType];

/** Context bit for will properties (CONNECT payload). */
export const WILL_CONTEXT = 0;

const CONNECT = 1 << 1;
const CONNACK = 1 << 2;
const PUBLISH = 1 << 3;
const PUBACK = 1 << 4;
const PUBREC = 1 << 5;
const PUBREL = 1 << 6;
const PUBCOMP = 1 << 7;
const SUBSCRIBE = 1 << 8;
const SUBACK = 1 << 9;
const UNSUBSCRIBE = 1 << 10;
const UNSUBACK = 1 << 11;
const DISCONNECT = 1 << 14;
const AUTH = 1 << 15;
const WILL = 1 << WILL_CONTEXT;

export interface PropertyDefinition {
  id: number;
  key: keyof Properties;
  type: DataType;
  /** Bit mask of the contexts (packet type codes, or will) allowed to carry it. */
  contexts: number;
}

/** MQTT 5 §2.2.2.2, table "Properties". */
export const PROPERTY_DEFINITIONS: readonly PropertyDefinition[] = [
  { id: 0x01, key: 'payloadFormatIndicator', type: PropertyDataType.byte, contexts: PUBLISH | WILL },
  { id: 0x02, key: 'messageExpiryInterval', type: PropertyDataType.fourByteInteger, contexts: PUBLISH | WILL },
  { id: 0x03, key: 'contentType', type: PropertyDataType.utf8String, contexts: PUBLISH | WILL },
  { id: 0x08, key: 'responseTopic', type: PropertyDataType.utf8String, contexts: PUBLISH | WILL },
  { id: 0x09, key: 'correlationData', type: PropertyDataType.binary, contexts: PUBLISH | WILL },
  { id: 0x0b, key: 'subscriptionIdentifiers', type: PropertyDataType.variableByteInteger, contexts: PUBLISH | SUBSCRIBE },
  { id: 0x11, key: 'sessionExpiryInterval', type: PropertyDataType.fourByteInteger, contexts: CONNECT | CONNACK | DISCONNECT },
  { id: 0x12, key: 'assignedClientIdentifier', type: PropertyDataType.utf8String, contexts: CONNACK },
  { id: 0x13, key: 'serverKeepAlive', type: PropertyDataType.twoByteInteger, contexts: CONNACK },
  { id: 0x15, key: 'authenticationMethod', type: PropertyDataType.utf8String, contexts: CONNECT | CONNACK | AUTH },
  { id: 0x16, key: 'authenticationData', type: PropertyDataType.binary, contexts: CONNECT | CONNACK | AUTH },
  { id: 0x17, key: 'requestProblemInformation', type: PropertyDataType.byte, contexts: CONNECT },
  { id: 0x18, key: 'willDelayInterval', type: PropertyDataType.fourByteInteger, contexts: WILL },
  { id: 0x19, key: 'requestResponseInformation', type: PropertyDataType.byte, contexts: CONNECT },
  { id: 0x1a, key: 'responseInformation', type: PropertyDataType.utf8String, contexts: CONNACK },
  { id: 0x1c, key: 'serverReference', type: PropertyDataType.utf8String, contexts: CONNACK | DISCONNECT },
  {
    id: 0x1f,
    key: 'reasonString',
    type: PropertyDataType.utf8String,
    contexts: CONNACK | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBACK | UNSUBACK | DISCONNECT | AUTH,
  },
  { id: 0x21, key: 'receiveMaximum', type: PropertyDataType.twoByteInteger, contexts: CONNECT | CONNACK },
  { id: 0x22, key: 'topicAliasMaximum', type: PropertyDataType.twoByteInteger, contexts: CONNECT | CONNACK },
  { id: 0x23, key: 'topicAlias', type: PropertyDataType.twoByteInteger, contexts: PUBLISH },
  { id: 0x24, key: 'maximumQoS', type: PropertyDataType.byte, contexts: CONNACK },
  { id: 0x25, key: 'retainAvailable', type: PropertyDataType.byte, contexts: CONNACK },
  {
    id: 0x26,
    key: 'userProperties',
    type: PropertyDataType.stringPair,
    contexts:
      CONNECT | CONNACK | PUBLISH | WILL | PUBACK | PUBREC | PUBREL | PUBCOMP | SUBSCRIBE | SUBACK | UNSUBSCRIBE | UNSUBACK | DISCONNECT | AUTH,
  },
  { id: 0x27, key: 'maximumPacketSize', type: PropertyDataType.fourByteInteger, contexts: CONNECT | CONNACK },
  { id: 0x28, key: 'wildcardSubscriptionAvailable', type: PropertyDataType.byte, contexts: CONNACK },
  { id: 0x29, key: 'subscriptionIdentifiersAvailable', type: PropertyDataType.byte, contexts: CONNACK },
  { id: 0x2a, key: 'sharedSubscriptionAvailable', type: PropertyDataType.byte, contexts: CONNACK },
];

const BY_ID: (PropertyDefinition | undefined)[] = [];
const BY_KEY = new Map<string, PropertyDefinition>();
for (const definition of PROPERTY_DEFINITIONS) {
  BY_ID[definition.id] = definition;
  BY_KEY.set(definition.key, definition);
}

/** Properties whose value must be 0 or 1 (a Protocol Error otherwise). */
const BOOLEAN_BYTE_IDS = new Set([0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a]);

function contextName(context: number): string {
  return context === WILL_CONTEXT ? 'will properties' : 'properties';
}

// Properties is a record of optional fields of several types; the table above
// guarantees each key is written with the value type of its data type.
type PropertyRecord = Record<string, unknown>;

/**
 * Read a property length and the properties after it. Returns undefined when the
 * property length is 0 (so packets without properties carry no object).
 */
export function readProperties(reader: ByteReader, context: number): Properties | undefined {
  const packetType = reader.packetType;
  const length = reader.variableInteger('property length');
  if (length === 0) return undefined;
  const end = reader.pos + length;
  if (end > reader.end) {
    throw malformed('PACKET_TOO_SHORT', `${packetType}: property length ${length} exceeds the packet`, packetType);
  }
  const outerEnd = reader.end;
  reader.end = end; // values must not run past the property block
  const properties: Properties = {};
  const record = properties as PropertyRecord;
  while (reader.pos < end) {
    const id = reader.variableInteger('property identifier');
    const definition = BY_ID[id];
    if (definition === undefined) {
      throw malformed('UNKNOWN_PROPERTY', `${packetType}: unknown property identifier 0x${id.toString(16)}`, packetType);
    }
    if ((definition.contexts & (1 << context)) === 0) {
      // §2.2.2.2: an identifier not valid for the packet type is a Malformed Packet.
      throw malformed('PROPERTY_NOT_ALLOWED', `${packetType}: property ${definition.key} not allowed in ${contextName(context)}`, packetType);
    }
    const key = definition.key;
    switch (definition.type) {
      case PropertyDataType.byte: {
        const value = reader.byte(key);
        if (BOOLEAN_BYTE_IDS.has(id) && value > 1) {
          throw protocolError('INVALID_PROPERTY_VALUE', `${packetType}: ${key} must be 0 or 1, got ${value}`, packetType);
        }
        setOnce(record, key, value, packetType);
        break;
      }
      case PropertyDataType.twoByteInteger: {
        const value = reader.uint16(key);
        if (value === 0) {
          if (id === 0x23) {
            throw new MqttProtocolError('TOPIC_ALIAS_INVALID', ReasonCode.TopicAliasInvalid, `${packetType}: topic alias 0`, packetType); // [MQTT-3.3.2-8]
          }
          if (id === 0x21) {
            throw protocolError('INVALID_PROPERTY_VALUE', `${packetType}: receive maximum 0`, packetType);
          }
        }
        setOnce(record, key, value, packetType);
        break;
      }
      case PropertyDataType.fourByteInteger: {
        const value = reader.uint32(key);
        if (id === 0x27 && value === 0) {
          throw protocolError('INVALID_PROPERTY_VALUE', `${packetType}: maximum packet size 0`, packetType);
        }
        setOnce(record, key, value, packetType);
        break;
      }
      case PropertyDataType.variableByteInteger: {
        // The only one is the subscription identifier.
        const value = reader.variableInteger(key);
        if (value === 0) {
          throw protocolError('INVALID_PROPERTY_VALUE', `${packetType}: subscription identifier 0`, packetType);
        }
        const list = properties.subscriptionIdentifiers;
        if (list === undefined) properties.subscriptionIdentifiers = [value];
        else if (context === 3) list.push(value); // PUBLISH may carry several
        else throw duplicate(key, packetType);
        break;
      }
      case PropertyDataType.utf8String: {
        const value = reader.string(key);
        if (id === 0x08 && hasWildcard(value)) {
          throw protocolError('WILDCARD_IN_RESPONSE_TOPIC', `${packetType}: response topic contains a wildcard`, packetType); // [MQTT-3.3.2-14]
        }
        setOnce(record, key, value, packetType);
        break;
      }
      case PropertyDataType.binary:
        setOnce(record, key, reader.binary(key), packetType);
        break;
      case PropertyDataType.stringPair: {
        const pair: UserProperty = [reader.string('user property name'), reader.string('user property value')];
        const list = properties.userProperties;
        if (list === undefined) properties.userProperties = [pair];
        else list.push(pair);
        break;
      }
    }
  }
  reader.end = outerEnd;
  return properties;
}

function setOnce(record: PropertyRecord, key: string, value: unknown, packetType: PacketType): void {
  if (record[key] !== undefined) throw duplicate(key, packetType);
  record[key] = value;
}

function duplicate(key: string, packetType: PacketType): MqttProtocolError {
  // §2.2.2.2 / each property: "It is a Protocol Error to include X more than once".
  return protocolError('DUPLICATE_PROPERTY', `${packetType}: property ${key} included more than once`, packetType);
}

/**
 * Size in bytes of the encoded properties, without the property length prefix.
 * Throws if a property is not allowed in the context (an encoding bug in the caller).
 */
export function propertiesSize(properties: Properties | undefined, context: number, packetType: PacketType): number {
  if (properties === undefined) return 0;
  const record = properties as PropertyRecord;
  const contextBit = 1 << context;
  for (const key in record) {
    if (record[key] === undefined) continue;
    const definition = BY_KEY.get(key);
    if (definition === undefined) throw malformed('UNKNOWN_PROPERTY', `cannot encode unknown property ${key}`, packetType);
    if ((definition.contexts & contextBit) === 0) {
      throw malformed('PROPERTY_NOT_ALLOWED', `cannot encode ${key} in ${packetType} ${contextName(context)}`, packetType);
    }
  }
  return encodedPropertiesSize(properties);
}

/** Write the property length then the properties; `size` comes from propertiesSize. Returns the new position. */
export function writeProperties(buf: Buffer, pos: number, properties: Properties | undefined, size: number): number {
  pos = writeVariableInteger(buf, pos, size);
  if (properties === undefined || size === 0) return pos;
  return writePropertyValues(buf, pos, properties);
}
