/**
 * Rules both storage implementations share: name and input validation, read limits and the selection of
 * entries under `maxBytes` / `maxEntries`, so `MemoryStorage` and `FileStorage` answer alike.
 */
import { assert } from '../shared/assert.js';
import { BrokerError, ErrorCode } from '../shared/errors.js';
import type { AppendInput, LogEntry, ReadOptions, StorageLimits } from './types.js';
import { openFilesMaxRange, storageLimitsDefault } from './types.js';

/** Log names become folder names, so they are restricted to a portable, path-free alphabet. */
export const logNameCharsMax = 200;
const logNamePattern = /^[A-Za-z0-9._-]+$/;

/** A read without `maxBytes` stops here, so one call never pulls a whole log into memory. */
export const readBytesMaxDefault = 16 * 1024 * 1024;
/** A read without `maxEntries` stops here. */
export const readEntriesMaxDefault = 100_000;
/** Offsets one entry may cover; a Kafka batch holds far fewer records than this. */
export const entryCountMax = 1 << 24;
/** Offsets must stay exact in a double. */
export const offsetMax = Number.MAX_SAFE_INTEGER;
/** Bytes of header a stored record carries besides its payload (see docs/storage-format.md). */
export const recordHeaderBytes = 38;

export function checkLogName(name: string): void {
  const ok = name.length > 0 && name.length <= logNameCharsMax && logNamePattern.test(name);
  if (!ok || name === '.' || name === '..') {
    throw new BrokerError(ErrorCode.invalidArgument, `Log name is invalid: ${JSON.stringify(name)}`);
  }
}

/** Limits whose 0 means "no limit" (a rate), where every other limit must be at least 1. */
const limitsWithNone: ReadonlySet<string> = new Set<keyof StorageLimits>(['compactionIoBytesPerSecondMax']);

export function resolveLimits(limits: Partial<StorageLimits> | undefined): StorageLimits {
  const merged = { ...storageLimitsDefault, ...limits };
  for (const [key, value] of Object.entries(merged)) {
    const withNone = limitsWithNone.has(key);
    if (!Number.isSafeInteger(value) || value < (withNone ? 0 : 1)) {
      const what = withNone ? 'a non-negative integer (0: no limit)' : 'a positive integer';
      throw new BrokerError(ErrorCode.invalidArgument, `Storage limit ${key} must be ${what}`);
    }
  }
  // Record positions are stored as u32 in the offset index.
  if (merged.segmentBytesMax > 2 ** 31) {
    throw new BrokerError(ErrorCode.invalidArgument, 'Storage limit segmentBytesMax must be at most 2 GiB');
  }
  const { min, max } = openFilesMaxRange;
  if (merged.openFilesMax < min || merged.openFilesMax > max) {
    throw new BrokerError(ErrorCode.invalidArgument, `Storage limit openFilesMax must be ${min} to ${max}`);
  }
  return merged;
}

/**
 * `AppendInput.payloadCrc32c`: where such a payload keeps its CRC-32C (big-endian u32) and the first
 * byte the checksum covers, to the payload's end (a Kafka record batch v2's layout).
 */
export const payloadCrc32cAt = 17;
export const payloadCrc32cFromByte = 21;

/** An append with every default applied; what both implementations store. */
export interface NormalisedAppend {
  readonly payload: Uint8Array;
  readonly count: number;
  readonly timestamp: number;
  readonly maxTimestamp: number;
  readonly format: number;
  /** `AppendInput.owned`: the payload may be kept as it is. */
  readonly owned: boolean;
  /** `AppendInput.release`, only with `owned`. */
  readonly release: (() => void) | undefined;
  /** `AppendInput.lazy`. */
  readonly lazy: boolean;
  /** `AppendInput.payloadCrc32c`. */
  readonly payloadCrc32c: boolean;
}

/** A refused append's error; not a closure made in `normaliseAppend`, which every append would pay for. */
function badAppend(log: string, what: string): BrokerError {
  return new BrokerError(ErrorCode.invalidArgument, `Append to log ${log}: ${what}`);
}

