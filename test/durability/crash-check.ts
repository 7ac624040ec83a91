// What the crash test requires of the deliveries, as a list of violations (empty = passed):
// every acknowledged message reaches every subscriber, at least once for QoS 1 and exactly
// once for QoS 2, in order per publisher and topic (a re-delivery of an earlier message is
// allowed for QoS 1; a new message overtaking an earlier acknowledged one is not).

import type { CrashPublisher, CrashSubscriber } from './crash-clients.js';

export function missingDeliveries(publishers: CrashPublisher[], subscribers: CrashSubscriber[]): number {
  let missing = 0;
  for (const subscriber of subscribers) {
    for (const publisher of publishers) {
      for (const { topic, retain } of publisher.topics) {
        if (retain) continue;
        const received = new Set(subscriber.received.get(topic) ?? []);
        for (const seq of publisher.acknowledged.get(topic)!) if (!received.has(seq)) missing++;
      }
    }
  }
  return missing;
}

export function deliveryViolations(publishers: CrashPublisher[], subscribers: CrashSubscriber[]): string[] {
  const violations: string[] = [];
  for (const subscriber of subscribers) {
    if (subscriber.sessionLosses > 0) violations.push(`${subscriber.clientId}: session lost ${subscriber.sessionLosses} time(s) after it was durable`);
    for (const publisher of publishers) {
      for (const { topic, qos, retain } of publisher.topics) {
        if (retain) continue;
        const acknowledged = publisher.acknowledged.get(topic)!;
        const received = subscriber.received.get(topic) ?? [];
        const counts = new Map<number, number>();
        for (const seq of received) counts.set(seq, (counts.get(seq) ?? 0) + 1);
        const missing = [...acknowledged].filter((seq) => !counts.has(seq)).sort((left, right) => left - right);
        if (missing.length > 0) violations.push(`${subscriber.clientId} <- ${topic}: ${missing.length} acknowledged message(s) never delivered: ${summarize(missing)}`);
        if (qos === 2) {
          const duplicated = [...counts].filter(([seq, count]) => count > 1 && acknowledged.has(seq)).map(([seq]) => seq);
          if (duplicated.length > 0) violations.push(`${subscriber.clientId} <- ${topic}: QoS 2 message(s) delivered more than once: ${summarize(duplicated)}`);
        }
        const seen = new Set<number>();
        let highest = 0;
        for (const seq of received) {
          if (!acknowledged.has(seq) || seen.has(seq)) continue;
          if (seq < highest) violations.push(`${subscriber.clientId} <- ${topic}: ${seq} delivered after ${highest} (out of order)`);
          seen.add(seq);
          highest = Math.max(highest, seq);
        }
      }
    }
  }
  for (const publisher of publishers) {
    if (publisher.sessionLosses > 0) violations.push(`${publisher.clientId}: session lost ${publisher.sessionLosses} time(s) after an acknowledgement`);
    if (publisher.refused > 0) violations.push(`${publisher.clientId}: ${publisher.refused} publish(es) refused by the broker`);
  }
  return violations;
}

/** Retained topics whose value after a restart is older than the last acknowledged one (or was never sent). */
export function retainedViolations(publishers: CrashPublisher[], found: Map<string, number>): string[] {
  const violations: string[] = [];
  for (const publisher of publishers) {
    for (const { topic, retain } of publisher.topics) {
      if (!retain) continue;
      const acknowledged = [...publisher.acknowledged.get(topic)!];
      if (acknowledged.length === 0) continue;
      const lastAcknowledged = Math.max(...acknowledged);
      const value = found.get(topic);
      const lastSent = publisher.lastSent.get(topic) ?? 0;
      if (value === undefined) violations.push(`retained ${topic}: missing (last acknowledged ${lastAcknowledged})`);
      else if (value < lastAcknowledged || value > lastSent) violations.push(`retained ${topic}: ${value}, expected ${lastAcknowledged}..${lastSent}`);
    }
  }
  return violations;
}

function summarize(values: number[]): string {
  return values.length <= 10 ? values.join(', ') : `${values.slice(0, 10).join(', ')} … (${values.length})`;
}
