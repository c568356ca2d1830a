/** The Kafka wire codec: pure functions over bytes, no sockets and no broker state. */
export * from '../../../shared/crc32c.js';
export * from './engine.js';
export * from './errors.js';
export * from './frame.js';
export * from './generated/index.js';
export * from './header.js';
export * from './message-set.js';
export * from './primitives.js';
export * from './produce-answer.js';
export * from './record-batch.js';
export * from './schema.js';
