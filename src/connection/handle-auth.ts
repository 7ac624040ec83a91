// 5.0 enhanced authentication: AUTH exchanges during CONNECT (0x18 continue) and
// re-authentication of a connected client (0x19), driven by an EnhancedAuthProvider.

import { isPromise } from '../broker/hook-runner.js';
import type { EnhancedAuthExchange } from '../hooks/hooks.js';
import type { AuthPacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { Connection } from './connection.js';
import { applyIdentity, authorizeWillThenAccept, refuseConnect } from './handle-connect.js';
import { violation } from './violation.js';

type StepResult = Awaited<ReturnType<EnhancedAuthExchange['step']>>;

export function handleAuth(connection: Connection, packet: AuthPacket): void | Promise<void> {
  const auth = connection.auth;
  const method = packet.properties?.authenticationMethod;
  // AUTH without enhanced auth in CONNECT, or with another method: protocol error (5.0 §4.12)
  if (auth === undefined || method !== auth.method) {
    throw violation(ReasonCode.ProtocolError, 'AUTH_METHOD_MISMATCH', 'AUTH without the authentication method of CONNECT', 'auth');
  }
  if (packet.reasonCode === ReasonCode.ReAuthenticate && connection.state === 'connected') {
    const provider = connection.broker.enhancedAuth.get(method)!;
    auth.exchange = provider.begin(connection.client, undefined);
    return runAuthStep(connection, packet.properties?.authenticationData);
  }
  if (packet.reasonCode === ReasonCode.ContinueAuthentication && auth.exchange !== undefined) {
    return runAuthStep(connection, packet.properties?.authenticationData);
  }
  throw violation(ReasonCode.ProtocolError, 'UNEXPECTED_AUTH', `AUTH 0x${packet.reasonCode.toString(16)} not expected now`, 'auth');
}

export function runAuthStep(connection: Connection, data: Buffer | undefined): void | Promise<void> {
  const exchange = connection.auth!.exchange!;
  const result = exchange.step(data);
  if (isPromise<StepResult>(result)) return result.then((settled) => afterStep(connection, settled));
  return afterStep(connection, result);
}

function afterStep(connection: Connection, result: StepResult): void | Promise<void> {
  if (connection.state === 'closed') return;
  const auth = connection.auth!;
  const connecting = connection.state === 'authenticating';
  if (result.result === 'continue') {
    connection.send({ type: 'auth', reasonCode: ReasonCode.ContinueAuthentication, properties: { authenticationMethod: auth.method, authenticationData: result.data } });
    return;
  }
  auth.exchange = undefined;
  if (result.result === 'fail') {
    const properties = result.reasonString === undefined ? undefined : { reasonString: result.reasonString };
    if (connecting) refuseConnect(connection, result.reasonCode, properties);
    else connection.disconnect(result.reasonCode, new Error('re-authentication failed'), result.reasonString);
    return;
  }
  applyIdentity(connection, result);
  if (connecting) {
    const pending = connection.pendingConnect!;
    connection.pendingConnect = undefined;
    return authorizeWillThenAccept(connection, pending.packet, pending.assignedClientId, result.data);
  }
  const properties = result.data === undefined ? { authenticationMethod: auth.method } : { authenticationMethod: auth.method, authenticationData: result.data };
  connection.send({ type: 'auth', reasonCode: ReasonCode.Success, properties });
}
