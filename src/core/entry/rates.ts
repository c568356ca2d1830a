/**
 * Message rates: the counters of ./meters.ts sampled on a timer (RabbitMQ's `message_stats` with
 * `*_details.rate`). The publish path only increments integers; every `sampleIntervalMs` this reads
 * each counted object once and keeps, per object, its last sample and the rates since the one before.
 * The broker's totals also keep a short ring of samples, with the messages queued at each (the
 * vhosts' running totals, RabbitMQ's `queue_totals`), for `msg_rates_age` / `lengths_age` views.
 * The timer runs on the sampler's own executor.
 */
import type { Executor, Timer } from '../exec/executor.js';
import type { MessageCounts, MessageRates, QueueLengths, TotalSample } from '../views.js';
import { type Meters, zeroCounts } from './meters.js';

/** RabbitMQ's default sampling interval. */
export const sampleIntervalMs = 5000;
/** Samples of the totals kept: ten minutes at the default interval. */
const totalSamplesMax = 120;

/**
 * A counter's last sample and the rates up to it. One per counter, updated in place: a broker of
 * 100,000 queues allocating two objects per queue every 5 s spent most of a second per sample in the
 * collector (docs/performance.md, "Management API").
 */
interface Sample {
  atMs: number;
  readonly counts: MessageCounts;
  readonly rates: { -readonly [K in keyof MessageRates]: number };
}

const noRates: MessageRates = Object.freeze(zeroCounts());

/** Per second from `before` to `now` over `seconds` (counters only grow; 0 when no time passed). */
const perSecond = (now: number, before: number, seconds: number) =>
  seconds > 0 ? Math.max(0, (now - before) / seconds) : 0;

/**
 * Moves `sample` to `now` at `atMs`: the rates since its previous time, then the counts themselves.
 * Field by field rather than in a loop over keys: this runs for every counter every 5 s.
 */
function advance(sample: Sample, now: MessageCounts, atMs: number): void {
  const seconds = (atMs - sample.atMs) / 1000;
  const { counts, rates } = sample;
  rates.published = perSecond(now.published, counts.published, seconds);
  rates.delivered = perSecond(now.delivered, counts.delivered, seconds);
  rates.redelivered = perSecond(now.redelivered, counts.redelivered, seconds);
  rates.acked = perSecond(now.acked, counts.acked, seconds);
  rates.got = perSecond(now.got, counts.got, seconds);
  rates.confirmed = perSecond(now.confirmed, counts.confirmed, seconds);
  counts.published = now.published;
  counts.delivered = now.delivered;
  counts.redelivered = now.redelivered;
  counts.acked = now.acked;
  counts.got = now.got;
  counts.confirmed = now.confirmed;
  sample.atMs = atMs;
}

function isZero(counts: MessageCounts): boolean {
  return (
    counts.published === 0 &&
    counts.delivered === 0 &&
    counts.redelivered === 0 &&
    counts.acked === 0 &&
    counts.got === 0 &&
    counts.confirmed === 0
  );
}

export class RateSampler {
  readonly #meters: Meters;
  readonly #exec: Executor;
  /**
   * Keyed by the counter object itself. A plain map, swept after each sample of the counters it did
   * not meet (objects forgotten since): a WeakMap of 100,000 entries made every collection of the
   * publishing process slower, about 10 % of its throughput (docs/performance.md).
   */
  readonly #samples = new Map<MessageCounts, Sample>();
  /**
   * The one sample of every counter still at zero in the last round (an idle connection's, an unused
   * queue's): a sample object of their own cost each idle MQTT connection about 220 bytes. Never advanced.
   */
  #unused: Sample | undefined;
  readonly #totals: TotalSample[] = [];
  readonly #lengths: () => QueueLengths;
  #timer: Timer | undefined;

  /** `lengths`: the messages queued in the broker now, read once per sample (it must not walk queues). */
  constructor(
    meters: Meters,
    exec: Executor,
    lengths: () => QueueLengths = () => ({ ready: 0, unacked: 0 }),
  ) {
    this.#meters = meters;
    this.#exec = exec;
    this.#lengths = lengths;
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
    const before = this.#unused;
    const unused = before?.atMs === atMs ? before : { atMs, counts: zeroCounts(), rates: zeroCounts() };
    this.#unused = unused;
    this.#meters.forEachCounter((counts, atZeroBefore) => {
      // Counters only grow: one still at zero has had zero rates, and shares this sample.
      if (isZero(counts)) return void samples.set(counts, unused);
      // A connection's counters are made at its first count: before, they were zero, as last sampled.
      const sample = samples.get(counts) ?? (atZeroBefore === true ? before : undefined);
      // A counter's first sample has no rates yet: zero until the next one.
      if (sample === undefined) samples.set(counts, { atMs, counts: { ...counts }, rates: zeroCounts() });
      else if (sample === before || sample === unused) {
        // Its first count since a sample at zero: a sample of its own from that one on.
        const own = { atMs: sample.atMs, counts: zeroCounts(), rates: zeroCounts() };
        advance(own, counts, atMs);
        samples.set(counts, own);
      } else advance(sample, counts, atMs);
    });
    // Every live counter's sample is at `atMs` now (the clock never goes back); the rest are gone.
    for (const [counts, sample] of samples) if (sample.atMs !== atMs) samples.delete(counts);
    this.#totals.push({ atMs, counts: { ...this.#meters.total }, lengths: { ...this.#lengths() } });
    if (this.#totals.length > totalSamplesMax) this.#totals.shift();
  }

  /** The rates of a counter over the last sampling interval (zero until two samples are taken); a copy. */
  rates(counts: MessageCounts): MessageRates {
    const found = this.#samples.get(counts)?.rates;
    return found === undefined ? noRates : { ...found };
  }

  /** The totals' samples, oldest first. */
  totalSamples(): readonly TotalSample[] {
    return this.#totals;
  }
}
