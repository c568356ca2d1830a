/**
 * When bench/latency.ts's step search may take a rate as sustained: the rules alone, without sockets,
 * so that test/bench can hold them.
 *
 * A step passes when nothing is lost and its p50 stays within `p50BoundMs` of the floor: the lowest p50
 * any step has shown, which is what the path costs with no backlog. The search as first written
 * (`LATENCY_STEP=quick`) took the first step's p50 as the floor, so one stall in that step raised the
 * bound for the whole search (5 December 2026, 19:51 UTC, load 13: a first step of 13.8 ms let every
 * later step pass up to p50s of 14 ms, and the phases at 50 and 90 % of that maximum fell behind).
 */

/** A backlog that grows for a whole step moves p50 by far more than this; a busy machine by about this. */
export const stepP50RiseMs = 1;
/** The messages due in this last share of a confirmation are its backlog at the end. */
export const confirmTailShare = 0.2;

/** The p50 a step may reach and still pass: the floor plus `stepP50RiseMs` or itself, whichever is more. */
export function p50BoundMs(floorP50Ms: number): number {
  return floorP50Ms + Math.max(stepP50RiseMs, floorP50Ms);
}

/** The floor the bound is taken from: the first step's (`quick`) or the lowest seen so far. */
export class P50Floor {
  #ms = Number.POSITIVE_INFINITY;
  #seen = false;

  readonly firstOnly: boolean;

  constructor(firstOnly: boolean) {
    this.firstOnly = firstOnly;
  }

  see(p50Ms: number): void {
    if (Number.isNaN(p50Ms) || (this.firstOnly && this.#seen)) return;
    this.#ms = Math.min(this.#ms, p50Ms);
    this.#seen = true;
  }

  /** Undefined before any step gave a p50. */
  get ms(): number | undefined {
    return this.#seen ? this.#ms : undefined;
  }
}

/** p50 of the messages due in the last `confirmTailShare` of a run; a lost one (NaN) counts as never back. */
export function endP50(latency: Float64Array): number {
  const from = Math.floor(latency.length * (1 - confirmTailShare));
  const end = latency.slice(from).map((v) => (Number.isNaN(v) ? Number.POSITIVE_INFINITY : v));
  end.sort();
  return end.length === 0 ? Number.NaN : end[Math.floor(end.length / 2)]!;
}

/**
 * Whether a confirmation run held its rate: nothing lost, and p50 within the bound over the whole run
 * and over its end (a backlog that grows through the run is largest there, however flat the whole
 * run's p50).
 */
export function held(
  run: { readonly lost: number; readonly p50Ms: number; readonly latency: Float64Array },
  floorP50Ms: number,
): { passed: boolean; endP50Ms: number; boundMs: number } {
  const endP50Ms = endP50(run.latency);
  const boundMs = p50BoundMs(floorP50Ms);
  const passed = run.lost === 0 && run.p50Ms <= boundMs && endP50Ms <= boundMs;
  return { passed, endP50Ms, boundMs };
}
