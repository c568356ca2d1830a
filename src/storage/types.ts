/**
 * The storage interface: the only way core reaches the disk. Two implementations pass one contract
 * suite (`test/storage/contract.test.ts`): `FileStorage` (segments on disk) and `MemoryStorage`.
 *
 * A `Log` is an append-only sequence of entries. Each entry carries an opaque payload and covers
 * `count` consecutive offsets (1 for a single message, N for a Kafka record batch stored whole), so
 * offsets are assigned by the log and never reused. Offset assignment is synchronous; durability is
 * reported by the promise `append` returns, resolved according to the fsync policy.
 *
 * A `Log` handle is an exclusive lease on one *incarnation* of a name: the log created under that name
 * and not yet deleted. Only its holder can reach it, and nothing it does after `close()` or `delete()`
 * can reach a later incarnation of the same name.
 */

import type { WriteMeter } from './write-meter.js';

/** When an append counts as durable. See docs/storage-format.md. */
export type FsyncPolicy =
  /** Resolve after fdatasync; group commit: one fsync covers every append queued while the previous ran. */
  | { readonly kind: 'always' }
  /** Resolve after write(2); fsync every `intervalMs`. A process crash loses nothing resolved. */
  | { readonly kind: 'interval'; readonly intervalMs: number }
  /** Resolve after write(2); never fsync (the OS decides). */
  | { readonly kind: 'never' };

export interface AppendInput {
  readonly payload: Uint8Array;
  /** Offsets this entry covers; default 1. */
  readonly count?: number;
  /** Milliseconds since the epoch; used by the time index. */
  readonly timestamp: number;
  /** Largest timestamp inside the entry (batches); default `timestamp`. */
  readonly maxTimestamp?: number;
  /** Free for the caller (core uses it to tell entry formats apart); 0–255. */
  readonly format?: number;
  /**
   * The caller gives `payload` up: it will never change its bytes, so storage may keep and write them
   * as they are instead of copying them (file storage does for large payloads, until they are written).
   * Without it, storage copies, and the caller may reuse its buffer as soon as `append` returns.
   */
  readonly owned?: boolean;
  /**
   * With `owned`: called once storage holds no reference to `payload` any more, so the caller may
   * reuse its memory (a pooled request buffer). Storage calls it at most once: at once when it copied
   * the payload, after the write when it kept it; never when the append failed or the log went away
   * first (the buffer is then left to the collector). Until then a reader is given a copy, never a
   * view, so nothing outlives the call.
   */
  readonly release?: (() => void) | undefined;
  /**
   * Nobody waits for this entry to be durable soon: when no write of the log is due, it waits for the
   * log's next append to share its write and fdatasync, at most `lazyWriteDelayMs` (file storage).
   * Entries are written in order all the same: a later entry is never durable before this one.
   */
  readonly lazy?: boolean;
  /**
   * The payload carries its own CRC-32C (Castagnoli), big-endian at bytes [17, 21), over bytes [21, end):
   * a Kafka record batch v2's layout. File storage then leaves those bytes to that checksum, checked on
   * every read and by recovery, and covers only the record header and the payload's first 21 bytes with
   * its own CRC-32, instead of a second checksum over every byte (docs/storage-format.md, "Record").
   * The caller vouches for the checksum (it verified or computed it): a wrong one makes the entry read
   * as corrupt. At least 21 bytes.
   */
  readonly payloadCrc32c?: boolean;
}

export interface LogEntry {
  readonly offset: number;
  readonly count: number;
  readonly timestamp: number;
  readonly maxTimestamp: number;
  readonly format: number;
  readonly payload: Uint8Array;
}

export interface AppendResult {
  /** First offset of the entry. */
  readonly offset: number;
  /** Resolves once the entry is as durable as the policy promises; rejects on I/O failure. */
  readonly durable: Promise<void>;
}

export interface ReadOptions {
  /** Stop after this many payload bytes, but always return at least one entry when one exists. */
  readonly maxBytes?: number;
  readonly maxEntries?: number;
  /** Where file-backed logs take the buffers they read into; see `ReadBuffers`. Others ignore it. */
  readonly buffers?: ReadBuffers;
}

