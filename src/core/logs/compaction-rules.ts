/**
 * What one compaction run decides (docs/compaction.md), as plain code over entries: the map of each
 * key's latest offset, and the keep, drop or replace choice for each entry. The same code runs on the
 * stream's executor (`Compactor`, in steps) and on the compaction thread (./compaction-worker.ts), so
 * both make the same log of the same input.
 */
import type { LogEntry, RewriteChoice } from '../../storage/types.js';
import { entryFormat } from '../message-codec.js';
import { entryCompactor, entryProducer, type KeyedRecord } from './formats.js';

/** Keys one run maps; a range with more is cleaned up to where the map filled, the rest next run. */
export const compactionKeysMax = 1_000_000;

/** Aborted transactions by producer id, each [first offset, marker offset] (`Partition.abortedRanges`). */
export type AbortedRanges = ReadonlyArray<readonly [number, ReadonlyArray<readonly [number, number]>]>;

/** Whether an entry was written by a transaction `ranges` says aborted. */
export function abortedTest(ranges: AbortedRanges): (entry: LogEntry) => boolean {
  const byProducer = new Map(ranges);
  if (byProducer.size === 0) return () => false;
  return (entry) => {
    const producer = entryProducer(entry);
    if (producer?.transactional !== true) return false;
    const own = byProducer.get(producer.producerId);
    return own?.some(([first, marker]) => entry.offset >= first && entry.offset < marker) === true;
  };
}

/** What a run starts from; plain data, so it crosses to the compaction thread. */
export interface RunBounds {
  /** The cleanable range ends here (sealed, stable and old enough below it). */
  readonly end: number;
  /** Tombstones and markers whose newest timestamp is below this are removed. */
  readonly expiredBefore: number;
  readonly tombstoneRetentionMs: number;
  /** When records the lag kept out of this run become old enough; a run is then due. */
  readonly lagDueAt: number;
}

export class CompactionRun {
  /** Where the range ends; moved down when the key map fills. */
  end: number;
  /** Key → offset of its latest record below `end`. */
  readonly latest = new Map<string, number>();
  /** When a tombstone or marker this run kept becomes removable, or the lag's due time: a run is due. */
  dueAt: number;
  readonly #bounds: RunBounds;
  readonly #aborted: (entry: LogEntry) => boolean;

  constructor(bounds: RunBounds, aborted: (entry: LogEntry) => boolean) {
    this.#bounds = bounds;
    this.end = bounds.end;
    this.dueAt = bounds.lagDueAt;
    this.#aborted = aborted;
  }

  /** The map pass over one entry; false at or past the end (a full map ends the range before it). */
  map(entry: LogEntry): boolean {
    if (entry.offset >= this.end) return false;
    if (this.latest.size >= compactionKeysMax) {
      this.end = entry.offset;
      return false;
    }
    for (const record of this.#keyed(entry)) this.latest.set(record.key!, record.offset);
    return true;
  }

  /** The rewrite pass's decision for one entry (Kafka's cleaner, record by record). */
  choose(entry: LogEntry): RewriteChoice {
    if (entry.offset >= this.end) return 'keep';
    // Markers stay for delete.retention.ms, so a reader part-way through a transaction still meets its end.
    if (entry.format === entryFormat.txnMarker) return this.#lingers(entry) ? 'keep' : 'drop';
    if (this.#aborted(entry)) return 'drop';
    const records = compactedRecords(entry);
    if (records.length === 0) return 'keep';
    const kept = new Set<number>();
    for (const { key, offset, tombstone } of records) {
      const latest = key === undefined || this.latest.get(key) === offset;
      if (latest && (!tombstone || this.#lingers(entry))) kept.add(offset);
    }
    if (kept.size === records.length) return 'keep';
    if (kept.size === 0) return 'drop';
    try {
      return entryCompactor(entry.format)!.retain(entry, (offset) => kept.has(offset));
    } catch {
      // A batch its format cannot write anew stays whole: nothing is lost, only not compacted.
      return 'keep';
    }
  }

  /** The keyed records of an entry compaction may remove records of. */
  #keyed(entry: LogEntry): KeyedRecord[] {
    if (this.#aborted(entry)) return [];
    return compactedRecords(entry).filter((record) => record.key !== undefined);
  }

  /** Whether a tombstone or marker is still within delete.retention.ms; if so, when a run is due for it. */
  #lingers(entry: LogEntry): boolean {
    const { expiredBefore, tombstoneRetentionMs } = this.#bounds;
    if (entry.maxTimestamp < expiredBefore) return false;
    this.dueAt = Math.min(this.dueAt, entry.maxTimestamp + tombstoneRetentionMs + 1);
    return true;
  }
}

/** An entry's records as compaction sees them; none for a format it keeps as it is, or a malformed one. */
function compactedRecords(entry: LogEntry): KeyedRecord[] {
  try {
    return entryCompactor(entry.format)?.records(entry) ?? [];
  } catch {
    return [];
  }
}
