/**
 * `switchyard publish | get | consume`: messages through the admin API's RabbitMQ routes
 * (`POST /api/exchanges/{vhost}/{exchange}/publish`, `POST /api/queues/{vhost}/{queue}/get`). Meant
 * for operators and scripts (a test message, a look at a stuck queue, draining a dead-letter queue),
 * not for throughput: `bench` measures that over the protocols themselves.
 */
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import { call, enc, type Io, Progress, type Target, UsageError } from './client.js';
import type { Answer } from './manage.js';

export interface MessageOptions {
  readonly vhost?: string | undefined;
  readonly exchange?: string | undefined;
  readonly 'routing-key'?: string | undefined;
  readonly file?: string | undefined;
  readonly property?: string[] | undefined;
  readonly header?: string[] | undefined;
  readonly lines?: boolean | undefined;
  readonly count?: string | undefined;
  readonly wait?: string | undefined;
  readonly json?: boolean | undefined;
}

/** Properties RabbitMQ's publish route reads; numbers where AMQP has numbers. */
const numericProperties = new Set(['delivery_mode', 'priority']);

function pairs(list: readonly string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const at = item.indexOf('=');
    if (at <= 0) throw new UsageError(`${what} must be name=value, not ${JSON.stringify(item)}`);
    out[item.slice(0, at)] = item.slice(at + 1);
  }
  return out;
}

function properties(o: MessageOptions): Record<string, unknown> {
  const props: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(pairs(o.property, '--property'))) {
    props[name] = numericProperties.has(name) ? Number(value) : value;
  }
  const headers = pairs(o.header, '--header');
  if (Object.keys(headers).length > 0) props['headers'] = headers;
  return props;
}

/** The body: a file, else stdin; text goes as text, anything else as base64. */
function body(o: MessageOptions): Buffer {
  try {
    return readFileSync(o.file ?? 0);
  } catch (err) {
    throw new UsageError(`cannot read ${o.file ?? 'stdin'}: ${(err as Error).message}`);
  }
}

function payloadOf(bytes: Buffer): { payload: string; payload_encoding: 'string' | 'base64' } {
  const text = bytes.toString('utf8');
  return Buffer.from(text, 'utf8').equals(bytes)
    ? { payload: text, payload_encoding: 'string' }
    : { payload: bytes.toString('base64'), payload_encoding: 'base64' };
}

export async function publish(target: Target, words: string[], o: MessageOptions, io: Io): Promise<Answer> {
  if (words.length > 0) throw new UsageError(`unexpected ${words.join(' ')}`);
  const vhost = o.vhost ?? '/';
  // The default exchange has no name; RabbitMQ's route spells it amq.default.
  const exchange = o.exchange === undefined || o.exchange === '' ? 'amq.default' : o.exchange;
  const path = `/api/exchanges/${enc(vhost)}/${enc(exchange)}/publish`;
  const all = body(o);
  const messages = o.lines
    ? all
        .toString('utf8')
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => Buffer.from(line))
    : [all];
  const props = properties(o);
  const progress = new Progress(io, 'publish', messages.length);
  let unrouted = 0;
  for (const [i, message] of messages.entries()) {
    const answer = (await call(target, 'POST', path, {
      properties: props,
      routing_key: o['routing-key'] ?? '',
      ...payloadOf(message),
    })) as { routed?: boolean };
    if (answer?.routed === false) unrouted++;
    progress.update(i + 1);
  }
  progress.done();
  // Published but dropped by the exchange: a script must see it (exit 1 and the one error line).
  if (unrouted > 0) throw new Error(`${unrouted} of ${messages.length} messages published but not routed`);
  return { line: `Published ${messages.length - unrouted} message${messages.length === 1 ? '' : 's'}` };
}

interface Got {
  payload: string;
  payload_encoding: 'string' | 'base64';
  [key: string]: unknown;
}

function count(o: MessageOptions, fallback: number): number {
  if (o.count === undefined) return fallback;
  const n = Number(o.count);
  if (!Number.isInteger(n) || n < 1)
    throw new UsageError(`--count must be a positive integer, not ${o.count}`);
  return n;
}

function printMessages(messages: readonly Got[], o: MessageOptions, io: Io): void {
  for (const m of messages) {
    if (o.json) io.out(`${JSON.stringify(m)}\n`);
    else {
      io.out(m.payload_encoding === 'base64' ? Buffer.from(m.payload, 'base64') : m.payload);
      io.out('\n');
    }
  }
}

async function fetchBatch(target: Target, queue: string, o: MessageOptions, n: number, requeue: boolean) {
  const path = `/api/queues/${enc(o.vhost ?? '/')}/${enc(queue)}/get`;
  const ackmode = requeue ? 'ack_requeue_true' : 'ack_requeue_false';
  return (await call(target, 'POST', path, { count: n, ackmode, encoding: 'auto' })) as Got[];
}

/** Looks at up to --count messages (default 1) and leaves them in the queue (requeued). */
export async function get(target: Target, [queue]: string[], o: MessageOptions, io: Io): Promise<Answer> {
  if (queue === undefined) throw new UsageError('expected get <queue>');
  printMessages(await fetchBatch(target, queue, o, count(o, 1), true), o, io);
  return undefined;
}

/** Each get takes at most this many, so a large --count shows progress and bounds one answer. */
const batchMax = 100;
const pollMs = 200;

/**
 * Takes messages off the queue (acknowledged: they are gone) and prints them: --count of them, or
 * until the queue is empty; with --wait SECONDS, waits that long for more before giving up.
 */
export async function consume(target: Target, [queue]: string[], o: MessageOptions, io: Io): Promise<Answer> {
  if (queue === undefined) throw new UsageError('expected consume <queue>');
  const wanted = count(o, Number.POSITIVE_INFINITY);
  const waitMs = o.wait === undefined ? 0 : Number(o.wait) * 1000;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new UsageError(`--wait must be seconds, not ${o.wait}`);
  const deadline = Date.now() + waitMs;
  const progress = new Progress(io, 'consume', Number.isFinite(wanted) ? wanted : 0);
  let got = 0;
  while (got < wanted) {
    const batch = await fetchBatch(target, queue, o, Math.min(batchMax, wanted - got), false);
    printMessages(batch, o, io);
    got += batch.length;
    if (Number.isFinite(wanted)) progress.update(got);
    if (batch.length > 0) continue;
    if (Date.now() >= deadline) break;
    await new Promise((resolve) => setTimeout(resolve, pollMs));
  }
  progress.done();
  if (got < wanted && Number.isFinite(wanted))
    throw new Error(`${got} of ${wanted} messages consumed before the queue ran dry`);
  return undefined;
}
