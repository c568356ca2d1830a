/**
 * Log compaction of one stream partition (Kafka's `cleanup.policy=compact`, docs/compaction.md): the
 * latest record of each key stays, older ones go, tombstones go once `tombstoneRetentionMs` has passed,
 * and so do the records of aborted transactions and, after the same delay, transaction markers.
 * Offsets never move: what goes leaves a gap that readers skip (`Log.rewrite`).
 *
 * A run has two passes over the cleanable range — below the sealed storage, the stable offset (no open
 * transaction) and the records younger than `lagMsMin` — one building the map of each key's latest
 * offset, one rewriting the storage a segment at a time. Both go in bounded steps on the stream's
 * executor, one event-loop turn apart (the rewrite paces storage's chunks the same way), so producers
 * and readers are served between them.
 */
import type { LogEntry, RewriteChoice } from '../../storage/types.js';
import type { StreamCompaction } from '../api.js';
import type { Executor } from '../exec/executor.js';
import { entryFormat } from '../message-codec.js';
import { entryCompactor, type KeyedRecord } from './formats.js';
import type { Partition } from './partition.js';

/** Keys one run maps; a range with more is cleaned up to where the map filled, the rest next run. */
export const compactionKeysMax = 1_000_000;
/**
 * Payload bytes one step of the map pass reads and decodes between two turns of the event loop; the
 * rewrite pass goes in storage's chunks of the same order (`rewriteChunkBytes`). At 256 KiB a step of
 * small Kafka records held the loop for tens of milliseconds on a loaded machine (docs/performance.md).
 */
export const compactionReadBytesMax = 16 * 1024;

export interface CompactionReport {
  /** The cleanable range this run covered: [from, to). */
  readonly from: number;
  readonly to: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** What a run decided for the range, shared by the entries it asks about. */
interface RunPlan {
  readonly end: number;
  /** When records the lag kept out of this run become old enough; a run is then due. */
  readonly lagDueAt: number;
  /** Key → offset of its latest record below `end`. */
  readonly latest: Map<string, number>;
  /** Tombstones and markers whose newest timestamp is below this are removed. */
  readonly expiredBefore: number;
}

export class Compactor {
  readonly #partition: Partition;
  readonly #exec: Executor;
  #running: Promise<CompactionReport> | undefined;
  /** Bytes the log held right after the last run; what it grew by since is dirty. */
  #cleanBytes = 0;
  /** Where the last run's range ended: below it everything was cleaned once. */
  #cleanedTo = 0;
  /** When a tombstone or marker the last run kept becomes removable; a run is then due. */
  #dueAt = Number.POSITIVE_INFINITY;
  /** Moved by `reset`: a run of an earlier generation stops. */
  #generation = 0;

  constructor(partition: Partition, exec: Executor) {
    this.#partition = partition;
    this.#exec = exec;
  }

  get running(): boolean {
    return this.#running !== undefined;
  }

