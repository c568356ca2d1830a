/**
 * Preloaded into the broker by `LATENCY_PROBE=1 npm run bench -- latency` (bench/latency.ts passes
 * `--import` of this file in NODE_OPTIONS): tells the broker's own pauses from the scheduler's.
 *
 * bench/gap-watch.ts finds the gaps over `gapMs` in the main thread's 1 ms ticks, busy (a long turn,
 * a GC pause) or stalled (the process was not run: the machine's share, not the broker's), and the GC
 * pauses. The bytes allocated on the JavaScript heap come from v8's GC profiler (the heap used before
 * each collection less what the one before left, plus the growth since the last), a figure the
 * machine's load does not change. One line a second on stderr.
 */
import { appendFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector';
import { join } from 'node:path';
import { constants } from 'node:perf_hooks';
import { GCProfiler, getHeapStatistics, setFlagsFromString } from 'node:v8';
import { isMainThread } from 'node:worker_threads';
import { type GapEvent, gapMs, watchGaps } from './gap-watch.js';

const reportMs = 1000;

interface Window {
  ticks: number;
  busyCount: number;
  busyMs: number;
  busyMaxMs: number;
  stalledCount: number;
  stalledMs: number;
  stalledMaxMs: number;
  gcCount: number;
  gcMs: number;
  gcMaxMs: number;
  gcOverGap: number;
  /** Full (mark-compact) collections: the old generation's, which a growing retained set brings. */
  majorCount: number;
  majorMs: number;
  majorMaxMs: number;
  allocatedBytes: number;
}

const empty = (): Window => ({
  ticks: 0,
  busyCount: 0,
  busyMs: 0,
  busyMaxMs: 0,
  stalledCount: 0,
  stalledMs: 0,
  stalledMaxMs: 0,
  gcCount: 0,
  gcMs: 0,
  gcMaxMs: 0,
  gcOverGap: 0,
  majorCount: 0,
  majorMs: 0,
  majorMaxMs: 0,
  allocatedBytes: 0,
});

/** Bytes allocated on the heap since the last call: what each collection found, less what the one before left. */
function allocationMeter(): () => number {
  let profiler = new GCProfiler();
  profiler.start();
  let leftBytes = getHeapStatistics().used_heap_size;
  return () => {
    const { statistics } = profiler.stop();
    profiler = new GCProfiler();
    profiler.start();
    let allocated = 0;
    for (const gc of statistics) {
      allocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - leftBytes);
      leftBytes = gc.afterGC.heapStatistics.usedHeapSize;
    }
    const now = getHeapStatistics().used_heap_size;
    allocated += Math.max(0, now - leftBytes);
    leftBytes = now;
    return allocated;
  };
}

/**
 * `LATENCY_GAPS_FILE`: every gap over `gapMs` and every GC pause, as `<kind> <from> <to>` (epoch ms,
 * so that the bench can line them up with its messages), appended once a second.
 */
const gapsFile = process.env['LATENCY_GAPS_FILE'];
const gapLines: string[] = [];

function noteGap(kind: 'busy' | 'stalled' | 'gc', fromMs: number, toMs: number): void {
  if (gapsFile === undefined) return;
  const origin = performance.timeOrigin;
  gapLines.push(`${kind} ${(origin + fromMs).toFixed(2)} ${(origin + toMs).toFixed(2)}`);
}

/** Adds one gap or GC pause (or, for `undefined`, a tick) to the window. */
function count(w: Window, gap: GapEvent | undefined): void {
  if (gap === undefined) {
    w.ticks++;
    return;
  }
  noteGap(gap.kind, gap.fromMs, gap.toMs);
  const ms = gap.toMs - gap.fromMs;
  if (gap.kind === 'busy') {
    w.busyCount++;
    w.busyMs += ms;
    w.busyMaxMs = Math.max(w.busyMaxMs, ms);
  } else if (gap.kind === 'stalled') {
    w.stalledCount++;
    w.stalledMs += ms;
    w.stalledMaxMs = Math.max(w.stalledMaxMs, ms);
  } else {
    w.gcCount++;
    w.gcMs += ms;
    w.gcMaxMs = Math.max(w.gcMaxMs, ms);
    if (ms > gapMs) w.gcOverGap++;
    if (gap.gcKind === constants.NODE_PERFORMANCE_GC_MAJOR) {
      w.majorCount++;
      w.majorMs += ms;
      w.majorMaxMs = Math.max(w.majorMaxMs, ms);
    }
  }
}

