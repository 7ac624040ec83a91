// The management HTTP server: GET /metrics (Prometheus text format) and GET /healthz (JSON).
// node:http is enough for two routes. What the routes answer comes from ManagementEndpoints, so
// the same server serves a single broker process or the primary of a multi-process broker.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/logger.js';

export interface MetricsText {
  contentType: string;
  body: string;
}

export interface HealthReport {
  /** 200 when true, 503 when false. */
  healthy: boolean;
  /** Details added to the JSON answer after `status`. */
  details: Record<string, unknown>;
}

export interface ManagementEndpoints {
  metrics(): Promise<MetricsText>;
  health(): Promise<HealthReport>;
}

export interface ManagementServerOptions {
  host: string;
  /** 0 = any free port (see `address` once started). */
  port: number;
  endpoints: ManagementEndpoints;
  logger: Logger;
}

type Route = (response: ServerResponse) => Promise<void>;

export class ManagementServer {
  private readonly options: ManagementServerOptions;
  private readonly server: Server;
  private readonly routes: Map<string, Route>;

  constructor(options: ManagementServerOptions) {
    this.options = options;
    this.routes = new Map<string, Route>([
      ['/metrics', (response) => this.serveMetrics(response)],
      ['/healthz', (response) => this.serveHealth(response)],
    ]);
    this.server = createServer((request, response) => this.handle(request, response));
    // A scraper keeping its connection open must not hold up a shutdown for long.
    this.server.keepAliveTimeout = 5000;
  }

  /** Where the server listens (after start). */
  get address(): { host: string; port: number } {
    const address = this.server.address() as AddressInfo | null;
    if (address === null) throw new Error('the management server is not listening');
    return { host: address.address, port: address.port };
  }

  /** Listens; rejects with the listen error (EADDRINUSE...) if the address cannot be bound. */
  start(): Promise<{ host: string; port: number }> {
    return new Promise((resolve, reject) => {
      const onError = (error: Error): void => reject(error);
      this.server.once('error', onError);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', onError);
        this.server.on('error', (error) => this.options.logger.error({ err: error }, 'management server error'));
        resolve(this.address);
      });
    });
  }

  async stop(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private handle(request: IncomingMessage, response: ServerResponse): void {
    const path = new URL(request.url ?? '/', 'http://management').pathname;
    const route = this.routes.get(path);
    if (route === undefined) {
      sendText(response, 404, 'not found: the management server has /metrics and /healthz\n');
      return;
    }
    if (request.method !== 'GET') {
      response.setHeader('Allow', 'GET');
      sendText(response, 405, `method ${request.method ?? ''} not allowed: use GET\n`);
      return;
    }
    route(response).catch((error: unknown) => {
      this.options.logger.error({ err: error, path }, 'management request failed');
      if (!response.headersSent) sendText(response, 500, 'internal error\n');
      else response.destroy();
    });
  }

  private async serveMetrics(response: ServerResponse): Promise<void> {
    const metrics = await this.options.endpoints.metrics();
    response.writeHead(200, { 'Content-Type': metrics.contentType, 'Content-Length': Buffer.byteLength(metrics.body) });
    response.end(metrics.body);
  }

  private async serveHealth(response: ServerResponse): Promise<void> {
    const report = await this.options.endpoints.health();
    const body = `${JSON.stringify({ status: report.healthy ? 'ok' : 'unavailable', ...report.details })}\n`;
    response.writeHead(report.healthy ? 200 : 503, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
    response.end(body);
  }
}

function sendText(response: ServerResponse, status: number, text: string): void {
  response.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}
