// MQTT over TLS (mqtts, usually port 8883), with optional client certificates (mTLS), certificate
// reload without restart, and an optional PROXY protocol header in front of the handshake.
//
// A plain TCP server accepts the sockets and hands them to a non-listening tls.Server by emitting
// 'connection': that is where the PROXY header is read before TLS starts, and it lets stop() free
// the port at once while the broker closes the established connections itself.

import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer, type TLSSocket } from 'node:tls';
import type { ListenerConfig } from '../config/schema.js';
import { CertificateReloader, type CertificateReloaderOptions } from './certificate-reloader.js';
import type { AcceptStream, Listener, ListenerAddress, ListenerContext } from './listener.js';
import { defaultListenerContext } from './listener-context.js';
import { verifiedPeerCertificate } from './peer-certificate.js';
import { afterProxyHeader, type ProxySource } from './proxy-protocol.js';

export interface TlsListenerOptions {
  reloader?: CertificateReloaderOptions;
}

/** Options shared by the TLS and secure WebSocket servers. */
export function tlsServerOptions(config: ListenerConfig, reloader: CertificateReloader, handshakeTimeoutMs: number) {
  return {
    ...reloader.secureContextOptions,
    requestCert: config.requestCert,
    // Only meaningful with requestCert: without it no client certificate is asked for.
    rejectUnauthorized: config.requestCert && config.rejectUnauthorized,
    handshakeTimeout: handshakeTimeoutMs,
  };
}

/** The key a raw socket and the TLS socket wrapping it share (the peer's address is unique per live connection). */
function peerKey(socket: Socket): string {
  return `${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`;
}

export class TlsListener implements Listener {
  readonly name: string;
  readonly type = 'tls';
  readonly reloader: CertificateReloader;
  private readonly config: ListenerConfig;
  private readonly context: ListenerContext;
  private readonly tcpServer: TcpServer;
  private readonly tlsServer: TlsServer;
  /** Raw sockets not yet handed to the broker, with the PROXY source when there was one. */
  private readonly handshaking = new Map<string, { socket: Socket; source: ProxySource | undefined }>();

  constructor(config: ListenerConfig, name: string, accept: AcceptStream, context: ListenerContext = defaultListenerContext(), options: TlsListenerOptions = {}) {
    this.config = config;
    this.name = name;
    this.context = context;
    this.reloader = new CertificateReloader(config, name, context.logger, options.reloader);
    this.tlsServer = createTlsServer(tlsServerOptions(config, this.reloader, context.limits.connectTimeoutMs));
    this.tlsServer.on('secureConnection', (socket: TLSSocket) => {
      const key = peerKey(socket);
      const entry = this.handshaking.get(key);
      this.handshaking.delete(key);
      accept(socket, {
        listener: name,
        remoteAddress: entry?.source?.address ?? socket.remoteAddress ?? '',
        remotePort: entry?.source?.port ?? socket.remotePort ?? 0,
        certificate: verifiedPeerCertificate(socket),
      });
    });
    this.tlsServer.on('tlsClientError', (error: Error & { code?: string }, socket: TLSSocket) => {
      // Scanners, wrong CAs and garbage end here: this one socket goes, nothing else is affected.
      context.logger.debug({ listener: name, remoteAddress: socket.remoteAddress, code: error.code, reason: error.message }, 'TLS handshake failed');
      socket.destroy();
    });
    this.tcpServer = createTcpServer({ noDelay: true }, (socket) => this.onSocket(socket));
  }

  private onSocket(socket: Socket): void {
    const key = peerKey(socket);
    socket.on('error', (error) => this.context.logger.debug({ listener: this.name, key, reason: error.message }, 'socket error before the TLS session'));
    socket.once('close', () => {
      if (this.handshaking.get(key)?.socket === socket) this.handshaking.delete(key);
    });
    this.handshaking.set(key, { socket, source: undefined });
    if (!this.config.proxyProtocol) {
      this.tlsServer.emit('connection', socket);
      return;
    }
    afterProxyHeader(socket, { listener: this.name, timeoutMs: this.context.limits.connectTimeoutMs, logger: this.context.logger }, (source) => {
      const entry = this.handshaking.get(key);
      if (entry === undefined) return;
      entry.source = source;
      this.tlsServer.emit('connection', socket);
    });
  }

  start(): Promise<ListenerAddress> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.tcpServer.once('error', onError);
      this.tcpServer.listen({ port: this.config.port, host: this.config.host, backlog: this.config.backlog }, () => {
        this.tcpServer.off('error', onError);
        this.reloader.attach(this.tlsServer);
        const address = this.tcpServer.address();
        resolve(address === null || typeof address === 'string' ? { host: this.config.host, port: this.config.port } : { host: address.address, port: address.port });
      });
    });
  }

  /** Frees the port and drops handshakes in progress; established connections are the broker's to close. */
  stop(): Promise<void> {
    this.reloader.close();
    for (const { socket } of this.handshaking.values()) socket.destroy();
    this.handshaking.clear();
    if (this.tcpServer.listening) this.tcpServer.close();
    return Promise.resolve();
  }
}

export function createTlsListener(config: ListenerConfig, name: string, accept: AcceptStream, context?: ListenerContext): Listener {
  return new TlsListener(config, name, accept, context);
}
