// Straight-line property encoding (one named field access per property) in identifier order.
// Kept in step with PROPERTY_DEFINITIONS in properties.ts; the allow-list is checked there.
import { stringSize, variableIntegerSize, writeBinary, writeString, writeVariableInteger } from './byte-writer.js';
import type { Properties } from './packets.js';

/** Encoded size of the properties without the property length prefix. */
export function encodedPropertiesSize(p: Properties): number {
  let size = 0;
  if (p.payloadFormatIndicator !== undefined) size += 2;
  if (p.messageExpiryInterval !== undefined) size += 5;
  if (p.contentType !== undefined) size += 1 + stringSize(p.contentType);
  if (p.responseTopic !== undefined) size += 1 + stringSize(p.responseTopic);
  if (p.correlationData !== undefined) size += 3 + p.correlationData.length;
  if (p.subscriptionIdentifiers !== undefined) for (const identifier of p.subscriptionIdentifiers) size += 1 + variableIntegerSize(identifier);
  if (p.sessionExpiryInterval !== undefined) size += 5;
  if (p.assignedClientIdentifier !== undefined) size += 1 + stringSize(p.assignedClientIdentifier);
  if (p.serverKeepAlive !== undefined) size += 3;
  if (p.authenticationMethod !== undefined) size += 1 + stringSize(p.authenticationMethod);
  if (p.authenticationData !== undefined) size += 3 + p.authenticationData.length;
  if (p.requestProblemInformation !== undefined) size += 2;
  if (p.willDelayInterval !== undefined) size += 5;
  if (p.requestResponseInformation !== undefined) size += 2;
  if (p.responseInformation !== undefined) size += 1 + stringSize(p.responseInformation);
  if (p.serverReference !== undefined) size += 1 + stringSize(p.serverReference);
  if (p.reasonString !== undefined) size += 1 + stringSize(p.reasonString);
  if (p.receiveMaximum !== undefined) size += 3;
  if (p.topicAliasMaximum !== undefined) size += 3;
  if (p.topicAlias !== undefined) size += 3;
  if (p.maximumQoS !== undefined) size += 2;
  if (p.retainAvailable !== undefined) size += 2;
  if (p.userProperties !== undefined) for (const [name, value] of p.userProperties) size += 1 + stringSize(name) + stringSize(value);
  if (p.maximumPacketSize !== undefined) size += 5;
  if (p.wildcardSubscriptionAvailable !== undefined) size += 2;
  if (p.subscriptionIdentifiersAvailable !== undefined) size += 2;
  if (p.sharedSubscriptionAvailable !== undefined) size += 2;
  return size;
}

/** Write the properties (without the length prefix) at pos; returns the next position. */
export function writePropertyValues(buf: Buffer, pos: number, p: Properties): number {
  if (p.payloadFormatIndicator !== undefined) {
    buf[pos++] = 0x01;
    buf[pos++] = p.payloadFormatIndicator;
  }
  if (p.messageExpiryInterval !== undefined) {
    buf[pos++] = 0x02;
    pos = buf.writeUInt32BE(p.messageExpiryInterval, pos);
  }
  if (p.contentType !== undefined) {
    buf[pos++] = 0x03;
    pos = writeString(buf, pos, p.contentType);
  }
  if (p.responseTopic !== undefined) {
    buf[pos++] = 0x08;
    pos = writeString(buf, pos, p.responseTopic);
  }
  if (p.correlationData !== undefined) {
    buf[pos++] = 0x09;
    pos = writeBinary(buf, pos, p.correlationData);
  }
  if (p.subscriptionIdentifiers !== undefined) {
    for (const identifier of p.subscriptionIdentifiers) {
      buf[pos++] = 0x0b;
      pos = writeVariableInteger(buf, pos, identifier);
    }
  }
  if (p.sessionExpiryInterval !== undefined) {
    buf[pos++] = 0x11;
    pos = buf.writeUInt32BE(p.sessionExpiryInterval, pos);
  }
  if (p.assignedClientIdentifier !== undefined) {
    buf[pos++] = 0x12;
    pos = writeString(buf, pos, p.assignedClientIdentifier);
  }
  if (p.serverKeepAlive !== undefined) {
    buf[pos++] = 0x13;
    pos = buf.writeUInt16BE(p.serverKeepAlive, pos);
  }
  if (p.authenticationMethod !== undefined) {
    buf[pos++] = 0x15;
    pos = writeString(buf, pos, p.authenticationMethod);
  }
  if (p.authenticationData !== undefined) {
    buf[pos++] = 0x16;
    pos = writeBinary(buf, pos, p.authenticationData);
  }
  if (p.requestProblemInformation !== undefined) {
    buf[pos++] = 0x17;
    buf[pos++] = p.requestProblemInformation;
  }
  if (p.willDelayInterval !== undefined) {
    buf[pos++] = 0x18;
    pos = buf.writeUInt32BE(p.willDelayInterval, pos);
  }
  if (p.requestResponseInformation !== undefined) {
    buf[pos++] = 0x19;
    buf[pos++] = p.requestResponseInformation;
  }
  if (p.responseInformation !== undefined) {
    buf[pos++] = 0x1a;
    pos = writeString(buf, pos, p.responseInformation);
  }
  if (p.serverReference !== undefined) {
    buf[pos++] = 0x1c;
    pos = writeString(buf, pos, p.serverReference);
  }
  if (p.reasonString !== undefined) {
    buf[pos++] = 0x1f;
    pos = writeString(buf, pos, p.reasonString);
  }
  if (p.receiveMaximum !== undefined) {
    buf[pos++] = 0x21;
    pos = buf.writeUInt16BE(p.receiveMaximum, pos);
  }
  if (p.topicAliasMaximum !== undefined) {
    buf[pos++] = 0x22;
    pos = buf.writeUInt16BE(p.topicAliasMaximum, pos);
  }
  if (p.topicAlias !== undefined) {
    buf[pos++] = 0x23;
    pos = buf.writeUInt16BE(p.topicAlias, pos);
  }
  if (p.maximumQoS !== undefined) {
    buf[pos++] = 0x24;
    buf[pos++] = p.maximumQoS;
  }
  if (p.retainAvailable !== undefined) {
    buf[pos++] = 0x25;
    buf[pos++] = p.retainAvailable;
  }
  if (p.userProperties !== undefined) {
    for (const [name, value] of p.userProperties) {
      buf[pos++] = 0x26;
      pos = writeString(buf, pos, name);
      pos = writeString(buf, pos, value);
    }
  }
  if (p.maximumPacketSize !== undefined) {
    buf[pos++] = 0x27;
    pos = buf.writeUInt32BE(p.maximumPacketSize, pos);
  }
  if (p.wildcardSubscriptionAvailable !== undefined) {
    buf[pos++] = 0x28;
    buf[pos++] = p.wildcardSubscriptionAvailable;
  }
  if (p.subscriptionIdentifiersAvailable !== undefined) {
    buf[pos++] = 0x29;
    buf[pos++] = p.subscriptionIdentifiersAvailable;
  }
  if (p.sharedSubscriptionAvailable !== undefined) {
    buf[pos++] = 0x2a;
    buf[pos++] = p.sharedSubscriptionAvailable;
  }
  return pos;
}
