/**
 * Log compaction of one stream partition (Kafka's `cleanup.policy=compact`, docs/compaction.md): the
 * latest record of each key stays, older ones go, tombstones go once `tombstoneRetentionMs` has passed,
 * and so do the records of aborted transactions and, after the same delay, transaction markers.
 * Offsets never move: what goes leaves a gap that readers skip (`Log.rewrite`).
 *
 * A run has two passes over the cleanable range — below the sealed storage, the stable offset (no open
 * transaction) and the records younger than `lagMsMin` — one building the map of each key's latest
 * offset, one rewriting the storage a segment at a time. On file storage both run on the compaction
 * thread (./compaction-thread.ts) and the executor only swaps each rewritten segment in; otherwise, or
 * when the thread cannot take the run, they go in bounded steps on the stream's executor, one
 * event-loop turn apart (the rewrite paces storage's chunks the same way), so producers and readers
 * are served between them. Both ways decide alike (./compaction-rules.ts).
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { AdoptedRewrite, Log, LogEntry, SealedSegment } from '../../storage/types.js';
import type { StreamCompaction } from '../api.js';
import type { Executor } from '../exec/executor.js';
import { type AbortedRanges, CompactionRun, type RunBounds } from './compaction-rules.js';
import { type CompactionThread, CompactionThreadExit, sharedCompactionThread } from './compaction-thread.js';
import type { CompactionReply } from './compaction-worker.js';
import { compactorModulesOf } from './formats.js';

/**
 * Payload bytes one step of the map pass reads and decodes between two turns of the event loop; the
 * rewrite pass goes in storage's chunks of the same order (`rewriteChunkBytes`). At 256 KiB a step of
 * small Kafka records held the loop for tens of milliseconds on a loaded machine (docs/performance.md).
 */
export const compactionReadBytesMax = 16 * 1024;

/**
 * Rewritten segments swapped in together (`Log.adoptRewritten`): at most this many, or once the
 * rewritten files waiting beside their segments reach `compactionSwapBytesMax`. A batch costs two
 * folder fsyncs, each (on ext4 with a journal, or xfs) a journal commit that an fdatasync of the
 * produce path arriving meanwhile waits behind, and its renames, old indexes and new indexes happen
 * together: a run of N segments forces 2⌈N/8⌉ such commits instead of 2N (docs/performance.md,
 * "Kafka compaction").
 */
export const compactionSwapSegmentsMax = 8;
/** Bytes of rewritten files a batch may hold beside their segments before it is swapped in. */
export const compactionSwapBytesMax = 64 * 1024 * 1024;

export interface CompactionReport {
  /** The cleanable range this run covered: [from, to). */
  readonly from: number;
  readonly to: number;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
}

/** A run on the compaction thread: segments whose `.cleaned` file may lie beside them, the rewrite asked. */
interface InFlight {
  readonly asked: SealedSegment[];
  next: Promise<CompactionReply | undefined> | undefined;
}

/**
 * What compaction reads of its partition. ./partition.ts's `Partition` is one and creates its
 * compactor, so this file does not import it.
 */
export interface CompactedPartition {
  readonly stream: string;
  readonly index: number;
  readonly log: Log;
  readonly failed: boolean;
  readonly closed: boolean;
  readonly stableOffset: number;
  abortedEntry(entry: LogEntry): boolean;
  abortedRanges(): AbortedRanges;
}

export class Compactor {
  readonly #partition: CompactedPartition;
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
  /**
   * Where runs do their reading, choosing and writing when the log's storage and every entry format
   * allow it; undefined (or a run it cannot take) keeps them on the stream's executor, in steps.
   */
  thread: CompactionThread | undefined = sharedCompactionThread();

  constructor(partition: CompactedPartition, exec: Executor) {
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
    const from = log.startOffset;
    const bytesBefore = log.sizeBytes;
    const bounds = this.#bounds(settings, this.#exec.now());
    const end =
      (await this.#offThread(bounds, from, generation)) ?? (await this.#inThread(bounds, from, generation));
    this.#cleanBytes = this.#partition.log.sizeBytes;
    this.#cleanedTo = Math.max(this.#cleanedTo, end);
    return { from, to: end, bytesBefore, bytesAfter: this.#cleanBytes };
  }

  /** The cleanable range's end (below the sealed storage, the stable offset and the lag) and retention. */
  #bounds(settings: StreamCompaction, now: number): RunBounds {
    const partition = this.#partition;
    let end = Math.min(partition.log.sealedOffset, partition.stableOffset);
    let lagDueAt = Number.POSITIVE_INFINITY;
    const young = settings.lagMsMin > 0 ? partition.log.offsetForTimestamp(now - settings.lagMsMin + 1) : end;
    if (young < end) {
      end = young;
      // By then every record this run left out is old enough.
      lagDueAt = now + settings.lagMsMin;
    }
    const { tombstoneRetentionMs } = settings;
    return { end, lagDueAt, expiredBefore: now - tombstoneRetentionMs, tombstoneRetentionMs };
  }

  /** Both passes on the stream's executor, in bounded steps one turn apart; returns the range's end. */
  async #inThread(bounds: RunBounds, from: number, generation: number): Promise<number> {
    const partition = this.#partition;
    const run = new CompactionRun(bounds, (entry) => partition.abortedEntry(entry));
    try {
      for (let next = from; next < run.end; ) {
        const entries = partition.log.read(next, { maxBytes: compactionReadBytesMax });
        if (entries.length === 0) break;
        for (const entry of entries) if (!run.map(entry)) break;
        next = entries.at(-1)!.offset + entries.at(-1)!.count;
        await this.#turn(generation);
      }
      const choose = (entry: LogEntry) => run.choose(entry);
      const pace = () => this.#turn(generation);
      for (let next = from; next < run.end; ) {
        next = (await partition.log.rewrite(next, choose, pace)).nextOffset;
        await this.#turn(generation);
      }
    } finally {
      this.#dueAt = run.dueAt;
    }
    return run.end;
  }

