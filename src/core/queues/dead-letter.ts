/**
 * The `x-death` bookkeeping of a dead-lettered message, shaped like RabbitMQ's so that existing
 * clients that inspect it keep working: an array of tables, newest first, one per (queue, reason),
 * whose `count` grows when the same message dies the same way again in the same queue.
 * Field types follow RabbitMQ's too (rabbit_dead_letter): `count` an int64, `time` a timestamp
 * (whole seconds), the rest strings; Java clients cast `count` to `Long`.
 */
import type { DeadLetterReason } from '../internal.js';
import {
  type HeaderList,
  type HeaderValue,
  headerValue,
  type Message,
  type MessageProperties,
  TypedNumber,
  withHeader,
} from '../types.js';

type Table = { [key: string]: HeaderValue };

function isTable(v: HeaderValue | undefined): v is Table {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof Date) &&
    !(v instanceof TypedNumber)
  );
}

/** Routing keys the message was published with: its key plus `CC` and `BCC` headers (RabbitMQ sender-selected distribution). */
function routingKeys(message: Message): string[] {
  const keys = [message.routingKey];
  for (const name of ['CC', 'BCC']) {
    const extra = headerValue(message.properties.headers, name);
    if (Array.isArray(extra)) keys.push(...extra.filter((k): k is string => typeof k === 'string'));
  }
  return keys;
}

export interface Death {
  readonly queue: string;
  readonly reason: DeadLetterReason;
  readonly nowMs: number;
}

/**
 * The message as it leaves for the dead-letter exchange: `x-death` updated, per-message TTL removed.
 * The `x-death` family of headers is RabbitMQ's: each is replaced in place (or appended), as RabbitMQ
 * does with a table.
 */
export function withDeath(message: Message, death: Death): Message {
  let headers: HeaderList = message.properties.headers ?? [];
  const recorded = headerValue(headers, 'x-death');
  const previous = Array.isArray(recorded) ? recorded : [];
  const same = previous.findIndex(
    (d) => isTable(d) && d['queue'] === death.queue && d['reason'] === death.reason,
  );
  const entry = same === -1 ? newEntry(message, death) : bumped(previous[same] as Table);
  const deaths = previous.filter((_, i) => i !== same);
  deaths.unshift(entry);
  headers = withHeader(headers, 'x-death', deaths);
  if (headerValue(headers, 'x-first-death-reason') === undefined) {
    headers = withHeader(headers, 'x-first-death-reason', death.reason);
    headers = withHeader(headers, 'x-first-death-queue', death.queue);
    headers = withHeader(headers, 'x-first-death-exchange', message.exchange);
  }
  headers = withHeader(headers, 'x-last-death-reason', death.reason);
  headers = withHeader(headers, 'x-last-death-queue', death.queue);
  headers = withHeader(headers, 'x-last-death-exchange', message.exchange);
  // The per-message TTL must not kill the message again in the dead-letter queue; it is kept in x-death.
  const { expirationMs: _dropped, expiresAtMs: _droppedAt, ...rest } = message.properties;
  const properties: MessageProperties = { ...rest, headers };
  return { exchange: message.exchange, routingKey: message.routingKey, body: message.body, properties };
}

function newEntry(message: Message, death: Death): Table {
  const entry: Table = {
    count: new TypedNumber('int64', 1),
    reason: death.reason,
    queue: death.queue,
    // AMQP timestamps have one-second resolution.
    time: new Date(Math.floor(death.nowMs / 1000) * 1000),
    exchange: message.exchange,
    'routing-keys': routingKeys(message),
  };
  if (message.properties.expirationMs !== undefined) {
    entry['original-expiration'] = String(message.properties.expirationMs);
  }
  return entry;
}

const int64Max = 2n ** 63n - 1n;

function bumped(entry: Table): Table {
  const count = countOf(entry['count']);
  return { ...entry, count: new TypedNumber('int64', count < int64Max ? count + 1n : int64Max) };
}

/** A count of any numeric kind: a client may republish a message with an x-death of its own making. */
function countOf(value: HeaderValue | undefined): bigint {
  const plain = value instanceof TypedNumber ? value.valueOf() : value;
  if (typeof plain === 'bigint') return plain < 0n ? 0n : plain;
  return typeof plain === 'number' && Number.isFinite(plain) && plain > 0 ? BigInt(Math.trunc(plain)) : 0n;
}
