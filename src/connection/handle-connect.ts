// CONNECT: validation, authentication (hook chain or 5.0 enhanced auth), takeover,
// session selection (clean start / session present) and CONNACK.

import { isUtf8 } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import type { AuthenticateResult } from '../hooks/hooks.js';
import type { ConnectPacket, Properties, PublishPacket } from '../protocol/packets.js';
import { MAX_PACKET_SIZE } from '../protocol/decoder.js';
import { connackReturnCodeFor311, ReasonCode } from '../protocol/reason-codes.js';
import { NEVER_EXPIRES } from '../session/session.js';
import { isValidTopicName } from '../topics/topic-validation.js';
import { isPromise } from '../broker/hook-runner.js';
import type { Connection } from './connection.js';
import { runAuthStep } from './handle-auth.js';
import { OutboundAliases } from './topic-aliases.js';

export function handleConnect(connection: Connection, packet: ConnectPacket): void | Promise<void> {
  const broker = connection.broker;
  const { limits, mqtt } = broker.config;
  const version = packet.protocolVersion;
  connection.protocolVersion = version;
  connection.client.protocolVersion = version;
  connection.decoder.protocolVersion = version;
  connection.state = 'authenticating';

  if (broker.stopping) return refuseConnect(connection, ReasonCode.ServerUnavailable);

  let clientId = packet.clientId;
  let assignedClientId: string | undefined;
  if (clientId.length === 0) {
    // [MQTT-3.1.3-8] 3.1.1: an empty client id needs clean session; 3.1 does not allow it at all
    if (version === 3 || (version === 4 && !packet.clean)) return refuseConnect(connection, ReasonCode.ClientIdentifierNotValid);
    // [MQTT-3.1.3-6] assign a unique id; 5.0 tells it in CONNACK [MQTT-3.2.2-16]
    clientId = `petrel-${randomBytes(9).toString('base64url')}`;
    if (version === 5) assignedClientId = clientId;
  }
  connection.client.clientId = clientId; // named from here on, in log lines too (refusals included)
  if (clientId.length > limits.maxClientIdLength) return refuseConnect(connection, ReasonCode.ClientIdentifierNotValid); // [MQTT-3.1.3-5]

  if (version === 5 && mqtt.serverReference !== undefined) {
    // Redirect: 0x9D Server moved (permanent) or 0x9C Use another server (temporary)
    return refuseConnect(connection, mqtt.serverMoved ? ReasonCode.ServerMoved : ReasonCode.UseAnotherServer, { serverReference: mqtt.serverReference });
  }

  const will = packet.will;
  if (will !== undefined) {
    if (!isValidTopicName(will.topic, { maxLength: limits.maxTopicLength, maxLevels: limits.maxTopicLevels })) {
      return refuseConnect(connection, ReasonCode.TopicNameInvalid);
    }
    if (will.qos > mqtt.maximumQoS) return refuseConnect(connection, ReasonCode.QoSNotSupported); // [MQTT-3.2.2-12]
    if (will.retain && !mqtt.retainAvailable) return refuseConnect(connection, ReasonCode.RetainNotSupported); // [MQTT-3.2.2-13]
    // §3.1.3.2.3: the server MAY check a will payload marked UTF-8 (CONNACK 0x99)
    if (mqtt.validateUtf8Payload && will.properties?.payloadFormatIndicator === 1 && !isUtf8(will.payload)) {
      return refuseConnect(connection, ReasonCode.PayloadFormatInvalid);
    }
  }

  connection.client.clientId = clientId;
  connection.client.username = packet.username;

  const method = packet.properties?.authenticationMethod;
  if (method !== undefined) {
    const provider = broker.enhancedAuth.get(method);
    if (provider === undefined) return refuseConnect(connection, ReasonCode.BadAuthenticationMethod); // [MQTT-4.12.0-1]
    connection.auth = { method, exchange: provider.begin(connection.client, packet) };
    connection.pendingConnect = { packet, assignedClientId };
    return runAuthStep(connection, packet.properties?.authenticationData);
  }

  const decided = broker.hooks.authenticate({ client: connection.client, connect: packet });
  if (isPromise<AuthenticateResult>(decided)) {
    return decided.then((result) => afterAuthenticate(connection, packet, assignedClientId, result));
  }
  return afterAuthenticate(connection, packet, assignedClientId, decided);
}

