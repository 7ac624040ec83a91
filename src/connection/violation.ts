// A protocol violation found by a handler: thrown, caught by the Connection, which then
// sends DISCONNECT with `reasonCode` (5.0) and closes.

import { MqttProtocolError } from '../protocol/errors.js';
import type { PacketType } from '../protocol/packets.js';

export function violation(reasonCode: number, code: string, message: string, packetType?: PacketType): MqttProtocolError {
  return new MqttProtocolError(code, reasonCode, message, packetType);
}
