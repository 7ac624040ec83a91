// Plain TCP listener.

import { createServer, type Server, type Socket } from 'node:net';
import type { ListenerConfig } from '../config/schema.js';
import type { AcceptStream, Listener, ListenerAddress, ListenerContext } from './listener.js';
import { afterProxyHeader } from './proxy-protocol.js';
import { defaultListenerContext } from './listener-context.js';

export class TcpListener implements Listener {
  readonly name: string;
  readonly type = 'tcp';
  private readonly config: ListenerConfig;
  private readonly server: Server;

  constructor(config: ListenerConfig, name: string, accept: AcceptStream, context: ListenerContext = defaultListenerContext()) {
    this.config = config;
    this.name = name;
    this.server = createServer({ noDelay: true }, (socket: Socket) => {
      if (!config.proxyProtocol) {
        accept(socket, { listener: name, remoteAddress: socket.remoteAddress ?? '', remotePort: socket.remotePort ?? 0 });
        return;
      }
      afterProxyHeader(socket, { listener: name, timeoutMs: context.limits.connectTimeoutMs, logger: context.logger }, (source) => {
        accept(socket, { listener: name, remoteAddress: source?.address ?? socket.remoteAddress ?? '', remotePort: source?.port ?? socket.remotePort ?? 0 });
        socket.resume(); // paused while the header was read
      });
    });
  }

  start(): Promise<ListenerAddress> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error) => reject(error);
      this.server.once('error', onError);
      this.server.listen({ port: this.config.port, host: this.config.host, backlog: this.config.backlog }, () => {
        this.server.off('error', onError);
        const address = this.server.address();
        if (address === null || typeof address === 'string') {
          resolve({ host: this.config.host, port: this.config.port });
        } else {
          resolve({ host: address.address, port: address.port });
        }
      });
    });
  }

  stop(): Promise<void> {
    // close() stops accepting at once; its callback would wait for every open connection,
    // which the broker closes itself afterwards.
    if (this.server.listening) this.server.close();
    return Promise.resolve();
  }
}

export function createTcpListener(config: ListenerConfig, name: string, accept: AcceptStream, context?: ListenerContext): Listener {
  return new TcpListener(config, name, accept, context);
}
