import type { PacketType } from './packets.js';
import { ReasonCode } from './reason-codes.js';

/**
 * A violation of the MQTT specification found while decoding (or asked to encode).
 * `reasonCode` is the MQTT 5 reason code the broker must send (in DISCONNECT, or in
 * CONNACK while connecting); `code` is a stable identifier for tests and logs.
 */
export class MqttProtocolError extends Error {
  readonly reasonCode: number;
  readonly code: string;
  readonly packetType?: PacketType;

  constructor(code: string, reasonCode: number, message: string, packetType?: PacketType) {
    super(message);
    this.name = 'MqttProtocolError';
    this.code = code;
    this.reasonCode = reasonCode;
    if (packetType !== undefined) this.packetType = packetType;
  }
}

export function malformed(code: string, message: string, packetType?: PacketType): MqttProtocolError {
  return new MqttProtocolError(code, ReasonCode.MalformedPacket, message, packetType);
}

export function protocolError(code: string, message: string, packetType?: PacketType): MqttProtocolError {
  return new MqttProtocolError(code, ReasonCode.ProtocolError, message, packetType);
}
