// Traffic counters for $SYS and metrics: plain numbers incremented on the hot path.

export class Counters {
  messagesReceived = 0;
  messagesSent = 0;
  bytesReceived = 0;
  bytesSent = 0;
  messagesDropped = 0;
  connectionsAccepted = 0;
}