  /**
   * Both passes on the compaction thread, the segments swapped in here by batches as they come back; returns the
   * range's end, or undefined when the thread cannot take this run (memory storage, a format whose
   * compactor it cannot load, the thread gone before it mapped).
   */
  async #offThread(bounds: RunBounds, from: number, generation: number): Promise<number | undefined> {
    const thread = this.thread;
    const log = this.#partition.log;
    const known = compactorModulesOf();
    if (thread === undefined || known === undefined || log.sealedSegments === undefined) return undefined;
    return thread.exclusive(async () => {
      this.#check(generation);
      const segments = log.sealedSegments!(from, bounds.end);
      const aborted = this.#partition.abortedRanges();
      const ioBytesPerSecondMax = log.sealedIoBytesPerSecondMax ?? 0;
      const flight: InFlight = { asked: [], next: undefined };
      try {
        const map = { kind: 'map', ...known, segments, ioBytesPerSecondMax, from, bounds, aborted } as const;
        const mapped = await this.#call(thread, map);
        if (mapped?.kind !== 'mapped') return undefined;
        this.#dueAt = bounds.lagDueAt;
        await this.#swapEach(
          thread,
          log,
          segments.filter((s) => s.base < mapped.end),
          generation,
          flight,
        );
        return mapped.end;
      } catch (err) {
        // The thread died: the log is as it was but for what was swapped in; this thread finishes the run.
        if (err instanceof CompactionThreadExit) return undefined;
        throw err;
      } finally {
        // A rewrite still under way must end before its file is removed, or it would be left behind.
        await flight.next?.catch(() => undefined);
        thread.call({ kind: 'end' });
        const leftovers = flight.asked.map((sealed) => ({ sealed, rewritten: undefined }));
        if (leftovers.length > 0) await log.adoptRewritten!(leftovers).catch(() => undefined);
      }
    });
  }

  /**
   * Asks for each segment's rewrite, the next one while the last is waiting, and swaps them in by
   * batches (`compactionSwapSegmentsMax`, `compactionSwapBytesMax`).
   */
  async #swapEach(
    thread: CompactionThread,
    log: Log,
    wanted: readonly SealedSegment[],
    generation: number,
    flight: InFlight,
  ): Promise<void> {
    const ask = (i: number) => {
      flight.asked.push(wanted[i]!);
      const reply = this.#call(thread, { kind: 'rewrite', base: wanted[i]!.base });
      // Awaited in turn, or by the caller when a swap before it fails.
      reply.catch(() => undefined);
      return reply;
    };
    let batch: AdoptedRewrite[] = [];
    let batchBytes = 0;
    const adopt = async () => {
      this.#check(generation);
      await log.adoptRewritten!(batch);
      for (const { sealed } of batch) flight.asked.splice(flight.asked.indexOf(sealed), 1);
      batch = [];
      batchBytes = 0;
    };
    flight.next = wanted.length > 0 ? ask(0) : undefined;
    for (let i = 0; flight.next !== undefined; i++) {
      const reply = await flight.next;
      flight.next = i + 1 < wanted.length ? ask(i + 1) : undefined;
      if (reply?.kind !== 'rewritten') throw new Error(`compaction thread answered ${reply?.kind}`);
      this.#dueAt = Math.min(this.#dueAt, reply.dueAt);
      this.#check(generation);
      batch.push({ sealed: wanted[i]!, rewritten: reply.rewritten });
      batchBytes += reply.rewritten?.sizeBytes ?? 0;
      if (batch.length >= compactionSwapSegmentsMax || batchBytes >= compactionSwapBytesMax) await adopt();
    }
    if (batch.length > 0) await adopt();
  }

  /** One request to the thread; a failure it reports is the disk's (or the data's), as on this thread. */
  async #call(
    thread: CompactionThread,
    request: Parameters<CompactionThread['call']>[0],
  ): Promise<CompactionReply | undefined> {
    const reply = await thread.call(request);
    if (reply?.kind !== 'failed') return reply;
    const what = `Compacting partition ${this.#partition.index} of stream '${this.#partition.stream}'`;
    throw brokerError(ErrorCode.storageFailed, `${what} failed: ${reply.message}`);
  }

  /** The partition failed: a run under way ends at its next step, and a later one may start. */
  reset(): void {
    this.#generation++;
    this.#running = undefined;
  }

  /** One event-loop turn on the stream's executor, so the stream serves others between steps. */
  async #turn(generation: number): Promise<void> {
    await this.#exec.turn();
    this.#check(generation);
  }

  #check(generation: number): void {
    if (generation !== this.#generation) throw new Error('compaction ended: the partition failed');
    if (this.#partition.closed) throw new Error('compaction ended: the partition closed');
  }
}