function afterAuthenticate(connection: Connection, packet: ConnectPacket, assignedClientId: string | undefined, result: AuthenticateResult): void | Promise<void> {
  if (connection.state === 'closed') return;
  if (result?.result === 'deny') {
    return refuseConnect(connection, result.reasonCode, result.reasonString === undefined ? undefined : { reasonString: result.reasonString });
  }
  if (result?.result === 'allow') {
    applyIdentity(connection, result);
  } else if (!connection.broker.allowAnonymous(connection.client.listener)) {
    // Nobody vouched for the client and anonymous access is off.
    return refuseConnect(connection, packet.username === undefined ? ReasonCode.NotAuthorized : ReasonCode.BadUserNameOrPassword);
  }
  return authorizeWillThenAccept(connection, packet, assignedClientId, undefined);
}

/**
 * The will is published later on the client's behalf, so the publish authorizers judge it now,
 * once the client is authenticated (5.0: CONNACK 0x87; 3.1.1: return code 5).
 */
export function authorizeWillThenAccept(connection: Connection, packet: ConnectPacket, assignedClientId: string | undefined, authenticationData: Buffer | undefined): void | Promise<void> {
  const will = packet.will;
  if (will === undefined) return acceptConnect(connection, packet, assignedClientId, authenticationData);
  const willPacket: PublishPacket = { type: 'publish', topic: will.topic, payload: will.payload, qos: will.qos, retain: will.retain, dup: false, properties: will.properties };
  const decide = (allowed: boolean): void | Promise<void> => {
    if (connection.state === 'closed') return;
    if (allowed) return acceptConnect(connection, packet, assignedClientId, authenticationData);
    refuseConnect(connection, ReasonCode.NotAuthorized, { reasonString: 'not authorized to publish the will message' });
  };
  const allowed = connection.broker.hooks.authorizePublish(connection.client, willPacket);
  if (isPromise<boolean>(allowed)) return allowed.then(decide);
  return decide(allowed);
}

/** Copies what an authenticator decided (user name, attributes, expiry) into the client. */
export function applyIdentity(connection: Connection, result: { username?: string; attributes?: Record<string, unknown>; expiresAt?: number }): void {
  if (result.username !== undefined) connection.client.username = result.username;
  // A new object: a client starts with a frozen empty one shared by every client.
  if (result.attributes !== undefined) connection.client.attributes = { ...connection.client.attributes, ...result.attributes };
  if (result.expiresAt !== undefined) connection.setExpiry(result.expiresAt);
}

/** CONNACK with a failure code, then close [MQTT-3.2.2-6] (3.1.1: mapped return code, session present 0 [MQTT-3.2.2-4]). */
export function refuseConnect(connection: Connection, reasonCode: number, properties?: Properties): void {
  connection.log('debug', 'connection refused', reasonCode, { protocolVersion: connection.protocolVersion });
  if (connection.protocolVersion === 5) {
    connection.send({ type: 'connack', sessionPresent: false, reasonCode, properties });
  } else {
    connection.send({ type: 'connack', sessionPresent: false, reasonCode: connackReturnCodeFor311(reasonCode) });
  }
  connection.end();
}

/** The client is authenticated: take over any live connection, pick the session, send CONNACK. */
export function acceptConnect(connection: Connection, packet: ConnectPacket, assignedClientId: string | undefined, authenticationData: Buffer | undefined): void | Promise<void> {
  // Multi-process mode: this worker becomes the owner of the client id (its session comes over) first.
  const claimed = connection.broker.cluster?.claim(connection.clientId, packet.clean);
  if (claimed !== undefined) {
    return claimed.then(() => {
      if (connection.state !== 'closed') openSession(connection, packet, assignedClientId, authenticationData);
    });
  }
  openSession(connection, packet, assignedClientId, authenticationData);
}

