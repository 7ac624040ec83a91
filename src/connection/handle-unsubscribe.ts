// UNSUBSCRIBE: remove each filter; UNSUBACK always, 5.0 with a code per filter [MQTT-3.10.4-5].

import type { UnsubscribePacket } from '../protocol/packets.js';
import { ReasonCode } from '../protocol/reason-codes.js';
import type { Connection } from './connection.js';

export function handleUnsubscribe(connection: Connection, packet: UnsubscribePacket): void {
  const broker = connection.broker;
  const session = connection.session!;
  const reasonCodes = packet.topicFilters.map((filter) => {
    // [MQTT-3.10.4-1] the filter is compared character by character
    if (!session.subscriptions.delete(filter)) return ReasonCode.NoSubscriptionExisted;
    broker.router.index.unsubscribe(session.clientId, filter);
    broker.hooks.unsubscribed(connection.client, filter);
    return ReasonCode.Success;
  });
  session.persist();
  // [MQTT-3.10.4-4] UNSUBACK even when nothing was removed, with the same packet id
  connection.send({ type: 'unsuback', packetId: packet.packetId, reasonCodes: connection.protocolVersion === 5 ? reasonCodes : [] });
}
