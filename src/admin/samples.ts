/**
 * RabbitMQ's sample history on `/api/overview`: with `msg_rates_age` and `msg_rates_incr` (seconds),
 * each `message_stats.*_details` gains `samples` (`[{sample, timestamp}]`, newest first, one per
 * increment over the age), `avg_rate` and `avg`, as the RabbitMQ UI's charts and rabbitmqadmin read
 * them. They come from core's ring of the totals' samples (`meterSamples()`: one every 5 s, ten
 * minutes kept). `lengths_age`/`lengths_incr` are read and checked the same way; queue lengths are
 * not kept in that ring, so `queue_totals` has no samples yet.
 */
import type { TotalSample } from '../core/api.js';
import { HttpError } from './errors.js';
import type { Json } from './json.js';

type JsonObject = { [key: string]: Json };
type MessageCounts = TotalSample['counts'];

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

/** The history a query asks for, or undefined without `msg_rates_age`. */
export function historyOf(search: string): History | undefined {
  const query = new URLSearchParams(search);
  const lengthsAge = seconds(query, 'lengths_age');
  const lengthsIncr = seconds(query, 'lengths_incr');
  const ageS = seconds(query, 'msg_rates_age') ?? lengthsAge;
  const incrS = seconds(query, 'msg_rates_incr') ?? lengthsIncr ?? 5;
  if (ageS === undefined) return undefined;
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

/** `details` with `samples`, `avg_rate` and `avg` of counter `key`, as RabbitMQ adds them. */
function withSamples(details: Json | undefined, picked: TotalSample[], value: (c: MessageCounts) => number) {
  const samples = picked.map((s) => ({ sample: value(s.counts), timestamp: s.atMs }));
  const first = samples[0];
  const last = samples[samples.length - 1];
  const spanS = first === undefined || last === undefined ? 0 : (first.timestamp - last.timestamp) / 1000;
  const avgRate = spanS > 0 ? (first!.sample - last!.sample) / spanS : 0;
  const avg = samples.length === 0 ? 0 : samples.reduce((n, s) => n + s.sample, 0) / samples.length;
  const base = details !== null && typeof details === 'object' && !Array.isArray(details) ? details : {};
  return { ...base, samples, avg_rate: Math.round(avgRate * 10) / 10, avg: Math.round(avg * 10) / 10 };
}

const series: ReadonlyArray<[string, (c: MessageCounts) => number]> = [
  ['publish', (c) => c.published],
  ['deliver_get', (c) => c.delivered],
  ['deliver', (c) => c.delivered - c.got],
  ['get', (c) => c.got],
  ['ack', (c) => c.acked],
  ['redeliver', (c) => c.redelivered],
  ['confirm', (c) => c.confirmed],
];

/** `stats` (a `message_stats`) with each series' sample history. */
export function sampled(stats: JsonObject, ring: readonly TotalSample[], history: History): JsonObject {
  const picked = points(ring, history);
  const out: JsonObject = { ...stats };
  for (const [name, value] of series)
    out[`${name}_details`] = withSamples(stats[`${name}_details`], picked, value);
  return out;
}
