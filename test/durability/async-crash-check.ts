// What the async-mode crash test requires (docs/architecture-store.md, "Window of loss"): a
// kill may lose the mutations of the last `asyncFlushMs` (plus the commit in progress), so a
// message the broker took (PUBACK, or PUBREC for QoS 2) within that window before a kill, or
// while the broker was down, may be missing. Nothing else is relaxed (the sync contract): every
// message taken outside the window reaches every subscriber; what arrives arrives in order and,
// for QoS 2, once. Lost mutations only roll the store back to an earlier committed state, so a
// retained value never goes back past one read after an earlier restart either.

import type { CrashPublisher, CrashSubscriber } from './crash-clients.js';

/** One SIGKILL: sent at `killedAt`; the new broker accepted connections at `restartedAt`. */
export interface KillInterval {
  killedAt: number;
  restartedAt: number;
}

/** True if a message taken at `takenAt` may have been lost by one of the kills. */
export function inLossWindow(takenAt: number, kills: KillInterval[], lossWindowMs: number): boolean {
  return kills.some((kill) => takenAt >= kill.killedAt - lossWindowMs && takenAt <= kill.restartedAt);
}

/** Acknowledged messages of a topic the store must not lose (taken outside every loss window). */
export function requiredSeqs(publisher: CrashPublisher, topic: string, kills: KillInterval[], lossWindowMs: number): number[] {
  const takenAt = publisher.takenAt.get(topic)!;
  return [...publisher.acknowledged.get(topic)!].filter((seq) => !inLossWindow(takenAt.get(seq)!, kills, lossWindowMs)).sort((left, right) => left - right);
}

/** Required messages not yet delivered to every subscriber (to wait for the drain). */
export function missingRequired(publishers: CrashPublisher[], subscribers: CrashSubscriber[], kills: KillInterval[], lossWindowMs: number): number {
  let missing = 0;
  for (const publisher of publishers) {
    for (const { topic, retain } of publisher.topics) {
      if (retain) continue;
      const required = requiredSeqs(publisher, topic, kills, lossWindowMs);
      for (const subscriber of subscribers) {
        const received = new Set(subscriber.received.get(topic) ?? []);
        missing += required.filter((seq) => !received.has(seq)).length;
      }
    }
  }
  return missing;
}

export interface AsyncOutcome {
  /** Sessions, refusals, QoS 1 deliveries. */
  violations: string[];
  /** QoS 2 deliveries and packet identifiers. */
  qos2Violations: string[];
  /** Acknowledged (message, subscriber) pairs checked for delivery. */
  required: number;
  /** Acknowledged messages taken inside a loss window, per (message, subscriber) pair. */
  inWindow: number;
  /** Of those, how many never arrived (what async mode lost, within its contract). */
  lostInWindow: number;
}

export function asyncDeliveryOutcome(publishers: CrashPublisher[], subscribers: CrashSubscriber[], kills: KillInterval[], lossWindowMs: number): AsyncOutcome {
  const outcome: AsyncOutcome = { violations: [], qos2Violations: [], required: 0, inWindow: 0, lostInWindow: 0 };
  const violations = outcome.violations;
  for (const subscriber of subscribers) {
    if (subscriber.sessionLosses > 0) violations.push(`${subscriber.clientId}: session lost ${subscriber.sessionLosses} time(s) after it was durable`);
    // [MQTT-2.2.1-3] an id is free again only once its exchange is complete (PUBCOMP)
    if (subscriber.reusedPacketIds > 0) outcome.qos2Violations.push(`${subscriber.clientId}: ${subscriber.reusedPacketIds} QoS 2 PUBLISH(es) under a packet id the subscriber had not released (broker lost the earlier exchange)`);
    for (const publisher of publishers) {
      for (const { topic, qos, retain } of publisher.topics) {
        if (retain) continue;
        const sink = qos === 2 ? outcome.qos2Violations : violations;
        const acknowledged = publisher.acknowledged.get(topic)!;
        const required = new Set(requiredSeqs(publisher, topic, kills, lossWindowMs));
        const received = subscriber.received.get(topic) ?? [];
        const counts = new Map<number, number>();
        for (const seq of received) counts.set(seq, (counts.get(seq) ?? 0) + 1);
        outcome.required += required.size;
        outcome.inWindow += acknowledged.size - required.size;
        for (const seq of acknowledged) if (!required.has(seq) && !counts.has(seq)) outcome.lostInWindow++;
        const missing = [...required].filter((seq) => !counts.has(seq));
        if (missing.length > 0) sink.push(`${subscriber.clientId} <- ${topic}: ${missing.length} message(s) acknowledged outside the loss window never delivered: ${summarize(missing)}`);
        if (qos === 2) {
          const duplicated = [...counts].filter(([seq, count]) => count > 1 && acknowledged.has(seq)).map(([seq]) => seq);
          if (duplicated.length > 0) sink.push(`${subscriber.clientId} <- ${topic}: QoS 2 message(s) delivered more than once: ${summarize(duplicated)}`);
        }
        const seen = new Set<number>();
        let highest = 0;
        for (const seq of received) {
          if (!acknowledged.has(seq) || seen.has(seq)) continue;
          if (seq < highest) sink.push(`${subscriber.clientId} <- ${topic}: ${seq} delivered after ${highest} (out of order)`);
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
  return outcome;
}

/**
 * Retained values read after a restart: at least the last one taken outside the loss window,
 * never older than what was read after an earlier restart, never a value that was not sent.
 */
export function asyncRetainedViolations(publishers: CrashPublisher[], found: Map<string, number>, previous: Map<string, number>, kills: KillInterval[], lossWindowMs: number): string[] {
  const violations: string[] = [];
  for (const publisher of publishers) {
    for (const { topic, retain } of publisher.topics) {
      if (!retain) continue;
      const required = requiredSeqs(publisher, topic, kills, lossWindowMs);
      const floor = Math.max(required.at(-1) ?? 0, previous.get(topic) ?? 0);
      const value = found.get(topic);
      const lastSent = publisher.lastSent.get(topic) ?? 0;
      if (value === undefined) {
        if (floor > 0) violations.push(`retained ${topic}: missing (expected at least ${floor})`);
      } else if (value < floor || value > lastSent) {
        violations.push(`retained ${topic}: ${value}, expected ${floor}..${lastSent}`);
      }
    }
  }
  return violations;
}

function summarize(values: number[]): string {
  return values.length <= 10 ? values.join(', ') : `${values.slice(0, 10).join(', ')} … (${values.length})`;
}
