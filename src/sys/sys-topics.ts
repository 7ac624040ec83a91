// $SYS topics: broker statistics published as retained QoS 0 messages every mqtt.sysInterval
// seconds, with mosquitto-like names. Clients cannot publish under $SYS (handle-publish refuses).

import type { StoredMessage } from '../store/store.js';

export interface SysStats {
  version: string;
  uptimeSeconds: number;
  clientsConnected: number;
  clientsDisconnected: number;
  clientsTotal: number;
  messagesSent: number;
  messagesReceived: number;
  bytesSent: number;
  bytesReceived: number;
  subscriptionsCount: number;
  retainedCount: number;
}

/** The $SYS topic/value pairs of a statistics snapshot. */
export function sysTopics(stats: SysStats): Array<[string, string]> {
  return [
    ['$SYS/broker/version', `petrel ${stats.version}`],
    ['$SYS/broker/uptime', `${stats.uptimeSeconds} seconds`],
    ['$SYS/broker/clients/connected', String(stats.clientsConnected)],
    ['$SYS/broker/clients/disconnected', String(stats.clientsDisconnected)],
    ['$SYS/broker/clients/total', String(stats.clientsTotal)],
    ['$SYS/broker/messages/sent', String(stats.messagesSent)],
    ['$SYS/broker/messages/received', String(stats.messagesReceived)],
    ['$SYS/broker/bytes/sent', String(stats.bytesSent)],
    ['$SYS/broker/bytes/received', String(stats.bytesReceived)],
    ['$SYS/broker/subscriptions/count', String(stats.subscriptionsCount)],
    ['$SYS/broker/retained messages/count', String(stats.retainedCount)],
  ];
}

export class SysPublisher {
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalSeconds: number;
  private readonly snapshot: () => SysStats;
  private readonly publish: (message: StoredMessage) => void;

  constructor(intervalSeconds: number, snapshot: () => SysStats, publish: (message: StoredMessage) => void) {
    this.intervalSeconds = intervalSeconds;
    this.snapshot = snapshot;
    this.publish = publish;
  }

  start(): void {
    if (this.intervalSeconds <= 0) return;
    this.publishNow();
    this.timer = setInterval(() => this.publishNow(), this.intervalSeconds * 1000);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  publishNow(): void {
    const now = Date.now();
    for (const [topic, value] of sysTopics(this.snapshot())) {
      // Same properties in the same order as a client's PUBLISH (handle-publish.ts): a message of
      // another shape deoptimised the hot publish path once it was optimised, ~10 ms of slow
      // deliveries on a broker pinned to one core.
      const message: StoredMessage = {
        topic,
        payload: Buffer.from(value),
        qos: 0,
        retain: true,
        properties: undefined,
        receivedAt: now,
        expiresAt: undefined,
        publisherId: undefined,
      };
      this.publish(message);
    }
  }
}