function start(): void {
  let w = empty();
  watchGaps((gap) => count(w, gap));
  const allocated = allocationMeter();
  setInterval(() => {
    const f = (ms: number) => ms.toFixed(1);
    w.allocatedBytes = allocated();
    process.stderr.write(
      `probe ${new Date().toISOString().slice(11, 19)} ticks ${w.ticks}; gaps over ${gapMs} ms: busy ${w.busyCount} (${f(w.busyMs)} ms, max ${f(w.busyMaxMs)}), stalled ${w.stalledCount} (${f(w.stalledMs)} ms, max ${f(w.stalledMaxMs)}); gc ${w.gcCount} (${f(w.gcMs)} ms, max ${f(w.gcMaxMs)}, ${w.gcOverGap} over ${gapMs} ms; major ${w.majorCount} (${f(w.majorMs)} ms, max ${f(w.majorMaxMs)})); allocated ${(w.allocatedBytes / 1024).toFixed(0)} KiB\n`,
    );
    w = empty();
    if (gapsFile !== undefined && gapLines.length > 0)
      appendFileSync(gapsFile, `${gapLines.splice(0).join('\n')}\n`);
  }, reportMs).unref();
}

/** Sampling interval of the phase profiles: fine enough to see turns of 2 ms. */
const profileIntervalUs = 100;
/** Mean bytes between the heap profile's samples of allocations. */
const heapSamplingBytes = 4096;

/**
 * `LATENCY_PROFILE_DIR`: each SIGUSR2 from the bench starts a CPU profile of the main thread, and the
 * next one writes it there as `<n>.cpuprofile` (bench/profile-turns.ts reads it), one per phase, with
 * a sampled heap profile of the allocations meanwhile as `<n>.heapprofile`.
 */
function profilePhases(dir: string): void {
  const session = new Session();
  session.connect();
  let running = false;
  let written = 0;
  process.on('SIGUSR2', () => {
    if (!running) {
      running = true;
      session.post('Profiler.enable', () =>
        session.post('Profiler.setSamplingInterval', { interval: profileIntervalUs }, () =>
          session.post('Profiler.start'),
        ),
      );
      session.post('HeapProfiler.enable', () =>
        session.post('HeapProfiler.startSampling', {
          samplingInterval: heapSamplingBytes,
          // Garbage too: what a message costs is mostly what is collected young.
          includeObjectsCollectedByMinorGC: true,
          includeObjectsCollectedByMajorGC: true,
        }),
      );
      return;
    }
    running = false;
    const n = ++written;
    session.post('Profiler.stop', (error, result) => {
      if (error !== null) process.stderr.write(`probe: no profile: ${error.message}\n`);
      else writeFileSync(join(dir, `${n}.cpuprofile`), JSON.stringify(result.profile));
    });
    session.post('HeapProfiler.stopSampling', (error, result) => {
      if (error !== null) process.stderr.write(`probe: no heap profile: ${error.message}\n`);
      else writeFileSync(join(dir, `${n}.heapprofile`), JSON.stringify(result.profile));
    });
  });
}

// Worker threads (password hashing) load this too; only the main thread carries messages.
if (isMainThread) {
  // `LATENCY_TRACE_GC=1`: V8's line per collection on stdout (Node refuses `--trace-gc` in NODE_OPTIONS).
  if (process.env['LATENCY_TRACE_GC'] === '1') setFlagsFromString('--trace-gc');
  start();
  const dir = process.env['LATENCY_PROFILE_DIR'];
  if (dir !== undefined) profilePhases(dir);
}
