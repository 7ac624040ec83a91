// Cluster-wide statistics for $SYS: what adds up over workers is summed; retained messages are
// replicated (every worker holds them all) and uptime is the reporting worker's own.

import type { BrokerStats } from '../broker/broker.js';

const summedStats = [
  'clientsConnected',
  'clientsDisconnected',
  'clientsTotal',
  'connectionsOpen',
  'messagesReceived',
  'messagesSent',
  'messagesDropped',
  'bytesReceived',
  'bytesSent',
  'subscriptionsCount',
] as const satisfies ReadonlyArray<keyof BrokerStats>;

export function sumStats(local: BrokerStats, others: Iterable<BrokerStats>): BrokerStats {
  const total = { ...local };
  for (const stats of others) {
    for (const key of summedStats) total[key] += stats[key];
  }
  return total;
}