/**
 * Buffers a caller lends to a read, so that one who knows when it is done with the returned payloads
 * (a socket write has completed) can reuse that memory: a fresh buffer for every large read costs page
 * faults and garbage collection that outweigh the read itself. The payloads returned may be views of
 * these buffers; storage keeps none of them once `read` returns.
 */
export interface ReadBuffers {
  /** `bytes` bytes to be overwritten; the caller must not reuse them while the read's payloads live. */
  take(bytes: number): Uint8Array;
  /**
   * `take` hands out memory backed by a SharedArrayBuffer, which `Log.readOffThread` can have filled
   * away from the caller's thread. Asked before anything is taken: a read that stays inline takes only
   * what it reads into.
   */
  readonly shared?: boolean;
}

export interface RetentionOptions {
  /** Drop whole segments while the log holds more than this many bytes. */
  readonly bytesMax?: number;
  /** Drop whole segments whose newest entry is older than this. */
  readonly ageMsMax?: number;
}

/**
 * What `Log.rewrite` does with one entry: keep it, drop it (its offsets become a gap), or replace its
 * payload; a replacement keeps the entry's offsets, count, timestamps and format.
 */
export type RewriteChoice = 'keep' | 'drop' | Uint8Array;

export interface RewriteResult {
  /** Where the next call continues; at or past `sealedOffset` once every sealed entry was visited. */
  readonly nextOffset: number;
  /** Bytes the rewrite gave back (held before less held after); 0 when nothing changed. */
  readonly bytesFreed: number;
}

/**
 * A sealed segment of a file log, as a file another thread may read and rewrite while the log goes on
 * (`Log.sealedSegments`; `rewriteSealedSegment` in storage/file/sealed.ts; `Log.adoptRewritten`). Plain
 * data, so it crosses to a worker thread as it is.
 */
export interface SealedSegment {
  /** The first offset it covers, and its name. */
  readonly base: number;
  /** The offset past the last it covers. */
  readonly end: number;
  /** The segment's `.log` file, and where its records start and end in it. */
  readonly file: string;
  readonly headerBytes: number;
  readonly sizeBytes: number;
  /** The log's `entryBytesMax` and `indexIntervalBytes`, which reads and a rewrite's index follow. */
  readonly entryBytesMax: number;
  readonly indexIntervalBytes: number;
}

/** One segment of a `Log.adoptRewritten` batch: the descriptor and what its rewrite wrote, if anything. */
export interface AdoptedRewrite {
  readonly sealed: SealedSegment;
  readonly rewritten: RewrittenSegmentFile | undefined;
}

/** What a rewrite of a `SealedSegment` wrote beside it, fsynced, with the index built while writing. */
export interface RewrittenSegmentFile {
  readonly file: string;
  readonly sizeBytes: number;
  readonly maxTimestamp: number;
  readonly records: number;
  /** The sparse index (parallel arrays, as in `.index` / `.timeindex`) of the file as written. */
  readonly index: {
    readonly offsets: number[];
    readonly positions: number[];
    readonly timesBefore: number[];
  };
}

