// Small Paho Python (python3-paho-mqtt 1.6, Debian) programs driven by a JSON argument; they
// print one JSON object per line so the tests can follow them.

import { PYTHON, run, type ChildRun } from './child-runner.js';

const PRELUDE = `
import json, sys, threading
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.subscribeoptions import SubscribeOptions

cfg = json.loads(sys.argv[1])
v5 = cfg['version'] == 5

def out(obj):
    print(json.dumps(obj), flush=True)

def code(rc):
    return rc.value if hasattr(rc, 'value') else int(rc)

def make_client():
    if v5:
        return mqtt.Client(client_id=cfg['clientId'], protocol=mqtt.MQTTv5)
    return mqtt.Client(client_id=cfg['clientId'], protocol=mqtt.MQTTv311, clean_session=cfg.get('clean', True))

def connect(client):
    connected = threading.Event()
    def on_connect(c, userdata, flags, rc, properties=None):
        out({'event': 'connack', 'sessionPresent': bool(flags.get('session present')), 'rc': code(rc)})
        connected.set()
    client.on_connect = on_connect
    if v5:
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.get('sessionExpiry', 0)
        client.connect('127.0.0.1', cfg['port'], 30, clean_start=cfg.get('clean', True), properties=props)
    else:
        client.connect('127.0.0.1', cfg['port'], 30)
    client.loop_start()
    if not connected.wait(10):
        out({'event': 'error', 'message': 'no CONNACK'})
        sys.exit(2)
`;

/**
 * cfg: { version, port, clientId, clean?, sessionExpiry?, subscriptions: [[filter, qos]], count? }
 * Prints connack, suback, then each message; exits after `count` messages, or when stdin closes.
 */
const SUBSCRIBER = `${PRELUDE}
client = make_client()
received = []
done = threading.Event()
subscribed = threading.Event()

def on_message(c, userdata, msg):
    entry = {'event': 'message', 'topic': msg.topic, 'qos': msg.qos, 'retain': bool(msg.retain), 'dup': bool(msg.dup), 'payload': msg.payload.decode('utf-8', 'replace')}
    props = getattr(msg, 'properties', None)
    if props is not None:
        for name in ('UserProperty', 'ContentType', 'ResponseTopic', 'MessageExpiryInterval', 'PayloadFormatIndicator', 'SubscriptionIdentifier'):
            if hasattr(props, name):
                entry[name] = getattr(props, name)
        if hasattr(props, 'CorrelationData'):
            entry['CorrelationData'] = props.CorrelationData.decode('utf-8', 'replace')
    out(entry)
    received.append(entry)
    if cfg.get('count') and len(received) >= cfg['count']:
        done.set()

def on_subscribe(c, userdata, mid, granted, properties=None):
    out({'event': 'suback', 'granted': [code(g) for g in granted]})
    subscribed.set()

client.on_message = on_message
client.on_subscribe = on_subscribe
connect(client)
if cfg['subscriptions']:
    if v5:
        client.subscribe([(f, SubscribeOptions(qos=q)) for f, q in cfg['subscriptions']])
    else:
        client.subscribe([(f, q) for f, q in cfg['subscriptions']])
    subscribed.wait(10)
if cfg.get('count'):
    done.wait(10)
else:
    sys.stdin.read()
client.disconnect()
client.loop_stop()
`;

/**
 * cfg: { version, port, clientId, messages: [{ topic, payload, qos, retain?, properties? }] }
 * properties: { userProperties: [[k, v]], contentType, responseTopic, correlationData, messageExpiryInterval, payloadFormatIndicator }
 * Waits for each publish to complete (PUBACK, or PUBCOMP for QoS 2) before the next.
 */
const PUBLISHER = `${PRELUDE}
client = make_client()
connect(client)
for m in cfg['messages']:
    props = None
    p = m.get('properties')
    if v5 and p:
        props = Properties(PacketTypes.PUBLISH)
        for k, v in p.get('userProperties', []):
            props.UserProperty = (k, v)
        if 'contentType' in p: props.ContentType = p['contentType']
        if 'responseTopic' in p: props.ResponseTopic = p['responseTopic']
        if 'correlationData' in p: props.CorrelationData = p['correlationData'].encode()
        if 'messageExpiryInterval' in p: props.MessageExpiryInterval = p['messageExpiryInterval']
        if 'payloadFormatIndicator' in p: props.PayloadFormatIndicator = p['payloadFormatIndicator']
    info = client.publish(m['topic'], m['payload'], qos=m['qos'], retain=m.get('retain', False), properties=props)
    info.wait_for_publish(10)
    out({'event': 'published', 'topic': m['topic'], 'complete': info.is_published()})
client.disconnect()
client.loop_stop()
`;

export interface PahoMessage {
  event: 'message';
  topic: string;
  qos: number;
  retain: boolean;
  dup: boolean;
  payload: string;
  UserProperty?: Array<[string, string]>;
  ContentType?: string;
  ResponseTopic?: string;
  CorrelationData?: string;
  MessageExpiryInterval?: number;
  PayloadFormatIndicator?: number;
}

export interface PahoSubscriberConfig {
  version: 4 | 5;
  port: number;
  clientId: string;
  clean?: boolean;
  sessionExpiry?: number;
  subscriptions: Array<[string, 0 | 1 | 2]>;
  count?: number;
}

export interface PahoPublisherConfig {
  version: 4 | 5;
  port: number;
  clientId: string;
  messages: Array<{ topic: string; payload: string; qos: 0 | 1 | 2; retain?: boolean; properties?: Record<string, unknown> }>;
}

export function pahoSubscriber(config: PahoSubscriberConfig): ChildRun {
  return run(PYTHON, ['-c', SUBSCRIBER, JSON.stringify(config)]);
}

export function pahoPublisher(config: PahoPublisherConfig): ChildRun {
  return run(PYTHON, ['-c', PUBLISHER, JSON.stringify(config)]);
}

/** The JSON events a paho program printed. */
export function events(child: ChildRun): Array<Record<string, unknown>> {
  return child
    .lines()
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

export function pahoMessages(child: ChildRun): PahoMessage[] {
  return events(child).filter((event): event is PahoMessage & Record<string, unknown> => event.event === 'message');
}
