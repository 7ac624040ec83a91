// Every listener type this build can start, by the `type` of its configuration.

import type { ListenerFactory } from './listener.js';
import { createTcpListener } from './tcp-listener.js';
import { createTlsListener } from './tls-listener.js';
import { createWebSocketListener } from './websocket-listener.js';

export const builtInListenerTypes: ReadonlyArray<readonly [string, ListenerFactory]> = [
  ['tcp', createTcpListener],
  ['tls', createTlsListener],
  ['ws', createWebSocketListener],
  ['wss', createWebSocketListener],
];