  /**
   * The share of the log written since the last run (Kafka's dirty ratio), taken over the whole log:
   * 1 before the first run.
   */
  get dirtyRatio(): number {
    const size = this.#partition.log.sizeBytes;
    return size === 0 ? 0 : Math.max(0, size - this.#cleanBytes) / size;
  }

  /** Starts a run when one is due: enough is dirty and sealed, or a kept tombstone has expired. */
  check(settings: StreamCompaction): void {
    if (this.#running !== undefined || this.#partition.failed || this.#partition.closed) return;
    const log = this.#partition.log;
    const grown = log.sealedOffset > this.#cleanedTo && this.dirtyRatio >= settings.dirtyRatioMin;
    if (!grown && this.#exec.now() < this.#dueAt) return;
    // A run ended by the partition's close (shutdown, deletion) is no failure of the stream.
    this.#exec.follow(this.run(settings), undefined, (err) => {
      if (!this.#partition.closed) this.#exec.fail(err);
    });
  }

  /** Runs compaction now (or joins the run under way); resolves with what it did. */
  run(settings: StreamCompaction): Promise<CompactionReport> {
    if (this.#running === undefined) {
      const generation = this.#generation;
      const running = this.#run(settings, generation).finally(() => {
        if (this.#running === running) this.#running = undefined;
      });
      this.#running = running;
    }
    return this.#running;
  }

  async #run(settings: StreamCompaction, generation: number): Promise<CompactionReport> {
    const log = this.#partition.log;
    const now = this.#exec.now();
    const from = log.startOffset;
    const bytesBefore = log.sizeBytes;
    const plan = await this.#plan(settings, now, generation);
    this.#dueAt = plan.lagDueAt;
    const choose = (entry: LogEntry) => this.#choose(entry, plan, settings);
    const pace = () => this.#turn(generation);
    for (let next = from; next < plan.end; ) {
      next = (await this.#partition.log.rewrite(next, choose, pace)).nextOffset;
      await this.#turn(generation);
    }
    this.#cleanBytes = this.#partition.log.sizeBytes;
    this.#cleanedTo = Math.max(this.#cleanedTo, plan.end);
    return { from, to: plan.end, bytesBefore, bytesAfter: this.#cleanBytes };
  }

  /** The map pass: each key's latest offset in the cleanable range. */
  async #plan(settings: StreamCompaction, now: number, generation: number): Promise<RunPlan> {
    const partition = this.#partition;
    let end = Math.min(partition.log.sealedOffset, partition.stableOffset);
    let lagDueAt = Number.POSITIVE_INFINITY;
    const young = settings.lagMsMin > 0 ? partition.log.offsetForTimestamp(now - settings.lagMsMin + 1) : end;
    if (young < end) {
      end = young;
      // By then every record this run left out is old enough.
      lagDueAt = now + settings.lagMsMin;
    }
    const latest = new Map<string, number>();
    for (let next = partition.log.startOffset; next < end; ) {
      const entries = partition.log.read(next, { maxBytes: compactionReadBytesMax });
      if (entries.length === 0) break;
      for (const entry of entries) {
        if (entry.offset >= end) break;
        // A full map ends the range before this entry: its keys are left for the next run.
        if (latest.size >= compactionKeysMax) end = entry.offset;
        else for (const record of this.#keyed(entry)) latest.set(record.key!, record.offset);
      }
      next = entries.at(-1)!.offset + entries.at(-1)!.count;
      await this.#turn(generation);
    }
    return { end, lagDueAt, latest, expiredBefore: now - settings.tombstoneRetentionMs };
  }

  /** The keyed records of an entry compaction may remove records of. */
  #keyed(entry: LogEntry): KeyedRecord[] {
    if (this.#partition.abortedEntry(entry)) return [];
    return this.#records(entry).filter((record) => record.key !== undefined);
  }

  #records(entry: LogEntry): KeyedRecord[] {
    try {
      return entryCompactor(entry.format)?.records(entry) ?? [];
    } catch {
      return [];
    }
  }

  /** The rewrite pass's decision for one entry (Kafka's cleaner, record by record). */
  #choose(entry: LogEntry, plan: RunPlan, settings: StreamCompaction): RewriteChoice {
    if (entry.offset >= plan.end) return 'keep';
    // Markers stay for delete.retention.ms, so a reader part-way through a transaction still meets its end.
    if (entry.format === entryFormat.txnMarker) return this.#lingers(entry, plan, settings) ? 'keep' : 'drop';
    if (this.#partition.abortedEntry(entry)) return 'drop';
    const records = this.#records(entry);
    if (records.length === 0) return 'keep';
    const kept = new Set<number>();
    for (const { key, offset, tombstone } of records) {
      const latest = key === undefined || plan.latest.get(key) === offset;
      if (latest && (!tombstone || this.#lingers(entry, plan, settings))) kept.add(offset);
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

  /** Whether a tombstone or marker is still within delete.retention.ms; if so, when a run is due for it. */
  #lingers(entry: LogEntry, plan: RunPlan, settings: StreamCompaction): boolean {
    if (entry.maxTimestamp < plan.expiredBefore) return false;
    this.#dueAt = Math.min(this.#dueAt, entry.maxTimestamp + settings.tombstoneRetentionMs + 1);
    return true;
  }

  /** The partition failed: a run under way ends at its next step, and a later one may start. */
  reset(): void {
    this.#generation++;
    this.#running = undefined;
  }

  /** One event-loop turn on the stream's executor, so the stream serves others between steps. */
  async #turn(generation: number): Promise<void> {
    await this.#exec.turn();
    if (generation !== this.#generation) throw new Error('compaction ended: the partition failed');
  }
}
