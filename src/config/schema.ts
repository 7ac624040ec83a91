// The configuration schema: one file (YAML), PETREL_* environment variables and CLI flags
// all end up validated here. Unknown keys are errors so a typo never silently does nothing.

import { z } from 'zod';

const port = z.number().int().min(0).max(65535);
const positiveInt = z.number().int().positive();
const nonNegativeInt = z.number().int().nonnegative();

/** Upper bound of `workers` (and of what "auto" resolves to). */
export const maxWorkers = 64;

export const sharedStrategies = ['round-robin', 'random', 'sticky', 'hash-client', 'hash-topic'] as const;

const tlsOptions = {
  /** PEM files. */
  cert: z.string().optional(),
  key: z.string().optional(),
  ca: z.string().optional(),
  /** Ask for a client certificate (mTLS). */
  requestCert: z.boolean().default(false),
  /** With requestCert: refuse clients without a valid certificate. */
  rejectUnauthorized: z.boolean().default(true),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  ciphers: z.string().optional(),
  /** Use the client certificate's subject CN (or first SAN) as the user name. */
  certificateAsUsername: z.boolean().default(false),
};

export const listenerSchema = z
  .strictObject({
    type: z.enum(['tcp', 'tls', 'ws', 'wss']).default('tcp'),
    /** Optional name used in logs and metrics; defaults to "type:port". */
    name: z.string().optional(),
    host: z.string().default('0.0.0.0'),
    port,
    /** WebSocket path (ws/wss). */
    path: z.string().default('/mqtt'),
    /**
     * Accept queue length (listen backlog; Linux caps it at net.core.somaxconn). Node's 511 overflows
     * under connect bursts of thousands of devices: dropped SYNs are retried by clients after 1 s, 3 s...
     */
    backlog: positiveInt.max(65535).default(4096),
    /** Expect a PROXY protocol v1/v2 header before MQTT (tcp/tls). */
    proxyProtocol: z.boolean().default(false),
    /** Per-listener override of auth.anonymous. */
    allowAnonymous: z.boolean().optional(),
    ...tlsOptions,
  })
  .superRefine((listener, context) => {
    if ((listener.type === 'tls' || listener.type === 'wss') && (!listener.cert || !listener.key)) {
      context.addIssue({ code: 'custom', message: `a ${listener.type} listener needs cert and key`, path: ['cert'] });
    }
  });