export function normaliseAppend(log: string, input: AppendInput, limits: StorageLimits): NormalisedAppend {
  const count = input.count ?? 1;
  const format = input.format ?? 0;
  const timestamp = input.timestamp;
  const maxTimestamp = input.maxTimestamp ?? timestamp;
  if (!(input.payload instanceof Uint8Array)) throw badAppend(log, 'payload must be a Uint8Array');
  if (input.payload.byteLength > limits.entryBytesMax) {
    throw badAppend(
      log,
      `payload of ${input.payload.byteLength} bytes exceeds entryBytesMax ${limits.entryBytesMax}`,
    );
  }
  if (!Number.isInteger(count) || count < 1 || count > entryCountMax)
    throw badAppend(log, `count ${count} is out of range`);
  if (!Number.isSafeInteger(timestamp)) throw badAppend(log, `timestamp ${timestamp} is not an integer`);
  if (!Number.isSafeInteger(maxTimestamp))
    throw badAppend(log, `maxTimestamp ${maxTimestamp} is not an integer`);
  if (!Number.isInteger(format) || format < 0 || format > 255)
    throw badAppend(log, `format ${format} is out of range`);
  const payloadCrc32c = input.payloadCrc32c === true;
  if (payloadCrc32c && input.payload.byteLength < payloadCrc32cFromByte) {
    throw badAppend(log, `payload of ${input.payload.byteLength} bytes cannot carry its own CRC-32C`);
  }
  const owned = input.owned === true;
  const release = owned ? input.release : undefined;
  const lazy = input.lazy === true;
  return {
    payload: input.payload,
    count,
    timestamp,
    maxTimestamp,
    format,
    owned,
    release,
    lazy,
    payloadCrc32c,
  };
}

/** Tracks the read limits while entries are collected; the first entry is always taken. */
export class ReadBudget {
  private readonly bytesMax: number;
  private readonly entriesMax: number;
  private bytes = 0;
  private entries = 0;

  constructor(options: ReadOptions | undefined) {
    this.bytesMax = Math.max(0, options?.maxBytes ?? readBytesMaxDefault);
    this.entriesMax = Math.max(1, options?.maxEntries ?? readEntriesMaxDefault);
  }

  /** True when `payloadBytes` more may be taken; records the entry if so. */
  take(payloadBytes: number): boolean {
    if (this.entries >= this.entriesMax) return false;
    if (this.entries > 0 && this.bytes + payloadBytes > this.bytesMax) return false;
    this.entries += 1;
    this.bytes += payloadBytes;
    return true;
  }

  get full(): boolean {
    return this.entries >= this.entriesMax || (this.entries > 0 && this.bytes >= this.bytesMax);
  }
}

/** True when the entry covers offsets at or past `offset`. */
export function entryReaches(entry: LogEntry, offset: number): boolean {
  return entry.offset + entry.count > offset;
}

export function closedError(log: string): BrokerError {
  return new BrokerError(ErrorCode.invalidState, `Log ${log} is closed`);
}

/**
 * A rejected promise already marked handled: whoever awaits it sees the error, and one who drops it
 * (a teardown calling `delete()` on a closed handle) does not end the process.
 */
export function quietRejection(err: Error): Promise<never> {
  const rejected = Promise.reject(err);
  rejected.catch(() => {});
  return rejected;
}

export function lockedError(log: string, incarnation: number): BrokerError {
  return new BrokerError(ErrorCode.resourceLocked, `Log ${log} is held by incarnation ${incarnation}`);
}

/**
 * The incarnation after `last`: microseconds since the epoch, or `last + 1` when the clock has not moved
 * past it (several creations in one microsecond, or a clock set back).
 */
export function nextIncarnation(last: number, nowMs: number): number {
  const next = Math.max(Math.floor(nowMs) * 1000, last + 1);
  assert(Number.isSafeInteger(next), 'incarnations stay safe integers');
  return next;
}

/** What the lease table needs of a log handle. */
export interface Leased {
  readonly incarnation: number;
  /** Undefined while the handle is open; once it is closing, settles when the lease is released. */
  readonly releasing: Promise<void> | undefined;
}

/** Who holds each log name: one handle at a time. Both implementations keep their leases here. */
export class Leases<L extends Leased> {
  private readonly held = new Map<string, L>();

  /**
   * Runs `act` once nobody holds `name`, in the same turn as the check, so nothing can take the name in
   * between. Waits for a holder that is closing; refuses with resource_locked while one is open.
   */
  async whenFree<T>(name: string, act: () => T): Promise<T> {
    let holder = this.held.get(name);
    while (holder !== undefined) {
      if (holder.releasing === undefined) throw lockedError(name, holder.incarnation);
      await holder.releasing.catch(() => undefined);
      const next = this.held.get(name);
      // A holder whose close settled without releasing (a failed delete) keeps the name.
      if (next === holder) throw lockedError(name, holder.incarnation);
      holder = next;
    }
    return act();
  }

  /** Opens with `open` and holds the result, once the name is free. */
  take(name: string, open: () => L): Promise<L> {
    return this.whenFree(name, () => {
      const log = open();
      this.held.set(name, log);
      return log;
    });
  }

  /** Releases `name` if `log` still holds it. */
  release(name: string, log: L): void {
    if (this.held.get(name) === log) this.held.delete(name);
  }

  holders(): L[] {
    return [...this.held.values()];
  }
}