function openSession(connection: Connection, packet: ConnectPacket, assignedClientId: string | undefined, authenticationData: Buffer | undefined): void {
  const broker = connection.broker;
  const { limits, mqtt } = broker.config;
  const version = connection.protocolVersion;
  const clientId = connection.clientId;
  const properties = packet.properties;
  const connack: Properties = {};

  // Session Expiry Interval: 5.0 asks for one; 3.1.1 clean session 0 means "never expires".
  const requestedExpiry = version === 5 ? (properties?.sessionExpiryInterval ?? 0) : packet.clean ? 0 : NEVER_EXPIRES;
  const expiry = Math.min(requestedExpiry, limits.maxSessionExpiry);
  if (version === 5 && expiry !== requestedExpiry) connack.sessionExpiryInterval = expiry;
  connection.connectExpiryWasZero = requestedExpiry === 0;

  if (version === 5) {
    connection.problemInformation = properties?.requestProblemInformation !== 0;
    connection.sendWindow = properties?.receiveMaximum ?? 65535; // [MQTT-3.3.4-9] our outgoing quota
    // No packet is larger than MAX_PACKET_SIZE: a larger maximum is the same as none.
    if (properties?.maximumPacketSize !== undefined) connection.clientMaximumPacketSize = Math.min(properties.maximumPacketSize, MAX_PACKET_SIZE);
    const aliasMaximum = properties?.topicAliasMaximum ?? 0;
    if (aliasMaximum > 0) connection.outboundAliases = new OutboundAliases(aliasMaximum);
  }

  let keepalive = packet.keepalive;
  if (version === 5) {
    if (mqtt.serverKeepAlive !== undefined) keepalive = mqtt.serverKeepAlive;
    else if (limits.maxKeepAlive > 0 && (keepalive === 0 || keepalive > limits.maxKeepAlive)) keepalive = limits.maxKeepAlive;
    // [MQTT-3.1.2-21] the client must use the Server Keep Alive we send
    if (keepalive !== packet.keepalive) connack.serverKeepAlive = keepalive;
  }

  const existing = broker.sessions.get(clientId);
  const previous = existing?.link as Connection | undefined;
  if (existing !== undefined && previous !== undefined) takeOver(previous, packet.clean);

  let session = existing;
  let sessionPresent = false;
  if (session !== undefined && !packet.clean) {
    // [MQTT-3.2.2-2] resume the existing session; session present 1
    sessionPresent = true;
    broker.sessions.resume(session);
    session.setExpiryInterval(expiry);
  } else {
    if (session !== undefined) {
      // [MQTT-3.1.2-4] clean start discards the old session; the client is back in time, so no delayed will
      broker.sessions.cancelWill(session);
      broker.sessions.end(session);
    }
    session = broker.sessions.create(clientId, version, expiry);
  }
  session.protocolVersion = version;

  connection.session = session;
  connection.will = packet.will;
  connection.state = 'connected';
  broker.connections.add(connection);
  session.persist();
  connection.startKeepalive(keepalive);

  if (version === 5) {
    if (limits.receiveMaximum !== 65535) connack.receiveMaximum = limits.receiveMaximum;
    if (mqtt.maximumQoS < 2) connack.maximumQoS = mqtt.maximumQoS;
    if (!mqtt.retainAvailable) connack.retainAvailable = 0;
    connack.maximumPacketSize = limits.maxPacketSize;
    if (limits.topicAliasMaximum > 0) connack.topicAliasMaximum = limits.topicAliasMaximum;
    if (!mqtt.wildcardSubscriptionAvailable) connack.wildcardSubscriptionAvailable = 0;
    if (!mqtt.subscriptionIdentifiersAvailable) connack.subscriptionIdentifiersAvailable = 0;
    if (!mqtt.sharedSubscriptionAvailable) connack.sharedSubscriptionAvailable = 0;
    if (assignedClientId !== undefined) connack.assignedClientIdentifier = assignedClientId;
    // §3.1.2.11.7: Response Information is optional even when asked for; "" turns it off
    if (properties?.requestResponseInformation === 1 && mqtt.responseInformation !== '') {
      connack.responseInformation = mqtt.responseInformation.replaceAll('{clientId}', clientId);
    }
    if (connection.auth !== undefined) {
      connack.authenticationMethod = connection.auth.method;
      if (authenticationData !== undefined) connack.authenticationData = authenticationData;
    }
    connection.send({ type: 'connack', sessionPresent, reasonCode: ReasonCode.Success, properties: connack });
  } else {
    // [MQTT-3.2.2-1] clean session gives session present 0
    connection.send({ type: 'connack', sessionPresent, reasonCode: 0 });
  }
  connection.log('debug', 'client connected', ReasonCode.Success, { protocolVersion: version, sessionPresent, keepalive, listener: connection.client.listener, username: connection.client.username });
  broker.hooks.clientConnected(connection.client);
  // After CONNACK: re-send what was in flight, then the queue [MQTT-4.4.0-1].
  session.attach(connection);
}

/** [MQTT-3.1.4-3] A new connection with the same client id: close the old one (5.0: DISCONNECT 0x8E). */
export function takeOver(previous: Connection, clean: boolean): void {
  const broker = previous.broker;
  const session = previous.session!;
  const will = previous.will;
  previous.will = undefined;
  previous.session = undefined;
  session.link = undefined;
  session.disconnectedAt = Date.now();
  if (will !== undefined) {
    // The old connection's will goes out, unless the new one resumes the session within the will delay.
    const delay = will.properties?.willDelayInterval ?? 0;
    if (clean || delay === 0) broker.publishWill(previous.clientId, will);
  }
  previous.log('debug', 'session taken over', ReasonCode.SessionTakenOver);
  previous.disconnect(ReasonCode.SessionTakenOver, new Error('session taken over'));
}
