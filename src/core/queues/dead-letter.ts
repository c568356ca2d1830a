/**
 * The `x-death` bookkeeping of a dead-lettered message, shaped like RabbitMQ's so that existing
 * clients that inspect it keep working: an array of tables, newest first, one per (queue, reason),
 * whose `count` grows when the same message dies the same way again in the same queue.
 */
import type { DeadLetterReason } from '../internal.js';
import type { Headers, HeaderValue, Message, MessageProperties } from '../types.js';

type Table = { [key: string]: HeaderValue };

function isTable(v: HeaderValue | undefined): v is Table {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Uint8Array) &&
    !(v instanceof Date)
  );
}

/** Routing keys the message was published with: its key plus `CC` and `BCC` headers (RabbitMQ sender-selected distribution). */
function routingKeys(message: Message): string[] {
  const keys = [message.routingKey];
  const headers = message.properties.headers ?? {};
  for (const name of ['CC', 'BCC']) {
    const extra = headers[name];
    if (Array.isArray(extra)) keys.push(...extra.filter((k): k is string => typeof k === 'string'));
  }
  return keys;
}

export interface Death {
  readonly queue: string;
  readonly reason: DeadLetterReason;
  readonly nowMs: number;
}

/** The message as it leaves for the dead-letter exchange: `x-death` updated, per-message TTL removed. */
export function withDeath(message: Message, death: Death): Message {
  const headers: Headers = { ...(message.properties.headers ?? {}) };
  const previous = Array.isArray(headers['x-death']) ? headers['x-death'] : [];
  const same = previous.findIndex(
    (d) => isTable(d) && d['queue'] === death.queue && d['reason'] === death.reason,
  );
  const entry = same === -1 ? newEntry(message, death) : bumped(previous[same] as Table);
  const deaths = previous.filter((_, i) => i !== same);
  deaths.unshift(entry);
  headers['x-death'] = deaths;
  if (headers['x-first-death-reason'] === undefined) {
    headers['x-first-death-reason'] = death.reason;
    headers['x-first-death-queue'] = death.queue;
    headers['x-first-death-exchange'] = message.exchange;
  }
  headers['x-last-death-reason'] = death.reason;
  headers['x-last-death-queue'] = death.queue;
  headers['x-last-death-exchange'] = message.exchange;
  // The per-message TTL must not kill the message again in the dead-letter queue; it is kept in x-death.
  const { expirationMs: _dropped, ...rest } = message.properties;
  const properties: MessageProperties = { ...rest, headers };
  return { exchange: message.exchange, routingKey: message.routingKey, body: message.body, properties };
}

function newEntry(message: Message, death: Death): Table {
  const entry: Table = {
    count: 1,
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

function bumped(entry: Table): Table {
  const count = typeof entry['count'] === 'number' ? entry['count'] : 0;
  return { ...entry, count: count + 1 };
}
