/**
 * Rules both storage implementations share: name and input validation, read limits and the selection of
 * entries under `maxBytes` / `maxEntries`, so `MemoryStorage` and `FileStorage` answer alike.
 */
import { BrokerError, ErrorCode } from '../shared/errors.js';
import type { AppendInput, LogEntry, MetaStore, ReadOptions, StorageLimits } from './types.js';
import { storageLimitsDefault } from './types.js';

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

export function resolveLimits(limits: Partial<StorageLimits> | undefined): StorageLimits {
  const merged = { ...storageLimitsDefault, ...limits };
  for (const [key, value] of Object.entries(merged)) {
    if (!Number.isSafeInteger(value) || value <= 0) {
      throw new BrokerError(ErrorCode.invalidArgument, `Storage limit ${key} must be a positive integer`);
    }
  }
  // Record positions are stored as u32 in the offset index.
  if (merged.segmentBytesMax > 2 ** 31) {
    throw new BrokerError(ErrorCode.invalidArgument, 'Storage limit segmentBytesMax must be at most 2 GiB');
  }
  return merged;
}

/** An append with every default applied; what both implementations store. */
export interface NormalisedAppend {
  readonly payload: Uint8Array;
  readonly count: number;
  readonly timestamp: number;
  readonly maxTimestamp: number;
  readonly format: number;
}

export function normaliseAppend(log: string, input: AppendInput, limits: StorageLimits): NormalisedAppend {
  const count = input.count ?? 1;
  const format = input.format ?? 0;
  const timestamp = input.timestamp;
  const maxTimestamp = input.maxTimestamp ?? timestamp;
  const bad = (what: string) => new BrokerError(ErrorCode.invalidArgument, `Append to log ${log}: ${what}`);
  if (!(input.payload instanceof Uint8Array)) throw bad('payload must be a Uint8Array');
  if (input.payload.byteLength > limits.entryBytesMax) {
    throw bad(`payload of ${input.payload.byteLength} bytes exceeds entryBytesMax ${limits.entryBytesMax}`);
  }
  if (!Number.isInteger(count) || count < 1 || count > entryCountMax)
    throw bad(`count ${count} is out of range`);
  if (!Number.isSafeInteger(timestamp)) throw bad(`timestamp ${timestamp} is not an integer`);
  if (!Number.isSafeInteger(maxTimestamp)) throw bad(`maxTimestamp ${maxTimestamp} is not an integer`);
  if (!Number.isInteger(format) || format < 0 || format > 255) throw bad(`format ${format} is out of range`);
  return { payload: input.payload, count, timestamp, maxTimestamp, format };
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

/** A value `MetaStore.put` accepts: it must survive a JSON round trip. */
function encodeMetaValue(key: string, value: unknown): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (cause) {
    throw new BrokerError(ErrorCode.invalidArgument, `Meta value for ${key} is not JSON`, { cause });
  }
  if (text === undefined)
    throw new BrokerError(ErrorCode.invalidArgument, `Meta value for ${key} is not JSON`);
  return text;
}

/** A change as the file store journals it: `[key, json]` sets, `[key]` deletes. */
export type MetaChange = [key: string, text: string] | [key: string];

/**
 * What both meta stores share: the whole state in memory, values kept as JSON text so callers never
 * share (and mutate) stored objects. Subclasses only decide how a change becomes durable.
 */
export abstract class JsonMetaStore implements MetaStore {
  protected readonly values = new Map<string, string>();

  get(key: string): unknown {
    const text = this.values.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }

  entries(prefix: string): Array<[string, unknown]> {
    const keys = [...this.values.keys()].filter((k) => k.startsWith(prefix)).sort();
    return keys.map((k) => [k, JSON.parse(this.values.get(k)!) as unknown]);
  }

  put(key: string, value: unknown): Promise<void> {
    if (value === undefined) return this.delete(key);
    const text = encodeMetaValue(key, value);
    this.values.set(key, text);
    return this.persist([key, text]);
  }

  delete(key: string): Promise<void> {
    this.values.delete(key);
    return this.persist([key]);
  }

  /** Called after the in-memory state took the change; resolves once it is durable. */
  protected abstract persist(change: MetaChange): Promise<void>;
}
