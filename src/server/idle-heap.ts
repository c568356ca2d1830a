/**
 * Gives V8's young generation back once the process has gone quiet. Loading the protocols' modules at
 * start (and any burst of traffic later) makes V8 grow its two semi-spaces, up to 2 × 16 MiB on Node
 * 20. V8 shrinks them again only in a collection that finds the allocation rate since its previous
 * collection under 1,000 bytes a millisecond, and a process with nothing to do runs no collection at
 * all, so an idle broker kept the 16 MiB that loading every listener grew (docs/performance.md,
 * "Memory: the young generation after start").
 *
 * Every `idleCheckMs` the watch reads how busy the event loop was. Once the loop has been quiet long
 * enough that what the young generation holds, spread over the quiet time, is under half V8's rate
 * (`quietBytesPerMsMax`), and the young generation has grown past `youngBytesIdleMax`, it runs one full
 * collection, whose end shrinks the young generation and returns its pages. At most one per quiet
 * spell: the next only after a busy window. Only the `switchyard start` process runs it; an embedding
 * process owns its own heap.
 *
 * That collection can come only once V8's allocation rate over its last 5 s is low, so 10–15 s after
 * start. So `switchyard start` also keeps the young generation from growing while it loads
 * (`holdYoungGeneration`, before the broker's modules are imported) and lets it grow again at the
 * ready line (`releaseYoungGeneration`): what survives the start's scavenges is module code that would
 * be promoted anyway, so it goes to the old space at once instead of doubling the semi-spaces first.
 * From then on it grows with traffic up to `youngBytesMax` and no further: under a steady stream of
 * messages, V8's 2 × 16 MiB held the garbage of the last scavenge interval (tens of MiB of array
 * buffers) on top of itself (docs/performance.md, "The young generation capped").
 */
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';

/** How often the watch reads the event loop; a collection comes at most this long after it may. */
export const idleCheckMs = 2000;
/** Share of a window the event loop may spend running and still count as quiet. */
export const idleUtilizationMax = 0.02;
/** V8's young generation starts at 1 MiB; above this it has grown and is worth giving back. */
export const youngBytesIdleMax = 4 * 1024 * 1024;
/** Half of V8's low allocation rate (kLowAllocationThroughput, bytes per millisecond). */
export const quietBytesPerMsMax = 500;

/**
 * V8's own factor (Node 20, V8 11.3) by which a semi-space grows when more survived scavenges than it
 * holds; 1 keeps it at its size.
 */
export const youngGrowthFactorDefault = 2;
const youngGrowthFactorHeld = 1;

/** Node options that set the young generation's sizes: an operator who sets them keeps them as set. */
const youngSettingPattern = /--(?:max|min)-semi-space-size|--semi-space-growth-factor/;

function youngGenerationSetByOperator(): boolean {
  const options = [...process.execArgv, process.env['NODE_OPTIONS'] ?? ''];
  return options.some((option) => youngSettingPattern.test(option));
}

let youngHeld = false;

/**
 * Keeps the young generation at its size until `releaseYoungGeneration`. Loading every listener's
 * modules otherwise grows it from 2 × 1 to 2 × 8 MiB (docs/performance.md, "The young generation held
 * at start"). Does nothing when the operator set the young generation's sizes.
 */
export function holdYoungGeneration(): void {
  if (youngHeld || youngGenerationSetByOperator()) return;
  setFlagsFromString(`--semi-space-growth-factor=${youngGrowthFactorHeld}`);
  youngHeld = true;
}

/**
 * Committed bytes of the young generation (both semi-spaces) past which it is not grown: 2 × 4 MiB
 * instead of V8's 2 × 16 on this Node. A 4 MiB semi-space cost no measurable CPU per message in the
 * measurements of docs/performance.md ("Memory: modules on demand, V8 and glibc settings").
 */
export const youngBytesMax = 8 * 1024 * 1024;

/**
 * The growth factor that takes a young generation of `committedBytes` to the cap in one step, and
 * no further: V8 grows it only when what survived scavenges since its last growth exceeds its size,
 * and a stream of messages that die young (most of a broker's allocation) takes seconds to get there;
 * growing 2 × 1 MiB → 2 × 2 → 2 × 4 MiB took two such waits, each after any collection that had
 * shrunk it, and the scavenges in between came twice as often as at the cap (docs/performance.md,
 * "Open-loop latency", lat9). V8's factor is a whole number; 1 holds it.
 */
export function youngGrowthFactorFor(committedBytes: number): number {
  if (committedBytes <= 0 || committedBytes >= youngBytesMax) return youngGrowthFactorHeld;
  return Math.max(youngGrowthFactorHeld, Math.floor(youngBytesMax / committedBytes));
}

