// Routes a decoded packet to its handler, enforcing what may come when [MQTT-3.1.0-1/2].

import type { Packet } from '../protocol/packets.js';
import type { MqttProtocolError } from '../protocol/errors.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import { violation } from './violation.js';
import type { Connection } from './connection.js';
import { handleAuth } from './handle-auth.js';
import { handleConnect } from './handle-connect.js';
import { handleDisconnect } from './handle-disconnect.js';
import { handlePuback, handlePubcomp, handlePubrec, handlePubrel } from './handle-acks.js';
import { handlePublish } from './handle-publish.js';
import { handleSubscribe } from './handle-subscribe.js';
import { handleUnsubscribe } from './handle-unsubscribe.js';

function protocolViolation(message: string): MqttProtocolError {
  return violation(ReasonCode.ProtocolError, 'UNEXPECTED_PACKET', message);
}

export function dispatchPacket(connection: Connection, packet: Packet): void | Promise<void> {
  if (connection.state === 'awaiting-connect') {
    if (packet.type !== 'connect') {
      // [MQTT-3.1.0-1] the first packet must be CONNECT: close without a word
      connection.destroy(new Error(`first packet was ${packet.type}, not CONNECT`));
      return;
    }
    return handleConnect(connection, packet);
  }
  if (connection.state === 'authenticating') {
    if (packet.type === 'auth') return handleAuth(connection, packet);
    throw protocolViolation(`${packet.type} during enhanced authentication`);
  }
  switch (packet.type) {
    case 'publish':
      return handlePublish(connection, packet);
    case 'puback':
      return handlePuback(connection, packet);
    case 'pubrec':
      return handlePubrec(connection, packet);
    case 'pubrel':
      return handlePubrel(connection, packet);
    case 'pubcomp':
      return handlePubcomp(connection, packet);
    case 'subscribe':
      return handleSubscribe(connection, packet);
    case 'unsubscribe':
      return handleUnsubscribe(connection, packet);
    case 'pingreq':
      connection.send({ type: 'pingresp' }); // [MQTT-3.12.4-1]
      return;
    case 'disconnect':
      return handleDisconnect(connection, packet);
    case 'auth':
      return handleAuth(connection, packet);
    case 'connect':
      // [MQTT-3.1.0-2] a second CONNECT is a protocol violation
      throw protocolViolation('second CONNECT');
    default:
      // CONNACK, SUBACK, UNSUBACK, PINGRESP are server-to-client only
      throw protocolViolation(`${packet.type} is not sent by clients`);
  }
}
