// A minimal MQTT connection for the durability tests, on mqtt-packet (not the broker's own
// codec, so a codec bug cannot hide itself): connect, send packets, get every packet back
// through a callback. Session state (what is in flight, what was received) is kept by the
// callers, because it must outlive the connection: the broker is killed under it.

import { connect, type Socket } from 'node:net';
import mqttPacket, { type IConnackPacket, type Packet } from 'mqtt-packet';

export interface WireOptions {
  port: number;
  clientId: string;
  protocolVersion: 4 | 5;
  /** Clean session (3.1.1) / clean start (5.0). */
  clean: boolean;
  /** 5.0 Session Expiry Interval in seconds. */
  sessionExpiry?: number;
  /** Will message; `delaySeconds` is the 5.0 Will Delay Interval. */
  will?: { topic: string; payload: Buffer; qos: 0 | 1 | 2; retain?: boolean; delaySeconds?: number };
}

export class WireConnection {
  readonly protocolVersion: 4 | 5;
  private readonly socket: Socket;
  private closedFlag = false;

  private constructor(socket: Socket, protocolVersion: 4 | 5) {
    this.socket = socket;
    this.protocolVersion = protocolVersion;
  }

  /**
   * Opens a connection, sends CONNECT and waits for CONNACK; `onPacket` then sees every later
   * packet (with the connection: packets that came with the CONNACK arrive before `open`
   * resolves) and `onClose` the end of the connection (also when the broker is killed).
   */
  static open(options: WireOptions, onPacket: (packet: Packet, connection: WireConnection) => void, onClose: () => void, timeoutMs = 5000): Promise<{ connection: WireConnection; connack: IConnackPacket }> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: options.port });
      const connection = new WireConnection(socket, options.protocolVersion);
      const parser = mqttPacket.parser({ protocolVersion: options.protocolVersion });
      let connack: IConnackPacket | undefined;
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new Error(`${options.clientId}: no CONNACK within ${timeoutMs} ms`));
      }, timeoutMs);
      parser.on('packet', (packet: Packet) => {
        if (connack === undefined) {
          if (packet.cmd !== 'connack') {
            socket.destroy();
            reject(new Error(`${options.clientId}: expected CONNACK, got ${packet.cmd}`));
            return;
          }
          connack = packet;
          clearTimeout(timer);
          const code = packet.reasonCode ?? packet.returnCode ?? 0;
          if (code !== 0) {
            socket.destroy();
            reject(new Error(`${options.clientId}: connection refused (${code})`));
            return;
          }
          resolve({ connection, connack: packet });
          return;
        }
        onPacket(packet, connection);
      });
      parser.on('error', () => socket.destroy());
      socket.on('data', (chunk: Buffer) => parser.parse(chunk));
      socket.on('error', (error) => {
        if (connack === undefined) {
          clearTimeout(timer);
          reject(error);
        }
      });
      socket.on('close', () => {
        connection.closedFlag = true;
        if (connack === undefined) {
          clearTimeout(timer);
          reject(new Error(`${options.clientId}: closed before CONNACK`));
        } else {
          onClose();
        }
      });
      socket.once('connect', () => {
        connection.send({
          cmd: 'connect',
          clientId: options.clientId,
          protocolVersion: options.protocolVersion,
          protocolId: 'MQTT',
          clean: options.clean,
          keepalive: 0,
          properties: options.protocolVersion === 5 && options.sessionExpiry !== undefined ? { sessionExpiryInterval: options.sessionExpiry } : undefined,
          will:
            options.will === undefined
              ? undefined
              : {
                  topic: options.will.topic,
                  payload: options.will.payload,
                  qos: options.will.qos,
                  retain: options.will.retain ?? false,
                  properties: options.protocolVersion === 5 && options.will.delaySeconds !== undefined ? { willDelayInterval: options.will.delaySeconds } : undefined,
                },
        });
      });
    });
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  send(packet: Packet): void {
    if (this.closedFlag) return;
    this.socket.write(mqttPacket.generate(packet, { protocolVersion: this.protocolVersion }));
  }

  /** Closes without DISCONNECT (the session stays, and so would a will). */
  destroy(): void {
    this.socket.destroy();
  }

  /** Sends DISCONNECT and closes. */
  end(): void {
    this.send({ cmd: 'disconnect' });
    this.socket.end();
  }
}
