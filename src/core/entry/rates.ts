/**
 * Message rates: the counters of ./meters.ts sampled on a timer (RabbitMQ's `message_stats` with
 * `*_details.rate`). The publish path only increments integers; every `sampleIntervalMs` this reads
 * each counted object once and keeps, per object, its last sample and the rates since the one before.
 * The broker's totals also keep a short ring of samples, for `lengths_age` / `lengths_incr` views.
 * The timer runs on the sampler's own executor.
 */
import type { Executor, Timer } from '../exec/executor.js';
import { type MessageCounts, type MeteredKind, type Meters, zeroCounts } from './meters.js';

/** RabbitMQ's default sampling interval. */
export const sampleIntervalMs = 5000;
/** Samples of the totals kept: ten minutes at the default interval. */
const totalSamplesMax = 120;

export type MessageRates = { readonly [K in keyof MessageCounts]: number };

interface Sample {
  readonly atMs: number;
  readonly counts: MessageCounts;
  readonly rates: MessageRates;
}

/** A counter's value at a time (the totals' ring). */
export interface TotalSample {
  readonly atMs: number;
  readonly counts: MessageCounts;
}

const kinds: readonly MeteredKind[] = ['queue', 'exchange', 'vhost', 'connection', 'channel'];
const noRates: MessageRates = zeroCounts();

function ratesBetween(before: Sample | undefined, now: MessageCounts, atMs: number): MessageRates {
  if (before === undefined || atMs <= before.atMs) return noRates;
  const seconds = (atMs - before.atMs) / 1000;
  const rate = (key: keyof MessageCounts) => Math.max(0, (now[key] - before.counts[key]) / seconds);
  return {
    published: rate('published'),
    delivered: rate('delivered'),
    redelivered: rate('redelivered'),
    acked: rate('acked'),
    got: rate('got'),
    confirmed: rate('confirmed'),
  };
}

export class RateSampler {
  readonly #meters: Meters;
  readonly #exec: Executor;
  /** Keyed by the counter object itself: a forgotten object's sample goes with it. */
  #samples = new WeakMap<MessageCounts, Sample>();
  readonly #totals: TotalSample[] = [];
  #timer: Timer | undefined;

  constructor(meters: Meters, exec: Executor) {
    this.#meters = meters;
    this.#exec = exec;
  }

  start(): void {
    this.#timer?.cancel();
    this.#timer = this.#exec.after(sampleIntervalMs, () => {
      // Re-armed first: a sample that fails leaves the next one due (the executor restarts).
      this.start();
      this.sample();
    });
  }

  stop(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }

  /** Takes one sample of every counted object now (the timer's work; tests call it on a ManualClock). */
  sample(): void {
    const atMs = this.#exec.now();
    const samples = this.#samples;
    const take = (counts: MessageCounts) => {
      const copy = { ...counts };
      samples.set(counts, { atMs, counts: copy, rates: ratesBetween(samples.get(counts), copy, atMs) });
    };
    take(this.#meters.total);
    for (const kind of kinds) for (const [, counts] of this.#meters.each(kind)) take(counts);
    this.#totals.push({ atMs, counts: { ...this.#meters.total } });
    if (this.#totals.length > totalSamplesMax) this.#totals.shift();
  }

  /** The rates of a counter over the last sampling interval (zero until two samples are taken). */
  rates(counts: MessageCounts): MessageRates {
    return this.#samples.get(counts)?.rates ?? noRates;
  }

  /** The totals' samples, oldest first. */
  totalSamples(): readonly TotalSample[] {
    return this.#totals;
  }
}