export interface Log {
  readonly name: string;
  /**
   * Which creation of `name` this is: a safe integer, unique among every incarnation of the name in this
   * data folder and larger for a later one (a hybrid clock: microseconds since the epoch, or one more than
   * the last issued when that is larger). Kept across close and reopen.
   */
  readonly incarnation: number;
  /** First offset still stored (after retention or truncation). */
  readonly startOffset: number;
  /** The offset the next append gets. */
  readonly endOffset: number;
  /** Bytes held, on disk or in memory, including record headers. */
  readonly sizeBytes: number;
  append(input: AppendInput): AppendResult;
  /**
   * Entries from the one containing `offset` onwards, in order. Synchronous: the file implementation
   * reads with positional reads, which keeps delivery paths free of awaits. An offset below
   * `startOffset` reads from `startOffset`; at or past `endOffset` returns [].
   * Throws `BrokerError(storageCorrupt)` rather than return a record that fails its CRC.
   * Payloads are views, not copies: the entries of one read (and of reads close together) may share
   * one buffer, which also backs storage's own copy of the bytes, so a payload must not be modified.
   * A caller that keeps a payload long-term should copy it when it is much smaller than its buffer
   * (`payload.buffer.byteLength`), or the whole buffer stays in memory with it.
   */
  read(offset: number, options?: ReadOptions): LogEntry[];
  /**
   * `read`, with the file reads and CRC checks of a large read done away from the caller's thread (file
   * logs: storage's read thread, docs/storage-format.md "Reads off the event loop"), so a caller that
   * sends what it reads keeps its thread for the sending. Same entries and checks as `read` (a record
   * failing its CRC rejects with `storage_corrupt`), from what the log holds at the call; it may stop
   * sooner (at the end of a segment, or of what is written to it), never later. Payloads are views of
   * `options.buffers`, which must hand out memory backed by a SharedArrayBuffer for the read to leave
   * the thread; storage keeps none of them once the promise settles. Small reads, and logs that have no
   * thread (memory), read inline.
   */
  readOffThread?(offset: number, options?: ReadOptions): Promise<LogEntry[]>;
  /** The first offset whose entry has maxTimestamp >= `timestamp`, or `endOffset` when none has. */
  offsetForTimestamp(timestamp: number): number;
  /** Forget every entry wholly below `offset`; segment granular on disk, so some may stay readable. */
  truncateBefore(offset: number): void;
  /** Apply size and age retention; returns the new startOffset. */
  applyRetention(options: RetentionOptions, now: number): number;
  /**
   * Offsets below this lie in sealed storage, which `rewrite` may change; appends go on above it. On
   * disk the base of the active segment (rolled at `segmentBytesMax`); in memory `endOffset`.
   */
  readonly sealedOffset: number;
  /**
   * Rewrites sealed entries from the one reaching `from` (docs/storage-format.md, "Rewriting
   * segments"): `choose` is asked about each entry at or past `from`, in order, and decides to keep,
   * drop or replace it. Offsets never move: a dropped entry leaves a gap that reads skip (a read at an
   * offset in a gap returns the entries after it), and `startOffset` and `endOffset` stay. One call
   * does a bounded share of the work (on disk: one segment, read and written in bounded chunks) and
   * resolves with where the next call continues. Readers see the log before or after the call, never
   * a mix within one share; a crash at any moment leaves the old or the new share, never both or
   * neither. A share whose storage retention or truncation removed meanwhile is left as it is. Rejects
   * when `choose` throws (nothing changes) or the disk fails; the log itself stays usable.
   *
   * `pace`, when given, is awaited after each bounded chunk of the share (`rewriteChunkBytes` on disk):
   * the caller decides when the rewrite goes on, so a rewrite never holds the event loop for more than
   * one chunk. A `pace` that rejects abandons the rewrite, as a throwing `choose` does.
   */
  rewrite(
    from: number,
    choose: (entry: LogEntry) => RewriteChoice,
    pace?: () => Promise<void>,
  ): Promise<RewriteResult>;
  /**
   * File logs only: the sealed segments holding offsets in [`from`, `to`), as files another thread may
   * read and rewrite into a `.cleaned` file beside each (`rewriteSealedSegment`), so a rewrite's reading,
   * choosing and writing take no time of the log's own thread.
   */
  sealedSegments?(from: number, to: number): readonly SealedSegment[];
  /**
   * File logs only: the byte rate the reads and rewrites of `sealedSegments` keep to (the storage's
   * `compactionIoBytesPerSecondMax`, one for every log; 0: none), told once per run, not per segment.
   */
  readonly sealedIoBytesPerSecondMax?: number;
  /**
   * Puts segments rewritten away from the log in the place of theirs (descriptors this log handed
   * out), as `rewrite` swaps its own: readers see each segment as it was or as rewritten, a crash leaves
   * one of the two for each. The whole batch costs two folder fsyncs and its renames happen in one
   * synchronous step, so a journaling file system (ext4 with a journal, xfs) is asked to commit twice
   * per batch, not per segment (docs/storage-format.md, "Rewriting away from the log's thread").
   * Resolves with the bytes freed; a segment no longer the log's (retention removed it) frees nothing
   * and its rewritten file is removed, and a closed log takes nothing (the next open removes what was
   * left). Refused with `invalid_state` while another rewrite of the log is under way. An entry without
   * `rewritten` only removes what a rewrite of its segment may have left beside it.
   */
  adoptRewritten?(batch: readonly AdoptedRewrite[]): Promise<number>;
  /** Resolves when everything appended so far is fsynced, whatever the policy. */
  sync(): Promise<void>;
  /**
   * Resolves once everything appended so far is written: a crash of the process keeps it, a power
   * loss only once `durable` (the policy's fsync). Rejects if that write fails. The wait of a delivery
   * that must not be shown before its record survives a crash (a quorum queue's count).
   */
  written(): Promise<void>;
  /**
   * Writes out what was appended, keeps the data and releases the lease once it is written (an `openLog`
   * of the name meanwhile waits for that). Every `durable` promise settles. Calling it again, or after
   * `delete()`, returns the promise of the first call.
   */
  close(): Promise<void>;
  /**
   * Removes this incarnation. The name is free when the call returns (the folder is renamed away), so an
   * `openLog` right after gets a new, empty incarnation; the promise resolves once the data is gone.
   * Appends not yet written are dropped and their `durable` rejects with `invalid_state`; writes already
   * under way finish into the removed files and resolve. After `close()` it rejects with `invalid_state`
   * and removes nothing (the name may belong to someone else by then; see `Storage.removeLog`).
   */
  delete(): Promise<void>;
}

