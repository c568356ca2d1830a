/**
 * The compaction thread (`CompactionThread`, ./compaction-thread.ts): one run at a time, it maps the
 * keys of a partition's sealed segments and rewrites them, one segment per request, into `.cleaned`
 * files beside them, reading and writing the files itself (storage/file/sealed.ts). The stream's
 * executor swaps each result in. Nothing here touches the log's state: a thread that dies leaves only
 * `.cleaned` files, which the executor removes (and recovery would).
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { readSealedSegment, rewriteSealedSegment } from '../../storage/file/sealed.js';
import { IoThrottle } from '../../storage/file/throttle.js';
import type { RewrittenSegmentFile, SealedSegment } from '../../storage/types.js';
import { type AbortedRanges, abortedTest, CompactionRun, type RunBounds } from './compaction-rules.js';
import { compactorsKnown } from './formats.js';

export type CompactionRequest =
  | {
      readonly kind: 'map';
      /** Modules whose import registers the compactors of `formats`, as on the stream's thread. */
      readonly modules: readonly string[];
      readonly formats: readonly number[];
      readonly segments: readonly SealedSegment[];
      /** The byte rate the thread's reads and writes keep to (`Log.sealedIoBytesPerSecondMax`; 0: none). */
      readonly ioBytesPerSecondMax: number;
      /** Records below this are kept unasked. */
      readonly from: number;
      readonly bounds: RunBounds;
      readonly aborted: AbortedRanges;
    }
  /** Rewrites the mapped segment of that base. */
  | { readonly kind: 'rewrite'; readonly base: number }
  | { readonly kind: 'end' };

export type CompactionReply =
  | { readonly kind: 'mapped'; readonly end: number }
  /** Some format's compactor could not be loaded here: the run goes on the stream's executor. */
  | { readonly kind: 'unsupported' }
  /** `rewritten` is undefined when the segment is unchanged, or gone (retention removed it). */
  | {
      readonly kind: 'rewritten';
      readonly rewritten: RewrittenSegmentFile | undefined;
      readonly dueAt: number;
    }
  | { readonly kind: 'failed'; readonly message: string; readonly code: string | undefined };

interface Job {
  readonly segments: readonly SealedSegment[];
  readonly from: number;
  readonly run: CompactionRun;
}

/** How long `chrt` may take to change this thread's policy before the thread goes on without it. */
const chrtMsMax = 2000;

/** This thread's id on Linux (from /proc/thread-self), or undefined elsewhere. */
function threadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').at(-1));
    return Number.isInteger(tid) && tid > 0 ? tid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Lowers this thread's priority to `nice`, then asks for `SCHED_IDLE` where util-linux's `chrt` is
 * found. Nice alone lets a busy thread keep its core for up to the rest of its slice (about 1.5 ms on
 * two cores by the kernel's defaults) when the event loop or a pool thread wakes there; a `SCHED_IDLE`
 * thread is preempted at once, and the kernel counts its core as free when it places a waking thread
 * (docs/performance.md, "Kafka compaction", "5 December, afternoon"). Lowering one's own policy needs no
 * privilege.
 */
function lowerPriority(nice: number, idle: boolean): void {
  const tid = threadId();
  if (tid === undefined) return;
  try {
    setPriority(tid, nice);
    if (idle)
      execFileSync('chrt', ['--idle', '-p', '0', String(tid)], { stdio: 'ignore', timeout: chrtMsMax });
  } catch {
    // Not allowed, or no `chrt`: the thread runs at the priority it has.
  }
}

let job: Job | undefined;
/** Paces every read and write of this thread, across runs and partitions, as Kafka's one cleaner rate. */
const throttle = new IoThrottle(0);

/** A segment file that is gone was removed by retention or with its log: there is nothing to compact. */
function gone(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

async function map(request: Extract<CompactionRequest, { kind: 'map' }>): Promise<CompactionReply> {
  for (const url of request.modules) await import(url);
  if (!compactorsKnown(request.formats)) return { kind: 'unsupported' };
  const run = new CompactionRun(request.bounds, abortedTest(request.aborted));
  throttle.bytesPerSecondMax = request.ioBytesPerSecondMax;
  for (const segment of request.segments) {
    if (segment.base >= run.end) break;
    try {
      readSealedSegment(segment, (entry) => run.map(entry), throttle);
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }
  job = { segments: request.segments, from: request.from, run };
  return { kind: 'mapped', end: run.end };
}

function rewrite(base: number): CompactionReply {
  if (job === undefined) throw new Error('no compaction is mapped');
  const { segments, from, run } = job;
  const segment = segments.find((s) => s.base === base);
  let rewritten: RewrittenSegmentFile | undefined;
  if (segment !== undefined && segment.base < run.end) {
    try {
      // Unsynced: the log's thread makes it durable beside a producer's fdatasync before its swap.
      rewritten = rewriteSealedSegment(segment, from, (entry) => run.choose(entry), throttle, false);
    } catch (err) {
      if (!gone(err)) throw err;
    }
  }
  return { kind: 'rewritten', rewritten, dueAt: run.dueAt };
}

async function handle(request: CompactionRequest): Promise<CompactionReply | undefined> {
  switch (request.kind) {
    case 'map':
      return map(request);
    case 'rewrite':
      return rewrite(request.base);
    case 'end':
      job = undefined;
      return undefined;
  }
}

if (!isMainThread) {
  const { nice, idle } = workerData as { nice: number; idle: boolean };
  lowerPriority(nice, idle);
}

// Requests come one at a time (the stream's thread awaits each reply), so handling them in order is enough.
let queue = Promise.resolve();
parentPort?.on('message', (request: CompactionRequest) => {
  queue = queue.then(async () => {
    let reply: CompactionReply | undefined;
    try {
      reply = await handle(request);
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      reply = { kind: 'failed', message, code: (err as NodeJS.ErrnoException).code };
    }
    if (reply !== undefined) parentPort?.postMessage(reply);
  });
});
