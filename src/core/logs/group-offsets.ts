/**
 * Committed offsets of consumer groups (Kafka OffsetCommit/OffsetFetch, KubeMQ store reads). One meta
 * key per (group, stream, partition), so each commit is one atomic `put`; the value repeats the
 * stream and partition so listings never parse keys back.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { MetaStore } from '../../storage/types.js';
import type { GroupOffset } from '../api.js';
import { offsetKey, offsetKeyPrefix } from './names.js';

/** Kafka's default `offset.metadata.max.bytes` is 4096; characters are a close enough bound. */
export const offsetMetadataCharsMax = 4096;
export const groupNameCharsMax = 1024;

interface StoredOffset {
  readonly stream: string;
  readonly partition: number;
  readonly offset: number;
  readonly metadata: string;
  readonly committedAt: number;
  readonly leaderEpoch?: number;
}

export interface GroupOffsetRow {
  stream: string;
  partition: number;
  offset: GroupOffset;
}

function isStoredOffset(value: unknown): value is StoredOffset {
  if (typeof value !== 'object' || value === null) return false;
  const { stream, partition, offset, metadata, committedAt, leaderEpoch } = value as Record<string, unknown>;
  return (
    typeof stream === 'string' &&
    typeof partition === 'number' &&
    typeof offset === 'number' &&
    typeof metadata === 'string' &&
    typeof committedAt === 'number' &&
    (leaderEpoch === undefined || typeof leaderEpoch === 'number')
  );
}

function toRow(value: StoredOffset): GroupOffsetRow {
  const { stream, partition, ...offset } = value;
  return { stream, partition, offset: pickOffset(offset) };
}

export class GroupOffsets {
  readonly #vhost: string;
  readonly #meta: MetaStore;

  constructor(vhost: string, meta: MetaStore) {
    this.#vhost = vhost;
    this.#meta = meta;
  }

  commit(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void> {
    checkGroup(group);
    checkOffset(offset);
    const stored: StoredOffset = { stream, partition, ...pickOffset(offset) };
    return this.#meta.put(offsetKey(this.#vhost, group, stream, partition), stored);
  }

  fetch(group: string, stream: string, partition: number): GroupOffset | undefined {
    const value = this.#meta.get(offsetKey(this.#vhost, group, stream, partition));
    return isStoredOffset(value) ? toRow(value).offset : undefined;
  }

  list(group: string): GroupOffsetRow[] {
    const rows: GroupOffsetRow[] = [];
    for (const [, value] of this.#meta.entries(offsetKeyPrefix(this.#vhost, group))) {
      if (isStoredOffset(value)) rows.push(toRow(value));
    }
    return rows;
  }

  async deleteGroup(group: string): Promise<void> {
    const keys = this.#meta.entries(offsetKeyPrefix(this.#vhost, group)).map(([key]) => key);
    await Promise.all(keys.map((key) => this.#meta.delete(key)));
  }

  /** Every group's offsets on `stream` (when the stream is deleted). */
  async deleteStream(stream: string): Promise<void> {
    const keys: string[] = [];
    for (const [key, value] of this.#meta.entries(offsetKeyPrefix(this.#vhost))) {
      if (isStoredOffset(value) && value.stream === stream) keys.push(key);
    }
    await Promise.all(keys.map((key) => this.#meta.delete(key)));
  }
}

/** Only the declared fields are stored, whatever else the caller's object carries. */
function pickOffset(offset: GroupOffset): GroupOffset {
  const { leaderEpoch } = offset;
  return {
    offset: offset.offset,
    metadata: offset.metadata,
    committedAt: offset.committedAt,
    ...(leaderEpoch === undefined ? {} : { leaderEpoch }),
  };
}

function checkGroup(group: string): void {
  if (group.length > groupNameCharsMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Group name must have at most ${groupNameCharsMax} characters`,
    );
  }
}

function checkOffset(offset: GroupOffset): void {
  // Kafka clients commit -1 to mean "no position"; anything lower is a bug.
  if (!Number.isSafeInteger(offset.offset) || offset.offset < -1) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Committed offset must be an integer >= -1, got ${offset.offset}`,
    );
  }
  if (offset.metadata.length > offsetMetadataCharsMax) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Offset metadata exceeds ${offsetMetadataCharsMax} characters`,
    );
  }
  if (offset.leaderEpoch !== undefined && !Number.isSafeInteger(offset.leaderEpoch)) {
    throw brokerError(
      ErrorCode.invalidArgument,
      `Leader epoch must be an integer, got ${offset.leaderEpoch}`,
    );
  }
  if (!Number.isFinite(offset.committedAt)) {
    throw brokerError(ErrorCode.invalidArgument, `Commit time must be a number, got ${offset.committedAt}`);
  }
}
