// Public API of the MQTT codec.
export { MqttProtocolError } from './errors.js';
export { PacketDecoder, MAX_PACKET_SIZE } from './decoder.js';
export type { DecoderOptions } from './decoder.js';
export { encodePacket, encodePublish } from './encoder.js';
export { PublishEncoder } from './publish-encoder.js';
export type { PublishHeaderOptions, PublishSource } from './publish-encoder.js';
export { isValidTopicName, isValidTopicFilter, isSharedSubscription, hasWildcard } from './validate.js';
export { PROPERTY_DEFINITIONS, PropertyDataType } from './properties.js';
export type { PropertyDefinition } from './properties.js';
export * from './packets.js';
export * from './reason-codes.js';