export interface Storage {
  /** Bytes handed to the disk since open; absent where nothing reaches a disk (memory). */
  readonly writes?: WriteMeter;
  /**
   * Opens (recovering if needed) or creates the log and leases it to the caller alone. While that
   * handle is open, another `openLog` of the name is refused with
   * `BrokerError(resource_locked, "Log <name> is held by incarnation <n>")`; while it is closing, the
   * call waits for the close. Names: [A-Za-z0-9._-], at most 200 characters.
   */
  openLog(name: string): Promise<Log>;
  /**
   * Removes a log nobody holds (a leftover found at start-up); `resource_locked` while it is leased,
   * a no-op when there is none.
   */
  removeLog(name: string): Promise<void>;
  /** Names that have a log, leased or not. */
  listLogs(): Promise<string[]>;
  close(): Promise<void>;
}

/** Bounds on storage; every one named with its unit last. */
export interface StorageLimits {
  readonly segmentBytesMax: number;
  readonly entryBytesMax: number;
  /** Bytes between sparse offset-index entries. */
  readonly indexIntervalBytes: number;
  /**
   * Segment files `FileStorage` keeps open at once (a least-recently-used cache; an idle log holds none),
   * so the number of logs is not bounded by the process's file-descriptor limit.
   */
  readonly openFilesMax: number;
  /**
   * Bytes per second that compaction away from the log's thread reads and writes, and frees of the
   * segments it replaced (Kafka's `log.cleaner.io.max.bytes.per.second`); 0 for no limit. Paced, its
   * I/O reaches the file system a chunk at a time instead of in bursts that producers' fdatasyncs
   * wait behind (docs/performance.md, "Kafka compaction").
   */
  readonly compactionIoBytesPerSecondMax: number;
}

export const storageLimitsDefault: StorageLimits = {
  segmentBytesMax: 64 * 1024 * 1024,
  entryBytesMax: 64 * 1024 * 1024,
  indexIntervalBytes: 4096,
  openFilesMax: 1024,
  // Kafka's default is no limit. Two thirds of what the thread did unpaced on the project's machine
  // (~100 MB/s, most of it read from the page cache): a run takes about 1.5× as long, a chunk at a time.
  compactionIoBytesPerSecondMax: 64 * 1024 * 1024,
};

/** Bounds on `openFilesMax`: below the minimum, busy logs would evict one another's files on every call. */
export const openFilesMaxRange = { min: 16, max: 1_000_000 } as const;
