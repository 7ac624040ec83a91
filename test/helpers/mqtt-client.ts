// MQTT.js helpers: connect with promises and collect messages.

import mqtt, { type IClientOptions, type MqttClient, type IPublishPacket } from 'mqtt';

export async function connectClient(url: string, options: IClientOptions = {}, beforeConnect?: (client: MqttClient) => void): Promise<MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 3000, ...options });
  beforeConnect?.(client);
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
    client.once('close', () => reject(new Error('closed before connect')));
  });
  client.removeAllListeners('error');
  client.on('error', () => {});
  return client;
}

export interface ReceivedMessage {
  topic: string;
  payload: string;
  packet: IPublishPacket;
}

/** Collects messages; `wait(n)` resolves when at least n arrived. */
export function collect(client: MqttClient): { messages: ReceivedMessage[]; wait(count: number, timeoutMs?: number): Promise<ReceivedMessage[]> } {
  const messages: ReceivedMessage[] = [];
  let waiters: Array<() => void> = [];
  client.on('message', (topic, payload, packet) => {
    messages.push({ topic, payload: payload.toString(), packet });
    const current = waiters;
    waiters = [];
    for (const waiter of current) waiter();
  });
  return {
    messages,
    async wait(count: number, timeoutMs = 2000) {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < count) {
        const left = deadline - Date.now();
        if (left <= 0) throw new Error(`expected ${count} messages, got ${messages.length}`);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, left);
          waiters.push(() => {
            clearTimeout(timer);
            resolve();
          });
        });
      }
      return messages;
    },
  };
}

export function closeClient(client: MqttClient): Promise<void> {
  return new Promise((resolve) => client.end(true, {}, () => resolve()));
}

export const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Connects with a message collector attached before CONNACK (for messages sent right after it). */
export async function connectCollecting(url: string, options: IClientOptions = {}): Promise<{ client: MqttClient; inbox: ReturnType<typeof collect> }> {
  let inbox: ReturnType<typeof collect> | undefined;
  const client = await connectClient(url, options, (created) => {
    inbox = collect(created);
  });
  return { client, inbox: inbox! };
}
