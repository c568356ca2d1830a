/**
 * Streams: append-only logs split into partitions, read by offset or timestamp, with group offsets,
 * retention, and a queue face for AMQP stream queues. The vhost reaches them only through
 * `createStreamRegistry`; protocol adapters add entry formats with `registerEntryFormat`.
 */
export {
  type EntryCompactor,
  type EntryConverter,
  type KeyedRecord,
  type OffsetMessage,
  registerEntryCompactor,
  registerEntryFormat,
  unregisterEntryFormat,
} from './formats.js';
export { compactionCheckMs, createStreamRegistry, retentionIntervalMs } from './registry.js';
