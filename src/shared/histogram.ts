/**
 * A histogram of fixed buckets, cheap enough to observe on every fsync: one comparison loop over a
 * dozen bounds and two additions. Bounds are upper bounds, inclusive (Prometheus's `le`).
 */
import { assert } from './assert.js';

export interface HistogramSnapshot {
  /** Upper bounds, ascending; +Inf is implied after the last. */
  readonly bounds: readonly number[];
  /** Observations at or below each bound, cumulative (bucket `le=bounds[i]`); `count` is the +Inf one. */
  readonly cumulative: readonly number[];
  readonly sum: number;
  readonly count: number;
}

export class Histogram {
  readonly #bounds: readonly number[];
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  constructor(bounds: readonly number[]) {
    assert(
      bounds.every((b, i) => i === 0 || b > bounds[i - 1]!),
      'histogram bounds must ascend',
    );
    this.#bounds = [...bounds];
    this.#counts = bounds.map(() => 0);
  }

  observe(value: number): void {
    this.#sum += value;
    this.#count++;
    for (let i = 0; i < this.#bounds.length; i++) {
      if (value <= this.#bounds[i]!) {
        this.#counts[i]!++;
        return;
      }
    }
  }

  snapshot(): HistogramSnapshot {
    let running = 0;
    const cumulative = this.#counts.map((n) => (running += n));
    return { bounds: this.#bounds, cumulative, sum: this.#sum, count: this.#count };
  }
}

/** Seconds from 100 µs to 10 s: an fsync on NVMe, on a cloud volume, and on a disk in trouble. */
export const syncSecondsBounds: readonly number[] = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];
