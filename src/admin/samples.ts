/**
 * RabbitMQ's sample history on `/api/overview`: with `msg_rates_age` and `msg_rates_incr` (seconds),
 * each `message_stats.*_details` gains `samples` (`[{sample, timestamp}]`, newest first, one per
 * increment over the age), `avg_rate` and `avg`, as the RabbitMQ UI's charts and rabbitmqadmin read
 * them; with `lengths_age` and `lengths_incr`, each `queue_totals.*_details` does the same for the
 * messages queued. They come from core's ring of the totals' samples (`meterSamples()`: one every
 * 5 s, ten minutes kept), whose queue lengths are the vhosts' running totals, so no answer walks
 * the queues. Each `*_details.rate` is the change per second over the last sampling interval.
 */
import type { TotalSample } from '../core/api.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';

type JsonObject = { [key: string]: Json };
type Value = (sample: TotalSample) => number;

/** Points one answer may carry per series (RabbitMQ has no bound; a small age/incr could ask millions). */
const pointsMax = 1000;

export interface History {
  readonly ageS: number;
  readonly incrS: number;
}

function seconds(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1)
    throw new HttpError(400, 'bad_request', `${name} must be a positive integer`);
  return n;
}

/** The histories a query asks for: of the message rates and of the queue lengths (one gives both). */
export interface Histories {
  readonly rates?: History;
  readonly lengths?: History;
}

/** The histories a query asks for; each asked by its own `*_age`, or by the other's when absent. */
export function historiesOf(search: string): Histories {
  const query = new URLSearchParams(search);
  const lengthsAge = seconds(query, 'lengths_age');
  const lengthsIncr = seconds(query, 'lengths_incr');
  const ratesAge = seconds(query, 'msg_rates_age');
  const ratesIncr = seconds(query, 'msg_rates_incr');
  const rates = history(ratesAge ?? lengthsAge, ratesIncr ?? lengthsIncr);
  const lengths = history(lengthsAge ?? ratesAge, lengthsIncr ?? ratesIncr);
  return rates === undefined || lengths === undefined ? {} : { rates, lengths };
}

function history(ageS: number | undefined, incr: number | undefined): History | undefined {
  if (ageS === undefined) return undefined;
  const incrS = incr ?? 5;
  if (ageS / incrS > pointsMax)
    throw new HttpError(400, 'bad_request', `At most ${pointsMax} samples per series (age / incr)`);
  return { ageS, incrS };
}

/** One sample per increment back from the newest, each the last taken at or before its time. */
function points(ring: readonly TotalSample[], history: History): TotalSample[] {
  const newest = ring[ring.length - 1];
  if (newest === undefined) return [];
  const out: TotalSample[] = [];
  let i = ring.length - 1;
  for (let t = newest.atMs; t >= newest.atMs - history.ageS * 1000; t -= history.incrS * 1000) {
    while (i >= 0 && ring[i]!.atMs > t) i--;
    if (i < 0) break;
    out.push(ring[i]!);
  }
  return out;
}

/** `details` with `samples`, `avg_rate` and `avg` of `value`, as RabbitMQ adds them. */
function withSamples(details: Json | undefined, picked: TotalSample[], value: Value) {
  const samples = picked.map((s) => ({ sample: value(s), timestamp: s.atMs }));
  const first = samples[0];
  const last = samples[samples.length - 1];
  const spanS = first === undefined || last === undefined ? 0 : (first.timestamp - last.timestamp) / 1000;
  const avgRate = spanS > 0 ? (first!.sample - last!.sample) / spanS : 0;
  const avg = samples.length === 0 ? 0 : samples.reduce((n, s) => n + s.sample, 0) / samples.length;
  const base = details !== null && typeof details === 'object' && !Array.isArray(details) ? details : {};
  return { ...base, samples, avg_rate: Math.round(avgRate * 10) / 10, avg: Math.round(avg * 10) / 10 };
}

const rateSeries: ReadonlyArray<[string, Value]> = [
  ['publish', (s) => s.counts.published],
  ['deliver_get', (s) => s.counts.delivered],
  ['deliver', (s) => s.counts.delivered - s.counts.got],
  ['get', (s) => s.counts.got],
  ['ack', (s) => s.counts.acked],
  ['redeliver', (s) => s.counts.redelivered],
  ['confirm', (s) => s.counts.confirmed],
];

const lengthSeries: ReadonlyArray<[string, Value]> = [
  ['messages', (s) => s.lengths.ready + s.lengths.unacked],
  ['messages_ready', (s) => s.lengths.ready],
  ['messages_unacknowledged', (s) => s.lengths.unacked],
];

/** `stats` (a `message_stats`) with each series' sample history. */
export function sampled(stats: JsonObject, ring: readonly TotalSample[], history: History): JsonObject {
  return withSeries(stats, rateSeries, ring, history);
}

/**
 * `totals` (a `queue_totals`) with each length's `*_details`: its `rate` (change per second between
 * the last two samples; 0 before there are two) and, with a `history`, its samples.
 */
export function queueTotals(totals: JsonObject, ring: readonly TotalSample[], history?: History): JsonObject {
  const out: JsonObject = { ...totals };
  const newest = ring[ring.length - 1];
  const before = ring[ring.length - 2];
  const seconds = newest === undefined || before === undefined ? 0 : (newest.atMs - before.atMs) / 1000;
  for (const [name, value] of lengthSeries) {
    const rate = seconds > 0 ? (value(newest!) - value(before!)) / seconds : 0;
    out[`${name}_details`] = { rate: Math.round(rate * 10) / 10 };
  }
  return history === undefined ? out : withSeries(out, lengthSeries, ring, history);
}

function withSeries(
  stats: JsonObject,
  series: ReadonlyArray<[string, Value]>,
  ring: readonly TotalSample[],
  history: History,
): JsonObject {
  const picked = points(ring, history);
  const out: JsonObject = { ...stats };
  for (const [name, value] of series)
    out[`${name}_details`] = withSamples(stats[`${name}_details`], picked, value);
  return out;
}
