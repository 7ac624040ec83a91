// SUBSCRIBE: per-filter checks and authorization, SUBACK, then retained messages per
// Retain Handling.

import { isPromise } from '../broker/hook-runner.js';
import type { QoS, SubscribePacket, Subscription } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { SubscriptionRecord } from '../store/store.js';
import { hasWildcard, isValidTopicFilter, parseSharedFilter } from '../topics/topic-validation.js';
import type { Connection } from './connection.js';
import { violation } from './violation.js';

export function handleSubscribe(connection: Connection, packet: SubscribePacket): void | Promise<void> {
  const { limits, mqtt } = connection.broker.config;
  const subscriptionIdentifier = packet.properties?.subscriptionIdentifiers?.[0];
  if (subscriptionIdentifier !== undefined && !mqtt.subscriptionIdentifiersAvailable) {
    // Subscription Identifiers Available was 0 in CONNACK: a SUBSCRIBE carrying one is refused (5.0 §3.8.2.1.2)
    throw violation(ReasonCode.SubscriptionIdentifiersNotSupported, 'SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED', 'subscription identifiers not supported', 'subscribe');
  }
  const topicLimits = { maxLength: limits.maxTopicLength, maxLevels: limits.maxTopicLevels };
  // Per filter: a failure code, or a decision (maybe pending) of the authorizers.
  const decisions: Array<number | boolean | Promise<boolean>> = packet.subscriptions.map((subscription) => {
    const filter = subscription.topicFilter;
    if (!isValidTopicFilter(filter, topicLimits)) return ReasonCode.TopicFilterInvalid;
    const shared = parseSharedFilter(filter);
    if (shared !== undefined) {
      if (!mqtt.sharedSubscriptionAvailable) return ReasonCode.SharedSubscriptionsNotSupported;
      // [MQTT-3.8.3-4] No Local on a shared subscription is a protocol error
      if (subscription.noLocal && connection.protocolVersion === 5) {
        throw violation(ReasonCode.ProtocolError, 'NO_LOCAL_ON_SHARED', 'no local on a shared subscription', 'subscribe');
      }
    }
    if (!mqtt.wildcardSubscriptionAvailable && hasWildcard(shared?.filter ?? filter)) return ReasonCode.WildcardSubscriptionsNotSupported;
    return connection.broker.hooks.authorizeSubscribe(connection.client, subscription);
  });
  if (decisions.some((decision) => isPromise<boolean>(decision))) {
    return Promise.all(decisions).then((settled) => finishSubscribe(connection, packet, settled, subscriptionIdentifier));
  }
  return finishSubscribe(connection, packet, decisions as Array<number | boolean>, subscriptionIdentifier);
}

function finishSubscribe(connection: Connection, packet: SubscribePacket, decisions: Array<number | boolean>, subscriptionIdentifier: number | undefined): void | Promise<void> {
  if (connection.state === 'closed') return;
  const broker = connection.broker;
  const session = connection.session!;
  const version = connection.protocolVersion;
  const reasonCodes: number[] = [];
  const retainedFor: Array<{ record: SubscriptionRecord }> = [];
  packet.subscriptions.forEach((subscription, index) => {
    let decision = decisions[index]!;
    if (decision === false) decision = ReasonCode.NotAuthorized;
    const filter = subscription.topicFilter;
    const existed = session.subscriptions.has(filter);
    if (decision === true && !existed && session.subscriptions.size >= broker.config.limits.maxSubscriptionsPerClient) {
      decision = ReasonCode.QuotaExceeded;
    }
    if (decision !== true) {
      // 3.1.1 SUBACK has a single failure code, 0x80
      reasonCodes.push(version === 5 ? decision : 0x80);
      return;
    }
    // The granted QoS may be lower than requested (Maximum QoS)
    const granted = Math.min(subscription.qos, broker.config.mqtt.maximumQoS) as QoS;
    const record: SubscriptionRecord = {
      topicFilter: filter,
      qos: granted,
      noLocal: subscription.noLocal,
      retainAsPublished: subscription.retainAsPublished,
      retainHandling: subscription.retainHandling,
      subscriptionIdentifier,
    };
    // [MQTT-3.8.4-3] a subscription to the same filter replaces the previous one
    session.subscriptions.set(filter, record);
    broker.router.index.subscribe(session.clientId, filter, record);
    reasonCodes.push(granted);
    broker.hooks.subscribed(connection.client, subscription as Subscription, granted);
    // Retain Handling: 0 always, 1 only for a new subscription, 2 never; never for shared subscriptions.
    const wanted = record.retainHandling === 0 || (record.retainHandling === 1 && !existed);
    if (wanted && broker.config.mqtt.retainAvailable && parseSharedFilter(filter) === undefined) retainedFor.push({ record });
  });
  session.persist();
  // Multi-process mode: SUBACK once every worker routes the new subscriptions here.
  const propagated = broker.cluster?.routesPropagated();
  if (propagated !== undefined) {
    return propagated.then(() => {
      if (connection.state !== 'closed') acknowledgeSubscribe(connection, packet, reasonCodes, retainedFor);
    });
  }
  acknowledgeSubscribe(connection, packet, reasonCodes, retainedFor);
}

function acknowledgeSubscribe(connection: Connection, packet: SubscribePacket, reasonCodes: number[], retainedFor: Array<{ record: SubscriptionRecord }>): void {
  const broker = connection.broker;
  const session = connection.session!;
  // [MQTT-3.8.4-1] SUBACK with the same packet id, [MQTT-3.8.4-6] one code per filter, in order
  connection.send({ type: 'suback', packetId: packet.packetId, reasonCodes });
  for (const { record } of retainedFor) {
    broker.retained.match(record.topicFilter, (message) => {
      // [MQTT-3.3.1-9] retained messages sent for a new subscription carry RETAIN=1
      session.deliver(message, {
        qos: Math.min(message.stored.qos, record.qos) as QoS,
        retain: true,
        subscriptionIdentifiers: record.subscriptionIdentifier === undefined ? undefined : [record.subscriptionIdentifier],
      });
    });
  }
}
