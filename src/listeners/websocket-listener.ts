// MQTT over WebSocket (ws) and secure WebSocket (wss): an HTTP(S) server that upgrades requests
// on the configured path (default /mqtt) with subprotocol "mqtt" (or the older "mqttv3.1").

import { createServer as createHttpServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import type { ListenerConfig } from '../config/schema.js';
import { CertificateReloader, type CertificateReloaderOptions } from './certificate-reloader.js';
import type { AcceptStream, Listener, ListenerAddress, ListenerContext } from './listener.js';
import { defaultListenerContext } from './listener-context.js';
import { verifiedPeerCertificate } from './peer-certificate.js';
import { tlsServerOptions } from './tls-listener.js';
import { WebSocketStream } from './websocket-stream.js';

/** In order of preference: "mqtt" is the 3.1.1 / 5.0 name [MQTT-6.0.0-4], "mqttv3.1" what 3.1 clients offer. */
const subprotocols = ['mqtt', 'mqttv3.1'] as const;

export interface WebSocketListenerOptions {
  reloader?: CertificateReloaderOptions;
}

function offeredSubprotocols(request: IncomingMessage): string[] | undefined {
  const header = request.headers['sec-websocket-protocol'];
  if (header === undefined) return undefined;
  return header
    .split(',')
    .map((name) => name.trim())
    .filter((name) => name.length > 0);
}

/** Answers a request that will not become an MQTT WebSocket, then closes the socket. */
function refuseUpgrade(socket: Duplex, status: number, reason: string): void {
  if (socket.writable) socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
  socket.destroy();
}

export class WebSocketListener implements Listener {
  readonly name: string;
  readonly type: 'ws' | 'wss';
  /** Present on wss listeners. */
  readonly reloader: CertificateReloader | undefined;
  private readonly config: ListenerConfig;
  private readonly context: ListenerContext;
  private readonly server: HttpServer;
  private readonly secureServer: HttpsServer | undefined;
  private readonly webSockets: WebSocketServer;

  constructor(config: ListenerConfig, name: string, accept: AcceptStream, context: ListenerContext = defaultListenerContext(), options: WebSocketListenerOptions = {}) {
    this.config = config;
    this.name = name;
    this.context = context;
    this.type = config.type === 'wss' ? 'wss' : 'ws';
    if (config.proxyProtocol) context.logger.warn({ listener: name }, 'proxyProtocol applies to tcp and tls listeners only; ignored here');
    const timeoutMs = context.limits.connectTimeoutMs;
    // The upgrade request must arrive within the connect timeout; checked every second instead of Node's 30 s.
    const httpOptions = { headersTimeout: timeoutMs, requestTimeout: timeoutMs, connectionsCheckingInterval: Math.min(1000, timeoutMs), noDelay: true };
    const onRequest = (_request: IncomingMessage, response: ServerResponse) => {
      response.writeHead(426, { Connection: 'close', Upgrade: 'websocket', 'Content-Type': 'text/plain' });
      response.end('MQTT over WebSocket: upgrade required\n');
    };
    if (this.type === 'wss') {
      this.reloader = new CertificateReloader(config, name, context.logger, options.reloader);
      const server = createHttpsServer({ ...httpOptions, ...tlsServerOptions(config, this.reloader, timeoutMs) }, onRequest);
      server.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
        context.logger.debug({ listener: name, remoteAddress: socket.remoteAddress, code: error.code, reason: error.message }, 'TLS handshake failed');
        socket.destroy();
      });
      this.server = server;
      this.secureServer = server;
    } else {
      this.reloader = undefined;
      this.secureServer = undefined;
      this.server = createHttpServer(httpOptions, onRequest);
    }
    this.webSockets = new WebSocketServer({
      noServer: true,
      clientTracking: false,
      perMessageDeflate: false,
      // A frame may hold a packet and the start of the next; the decoder enforces the packet limit itself.
      maxPayload: 2 * context.limits.maxPacketSize,
      handleProtocols: (offered: Set<string>) => subprotocols.find((name) => offered.has(name)) ?? false,
    });
    this.server.on('upgrade', (request: IncomingMessage, socket: Duplex, head: Buffer) => this.onUpgrade(request, socket, head, accept));
    this.server.on('clientError', (error: Error & { code?: string }, socket: Duplex) => {
      context.logger.debug({ listener: name, code: error.code, reason: error.message }, 'bad HTTP request on a WebSocket listener');
      refuseUpgrade(socket, 400, 'Bad Request');
    });
  }

  private onUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer, accept: AcceptStream): void {
    socket.on('error', (error: Error) => this.context.logger.debug({ listener: this.name, reason: error.message }, 'socket error during the WebSocket upgrade'));
    const path = new URL(request.url ?? '/', 'http://localhost').pathname;
    if (path !== this.config.path) {
      refuseUpgrade(socket, 404, 'Not Found');
      return;
    }
    const offered = offeredSubprotocols(request);
    // Offering subprotocols but none for MQTT is another application knocking on the wrong door.
    if (offered !== undefined && !offered.some((name) => (subprotocols as readonly string[]).includes(name))) {
      refuseUpgrade(socket, 400, 'Bad Request');
      return;
    }
    this.webSockets.handleUpgrade(request, socket, head, (webSocket: WebSocket) => {
      const certificate = this.type === 'wss' ? verifiedPeerCertificate(request.socket as TLSSocket) : undefined;
      accept(new WebSocketStream(webSocket), {
        listener: this.name,
        remoteAddress: request.socket.remoteAddress ?? '',
        remotePort: request.socket.remotePort ?? 0,
        certificate,
      });
    });
  }

  start(): Promise<ListenerAddress> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port: this.config.port, host: this.config.host, backlog: this.config.backlog }, () => {
        this.server.off('error', onError);
        if (this.secureServer !== undefined) this.reloader?.attach(this.secureServer);
        const address = this.server.address();
        resolve(address === null || typeof address === 'string' ? { host: this.config.host, port: this.config.port } : { host: address.address, port: address.port });
      });
    });
  }

  /** Frees the port and closes requests not yet upgraded; MQTT connections are the broker's to close. */
  stop(): Promise<void> {
    this.reloader?.close();
    if (this.server.listening) {
      this.server.close();
      this.server.closeAllConnections();
    }
    return Promise.resolve();
  }
}

export function createWebSocketListener(config: ListenerConfig, name: string, accept: AcceptStream, context?: ListenerContext): Listener {
  return new WebSocketListener(config, name, accept, context);
}
