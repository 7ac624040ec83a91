// The listener abstraction: something that accepts byte streams and hands them to the broker.
// TCP is built in; TLS / WebSocket listeners register their factory by type.

import type { Duplex } from 'node:stream';
import type { ConnectionMeta } from '../connection/connection.js';
import type { Logger } from 'pino';
import type { ListenerConfig, PetrelConfig } from '../config/schema.js';

export type AcceptStream = (stream: Duplex, meta: ConnectionMeta) => void;

export interface ListenerAddress {
  host: string;
  port: number;
}

export interface Listener {
  readonly name: string;
  readonly type: string;
  /** Starts accepting; resolves with the bound address (the real port when configured as 0). */
  start(): Promise<ListenerAddress>;
  /** Stops accepting new connections (existing ones are the broker's business). */
  stop(): Promise<void>;
}

/** What a listener needs from the broker besides its own configuration. */
export interface ListenerContext {
  logger: Logger;
  /** connectTimeoutMs also bounds the TLS handshake, the PROXY header and the WebSocket upgrade; maxPacketSize bounds a WebSocket frame. */
  limits: Pick<PetrelConfig['limits'], 'connectTimeoutMs' | 'maxPacketSize'>;
}

export type ListenerFactory = (config: ListenerConfig, name: string, accept: AcceptStream, context: ListenerContext) => Listener;

/** The name a listener is known by in logs, metrics and ClientInfo.listener. */
export function listenerName(config: ListenerConfig): string {
  return config.name ?? `${config.type}:${config.port}`;
}
