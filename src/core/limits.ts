/**
 * Default bounds for core. Every limit has a name with its unit last; the config schema exposes them
 * and `resolveLimits` fills whatever a caller leaves out.
 */
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { CoreLimits } from './api.js';

const mebibyte = 1024 * 1024;

export const coreLimitsDefault: CoreLimits = {
  queuesMax: 100_000,
  exchangesMax: 100_000,
  bindingsMax: 1_000_000,
  // A consumer of a paged-out backlog needs one read-ahead run (256 KiB of bodies, ~320 KB charged)
  // per queue it drains; 4 MiB serves a dozen at once, and beyond it durable queues read bodies back
  // from their log (page cache) in runs sized by the room left. Each cached MiB cost ~3 MiB of RSS
  // under a fill (docs/performance.md, "Durable backlog footprint").
  bodyCacheBytesMax: 4 * mebibyte,
  // RabbitMQ's default max_message_size is 128 MiB too, so clients tuned for it keep working.
  messageBytesMax: 128 * mebibyte,
  streamPartitionsMax: 10_000,
  // Kafka bounds neither, only expires them (producer.id.expiration.ms, transactional.id.expiration.ms):
  // one client made 100,000 of each in about a minute, each kept durably (docs/conformance.md,
  // "Producer ids, transactional ids and fetch sessions one client makes").
  producerIdsMax: 200_000,
  transactionalIdsMax: 100_000,
  // Kafka's default, 7 days. Before, offsets and their groups were kept for good: one client's
  // OffsetCommit to 16,500 new group ids held 178 MiB (docs/conformance.md, "Kafka state one client makes").
  offsetsRetentionMinutes: 7 * 24 * 60,
  // A moment, as RabbitMQ's auth cache (15 s): long enough for a reconnect storm, short enough that a
  // memory dump finds few credentials checkable by a cheap HMAC instead of scrypt.
  loginCacheTtlMs: 15_000,
  loginCacheEntriesMax: 10_000,
  // Retained messages live in memory (and their log): without a bound in bytes, one client retaining
  // 1 MiB messages on new topics grew the broker up to the memory alarm, which then held back every
  // publisher, and the set came back at the next start.
  retainedBytesMax: 256 * mebibyte,
};

/** Fills missing limits with defaults; rejects values that are not positive safe integers. */
export function resolveLimits(partial: Partial<CoreLimits> = {}): CoreLimits {
  const limits: CoreLimits = { ...coreLimitsDefault };
  for (const key of Object.keys(coreLimitsDefault) as Array<keyof CoreLimits>) {
    const value = partial[key];
    if (value === undefined) continue;
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw brokerError(ErrorCode.invalidArgument, `Limit ${key} must be a positive integer, got ${value}`);
    }
    limits[key] = value;
  }
  return limits;
}
