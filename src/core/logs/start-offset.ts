/**
 * Where a stream reader starts, from an offset spec (AMQP `x-stream-offset`, Kafka ListOffsets).
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { StreamPartition } from '../api.js';
import type { StreamOffsetSpec } from '../types.js';

/** First offset of the newest entry, so a batch or a multi-offset entry is read whole; end when empty. */
function lastEntryOffset(partition: StreamPartition): number {
  const end = partition.endOffset;
  if (end <= partition.startOffset) return end;
  const [entry] = partition.read(end - 1, { maxEntries: 1 });
  return entry === undefined ? end : entry.offset;
}

/**
 * Offsets before the start are served from the start and offsets past the end wait at the end,
 * as RabbitMQ does for `x-stream-offset` values outside the stream.
 */
export function resolveStartOffset(partition: StreamPartition, spec: StreamOffsetSpec): number {
  if (spec === 'first') return partition.startOffset;
  if (spec === 'next') return partition.endOffset;
  if (spec === 'last') return lastEntryOffset(partition);
  if ('offset' in spec) {
    if (!Number.isSafeInteger(spec.offset) || spec.offset < 0) {
      throw brokerError(
        ErrorCode.invalidArgument,
        `Stream offset must be a non-negative integer, got ${spec.offset}`,
      );
    }
    return Math.min(Math.max(spec.offset, partition.startOffset), partition.endOffset);
  }
  if (!Number.isFinite(spec.timestamp)) {
    throw brokerError(ErrorCode.invalidArgument, `Stream timestamp must be a number, got ${spec.timestamp}`);
  }
  return Math.max(partition.offsetForTimestamp(spec.timestamp), partition.startOffset);
}