export const configSchema = z.strictObject({
  listeners: z.array(listenerSchema).min(1).default(() => [listenerSchema.parse({ port: 1883 })]),
  storage: z
    .strictObject({
      mode: z.enum(['sync', 'async', 'memory']).default('sync'),
      dir: z.string().default('./data'),
      /** async mode: the longest a write may wait before it is flushed (the window of loss). */
      asyncFlushMs: positiveInt.default(50),
    })
    .prefault({}),
  auth: z
    .strictObject({
      anonymous: z.boolean().default(true),
      passwordFile: z.string().optional(),
      aclFile: z.string().optional(),
      /** What an ACL decides when no rule matches. */
      aclDefault: z.enum(['allow', 'deny']).default('allow'),
      /** The order authenticators are asked in. */
      chain: z.array(z.enum(['password-file', 'jwt', 'http', 'certificate'])).optional(),
      jwt: z
        .strictObject({
          secret: z.string().optional(),
          publicKeyFile: z.string().optional(),
          jwksFile: z.string().optional(),
          algorithms: z.array(z.string()).optional(),
          issuer: z.string().optional(),
          audience: z.string().optional(),
          /** Claim holding the ACL rules, if any. */
          aclClaim: z.string().default('acl'),
        })
        .optional(),
      http: z
        .strictObject({
          url: z.string().url(),
          timeoutMs: positiveInt.default(2000),
          cacheSize: nonNegativeInt.default(10000),
          cacheTtlMs: nonNegativeInt.default(60000),
          onError: z.enum(['allow', 'deny', 'next']).default('deny'),
        })
        .optional(),
      scram: z.strictObject({ enabled: z.boolean().default(false) }).optional(),
      /** Failed logins from one address before the back-off and ban. */
      failedLoginLimit: positiveInt.default(5),
      banSeconds: positiveInt.default(300),
    })
    .prefault({}),
  limits: z
    .strictObject({
      /** Largest packet accepted (and advertised as Maximum Packet Size on 5.0). */
      maxPacketSize: positiveInt.max(268435460).default(1048576),
      maxClientIdLength: positiveInt.max(65535).default(256),
      maxTopicLength: positiveInt.max(65535).default(4096),
      maxTopicLevels: positiveInt.default(64),
      /** Receive Maximum the broker advertises / inflight window for 3.1.1 clients. */
      receiveMaximum: positiveInt.max(65535).default(100),
      /** Outbound inflight window used for 3.1.1 clients (5.0 clients set theirs). */
      maxInflight: positiveInt.max(65535).default(100),
      /** Messages queued per session beyond the inflight window (QoS 1/2, and QoS 0 if queueQoS0). */
      maxQueuedMessages: positiveInt.default(1000),
      /** Bytes a client's socket may have buffered before QoS 0 messages to it are dropped. */
      maxSocketBufferBytes: positiveInt.default(1048576),
      maxSubscriptionsPerClient: positiveInt.default(1000),
      maxRetainedMessages: positiveInt.default(1000000),
      maxRetainedBytes: positiveInt.default(1073741824),
      /** Close sockets that have not sent CONNECT within this time. */
      connectTimeoutMs: positiveInt.default(10000),
      topicAliasMaximum: nonNegativeInt.max(65535).default(65535),
      /**
       * Cap on keepalive; 5.0 clients asking more (or 0) get Server Keep Alive. 0 = no cap.
       * Not applied to 3.1.1 clients: they cannot be told, and the server must use their value [MQTT-3.1.2-24].
       */
      maxKeepAlive: nonNegativeInt.max(65535).default(0),
      /** Cap on Session Expiry Interval in seconds. */
      maxSessionExpiry: nonNegativeInt.default(4294967295),
      /** Cap on Message Expiry Interval in seconds (0 = none). */
      maxMessageExpiry: nonNegativeInt.default(0),
    })
    .prefault({}),
  mqtt: z
    .strictObject({
      retainAvailable: z.boolean().default(true),
      wildcardSubscriptionAvailable: z.boolean().default(true),
      sharedSubscriptionAvailable: z.boolean().default(true),
      subscriptionIdentifiersAvailable: z.boolean().default(true),
      maximumQoS: z.union([z.literal(0), z.literal(1), z.literal(2)]).default(2),
      sharedSubscriptionStrategy: z.enum(sharedStrategies).default('round-robin'),
      /** Queue QoS 0 messages for offline persistent sessions too. */
      queueQoS0: z.boolean().default(false),
      /** Server Keep Alive sent to 5.0 clients (overrides theirs); unset = accept the client's. */
      serverKeepAlive: nonNegativeInt.max(65535).optional(),
      /** Redirect 5.0 clients: CONNACK 0x9C/0x9D with this Server Reference. */
      serverReference: z.string().optional(),
      serverMoved: z.boolean().default(false),
      /**
       * Response Information for 5.0 clients that set Request Response Information 1: the base of
       * their response topics. "{clientId}" is replaced by the client id; "" = never sent.
       */
      responseInformation: z.string().default('response/{clientId}'),
      /** Check that payloads marked UTF-8 (Payload Format Indicator 1) are valid UTF-8; 0x99 if not. Costs a scan of each such payload. */
      validateUtf8Payload: z.boolean().default(false),
      /** Seconds between $SYS updates (0 = off). */
      sysInterval: nonNegativeInt.default(10),
    })
    .prefault({}),
  http: z
    .strictObject({
      enabled: z.boolean().default(true),
      host: z.string().default('127.0.0.1'),
      port: port.default(8080),
    })
    .prefault({}),
  /**
   * Worker processes: 1 is the single-process broker; N > 1 runs a primary and N workers sharing
   * the listeners; "auto" is one per core (see worker-count.ts).
   */
  workers: z.union([positiveInt.max(maxWorkers), z.literal('auto')]).default('auto'),
  log: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      pretty: z.boolean().default(false),
    })
    .prefault({}),
});

export type PetrelConfig = z.infer<typeof configSchema>;
export type ListenerConfig = PetrelConfig['listeners'][number];
export type SharedStrategy = (typeof sharedStrategies)[number];

/** A fully defaulted configuration (what `petrel start` uses with no file). */
export function defaultConfig(overrides: unknown = {}): PetrelConfig {
  return configSchema.parse(overrides);
}
