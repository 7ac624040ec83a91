// What a Session needs from the connection it is attached to (implemented by Connection).

import type { ClientInfo } from '../hooks/hooks.js';
import type { ProtocolVersion, QoS } from '../protocol/packets.js';
import type { RoutedMessage } from '../router/routed-message.js';

export interface PublishWriteOptions {
  qos: QoS;
  retain: boolean;
  dup: boolean;
  packetId?: number;
  subscriptionIdentifiers?: number[];
}

export interface SessionLink {
  readonly protocolVersion: ProtocolVersion;
  readonly client: ClientInfo;
  /** The client's Receive Maximum (5.0) or limits.maxInflight (3.1.1): our outgoing inflight window. */
  readonly sendWindow: number;
  /** False while the socket holds more than limits.maxSocketBufferBytes. */
  isWritable(): boolean;
  /** Writes a PUBLISH; false if it was not sent because it exceeds the client's Maximum Packet Size. */
  writePublish(message: RoutedMessage, options: PublishWriteOptions): boolean;
  writePubrel(packetId: number): void;
}
