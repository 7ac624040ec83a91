// Shared fixtures for the auth tests: fake clients / packets and a temporary directory.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientInfo } from '../../src/hooks/hooks.js';
import type { ConnectPacket, PublishPacket, QoS, Subscription } from '../../src/protocol/packets.js';

export function makeClient(overrides: Partial<ClientInfo> = {}): ClientInfo {
  return {
    clientId: 'client-1',
    protocolVersion: 5,
    remoteAddress: '127.0.0.1',
    remotePort: 50000,
    listener: 'tcp:1883',
    attributes: {},
    ...overrides,
  };
}

export function makeConnect(overrides: Partial<ConnectPacket> = {}): ConnectPacket {
  return { type: 'connect', protocolName: 'MQTT', protocolVersion: 5, clean: true, keepalive: 60, clientId: 'client-1', ...overrides };
}

export function makePublish(topic: string, qos: QoS = 0, retain = false): PublishPacket {
  return { type: 'publish', topic, payload: Buffer.alloc(0), qos, retain, dup: false, ...(qos > 0 ? { packetId: 1 } : {}) };
}

export function makeSubscription(topicFilter: string, qos: QoS = 0): Subscription {
  return { topicFilter, qos, noLocal: false, retainAsPublished: false, retainHandling: 0 };
}

export function temporaryDirectory(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'petrel-auth-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** Collects log calls so tests can assert that a failure was logged. */
export function recordingLogger() {
  const entries: Array<{ level: string; details: object; message?: string }> = [];
  const log = (level: string) => (details: object, message?: string) => entries.push({ level, details, message });
  return { entries, info: log('info'), warn: log('warn'), error: log('error') };
}
