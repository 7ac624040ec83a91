// A message on its way to subscribers: the stored form plus, lazily, one PublishEncoder
// per protocol version so a fan-out encodes the topic and properties once per variant.

import { PublishEncoder } from '../protocol/encoder.js';
import type { ProtocolVersion } from '../protocol/packets.js';
import type { StoredMessage } from '../store/store.js';

export class RoutedMessage {
  readonly stored: StoredMessage;
  private encoders: Array<PublishEncoder | undefined> = [];
  /** Whole 3.1.1 QoS 0 packets, indexed by the retain flag (0/1). */
  private v4Qos0Packets: Array<Buffer | undefined> | undefined;

  constructor(stored: StoredMessage) {
    this.stored = stored;
  }

  encoder(protocolVersion: ProtocolVersion): PublishEncoder {
    // 3.1 and 3.1.1 share the same PUBLISH layout.
    const slot = protocolVersion === 5 ? 1 : 0;
    let encoder = this.encoders[slot];
    if (encoder === undefined) {
      const { topic, payload, properties } = this.stored;
      encoder = new PublishEncoder(protocolVersion === 5 ? { topic, payload, properties } : { topic, payload }, protocolVersion);
      this.encoders[slot] = encoder;
    }
    return encoder;
  }

  /**
   * The complete QoS 0 PUBLISH (header and payload) for 3.1.1 subscribers: the same bytes for
   * every one of them, so a fan-out builds it once. Shared: callers must not modify it.
   */
  v4Qos0Packet(retain: boolean): Buffer {
    const packets = (this.v4Qos0Packets ??= []);
    const slot = retain ? 1 : 0;
    let packet = packets[slot];
    if (packet === undefined) {
      packet = this.encoder(4).packet({ qos: 0, retain });
      packets[slot] = packet;
    }
    return packet;
  }

  isExpired(now: number): boolean {
    return this.stored.expiresAt !== undefined && now >= this.stored.expiresAt;
  }

  /** Seconds of Message Expiry Interval left, rounded up (never 0 while still valid). */
  remainingExpiry(now: number): number | undefined {
    const expiresAt = this.stored.expiresAt;
    if (expiresAt === undefined) return undefined;
    return Math.max(1, Math.ceil((expiresAt - now) / 1000));
  }
}