/** V8's page (Node 20, V8 11.3, x64): a semi-space is a whole number of them. */
const v8PageBytes = 256 * 1024;

/**
 * Both semi-spaces' size as V8 grows them: twice the to-space's capacity (its usable bytes, used and
 * available, rounded up to whole pages). Not `space_size`, the committed bytes: a mark-compact that
 * reduces memory uncommits the from-space, so they read one semi-space, and a factor steered from that
 * doubled the young generation past the cap (2 × 8 MiB from 2 × 1 MiB).
 */
function youngTargetBytes(): number {
  const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
  if (space === undefined) return 0;
  const pages = Math.ceil((space.space_used_size + space.space_available_size) / v8PageBytes);
  return 2 * pages * v8PageBytes;
}

/**
 * Lets the young generation grow again with traffic, up to `youngBytesMax`: after each collection the
 * growth factor is the one that reaches that in one step (`youngGrowthFactorFor`), and 1 once it is
 * there (it grows only in scavenges, so it stops there; after the idle watch has shrunk it, it may grow again). The
 * returned `stop` ends the watch. Nothing is watched when the young generation was not held.
 */
export function releaseYoungGeneration(): { stop(): void } {
  if (!youngHeld) return { stop() {} };
  youngHeld = false;
  let factor = youngGrowthFactorHeld;
  const steer = () => {
    const wanted = youngGrowthFactorFor(youngTargetBytes());
    if (wanted === factor) return;
    setFlagsFromString(`--semi-space-growth-factor=${wanted}`);
    factor = wanted;
  };
  steer();
  const observer = new PerformanceObserver(steer);
  observer.observe({ entryTypes: ['gc'] });
  return { stop: () => observer.disconnect() };
}

/** What the watch reads and does; tests replace them. */
export interface IdleHeapProbes {
  /** The event loop's busy share since the previous call (the first call: since the process began). */
  utilization(): number;
  /** The young generation's committed bytes and the bytes allocated in it since its last collection. */
  young(): { committed: number; used: number };
  collect(): void;
}

/**
 * A full collection without `--expose-gc` on the command line: the flag is set only while a fresh
 * context is made, so `gc` exists in that context alone (never as a global of the broker's), and set
 * back; the context is dropped after the call, so it goes with the next collection. `vm.measureMemory`,
 * the documented way to ask for one, prints an experimental warning.
 */
function fullCollection(): void {
  let gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    setFlagsFromString('--expose-gc');
    try {
      gc = runInNewContext('gc') as () => void;
    } finally {
      setFlagsFromString('--no-expose-gc');
    }
  }
  gc();
}

function systemProbes(): IdleHeapProbes {
  let last = performance.eventLoopUtilization();
  return {
    utilization() {
      const now = performance.eventLoopUtilization();
      const share = performance.eventLoopUtilization(now, last).utilization;
      last = now;
      return share;
    },
    young() {
      const space = getHeapSpaceStatistics().find((s) => s.space_name === 'new_space');
      return { committed: space?.space_size ?? 0, used: space?.space_used_size ?? 0 };
    },
    collect: fullCollection,
  };
}

export class IdleHeapWatch {
  readonly #clock: Clock;
  readonly #probes: IdleHeapProbes;
  readonly #logger: Logger;
  #timer: { cancel(): void } | undefined;
  /** When the current quiet spell began (the last busy check, or the watch's start). */
  #quietSinceMs: number;
  /** A collection ran in this quiet spell. */
  #collected = false;
  #stopped = false;

  constructor(clock: Clock, logger: Logger, probes: IdleHeapProbes = systemProbes()) {
    this.#clock = clock;
    this.#logger = logger;
    this.#probes = probes;
    this.#probes.utilization();
    this.#quietSinceMs = clock.now();
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    this.#timer?.cancel();
  }

  #arm(): void {
    if (!this.#stopped) this.#timer = this.#clock.setTimeout(() => this.#check(), idleCheckMs);
  }

  #check(): void {
    const now = this.#clock.now();
    if (this.#probes.utilization() > idleUtilizationMax) {
      this.#quietSinceMs = now;
      this.#collected = false;
    } else if (!this.#collected) {
      const young = this.#probes.young();
      const quietMs = now - this.#quietSinceMs;
      if (young.committed > youngBytesIdleMax && young.used < quietMs * quietBytesPerMsMax) {
        this.#collected = true;
        try {
          this.#probes.collect();
          this.#logger.debug({ youngBytes: this.#probes.young().committed }, 'idle: heap collected');
        } catch (err) {
          this.#logger.warn({ err }, 'idle: heap collection failed');
        }
      }
    }
    this.#arm();
  }
}
