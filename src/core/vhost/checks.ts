/**
 * Checks the vhost makes before changing anything: names, ranges, and redeclare equivalence. Each
 * failure is a `BrokerError` whose message names the object and the field, as clients show it as is.
 */
import { Buffer } from 'node:buffer';
import { randomBytes } from 'node:crypto';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import { headerValueEqual, isExchangeType } from '../routing/index.js';
import type { ExchangeOptions, HeaderValue, QueueOptions } from '../types.js';

/** AMQP names are short strings: at most 255 bytes (AMQP 0-9-1 §4.2.5.3). */
export const nameBytesMax = 255;
/** Names starting so are the server's (AMQP 0-9-1 exchange.declare rule "reserved-names", RabbitMQ 403). */
export const reservedPrefix = 'amq.';
/** Timers longer than this are refused (RabbitMQ's x-message-ttl and x-expires are 32-bit). */

export function checkName(kind: 'exchange' | 'queue', name: string): void {
  if (Buffer.byteLength(name) > nameBytesMax) {
    throw brokerError(ErrorCode.invalidArgument, `The ${kind} name is longer than ${nameBytesMax} bytes`);
  }
}

export function refuseReserved(kind: 'exchange' | 'queue', name: string, vhost: string): void {
  if (name.startsWith(reservedPrefix)) {
    throw brokerError(
      ErrorCode.accessRefused,
      `The ${kind} name '${name}' in vhost '${vhost}' uses the reserved prefix '${reservedPrefix}'`,
    );
  }
}

/** RabbitMQ's server-generated names: `amq.gen-` and 22 URL-safe base64 characters. */
export function serverQueueName(): string {
  return `amq.gen-${randomBytes(16).toString('base64url')}`;
}

/** The options as kept and compared: every flag explicit, arguments always a table. */
export function normaliseExchange(options: ExchangeOptions): Required<ExchangeOptions> {
  if (!isExchangeType(String(options.type))) {
    throw brokerError(ErrorCode.invalidArgument, `Unknown exchange type '${String(options.type)}'`);
  }
  return {
    type: options.type,
    durable: options.durable ?? false,
    autoDelete: options.autoDelete ?? false,
    internal: options.internal ?? false,
    arguments: options.arguments ?? {},
  };
}

export function checkExchangeEquivalent(
  vhost: string,
  name: string,
  current: Required<ExchangeOptions>,
  wanted: Required<ExchangeOptions>,
): void {
  for (const field of ['type', 'durable', 'autoDelete', 'internal'] as const) {
    if (current[field] !== wanted[field])
      throw inequivalent('exchange', name, vhost, field, current[field], wanted[field]);
  }
  // As RabbitMQ, only arguments with a meaning take part; unknown ones are kept but not compared.
  const ae = 'alternate-exchange';
  const [had, want] = [current.arguments[ae], wanted.arguments[ae]];
  if (!sameArgument(had, want)) throw inequivalent('exchange', name, vhost, ae, had, want);
}

/** Fields of `QueueOptions` that decide a queue's behaviour and so must match on redeclare. */
const queueFields = [
  'kind',
  'messageTtlMs',
  'expiresMs',
  'lengthMax',
  'bytesMax',
  'overflow',
  'deadLetterExchange',
  'deadLetterRoutingKey',
  'priorityMax',
  'singleActiveConsumer',
  'deliveryLimit',
  'streamBytesMax',
  'streamAgeMsMax',
  'partitions',
] as const satisfies ReadonlyArray<keyof QueueOptions>;

const queueDefaults: Partial<QueueOptions> = {
  kind: 'classic',
  overflow: 'drop-head',
  singleActiveConsumer: false,
};

export function checkQueueEquivalent(
  vhost: string,
  name: string,
  current: QueueOptions,
  wanted: QueueOptions,
): void {
  const flags: Array<[string, boolean, boolean]> = [
    ['durable', current.durable ?? false, wanted.durable ?? false],
    ['exclusive', current.exclusiveOwner !== undefined, wanted.exclusiveOwner !== undefined],
    ['autoDelete', current.autoDelete ?? false, wanted.autoDelete ?? false],
  ];
  for (const [field, had, want] of flags) {
    if (had !== want) throw inequivalent('queue', name, vhost, field, had, want);
  }
  // AMQP's x-queue-type (classic, quorum, stream; absent is classic) names the queue's type; RabbitMQ's text.
  const type = (o: QueueOptions) => String(o.arguments?.['x-queue-type'] ?? 'classic');
  if (type(current) !== type(wanted)) {
    const text = `received '${type(wanted)}' but current is '${type(current)}'`;
    throw brokerError(
      ErrorCode.preconditionFailed,
      `inequivalent arg 'x-queue-type' for queue '${name}' in vhost '${vhost}': ${text}`,
    );
  }
  for (const field of queueFields) {
    const had = current[field] ?? queueDefaults[field];
    const want = wanted[field] ?? queueDefaults[field];
    if (had !== want) throw inequivalent('queue', name, vhost, field, had, want);
  }
}

function sameArgument(a: HeaderValue | undefined, b: HeaderValue | undefined): boolean {
  if (a === undefined || b === undefined) return a === b;
  return headerValueEqual(a, b);
}

function inequivalent(
  kind: string,
  name: string,
  vhost: string,
  field: string,
  had: unknown,
  want: unknown,
): Error {
  return brokerError(
    ErrorCode.preconditionFailed,
    `The ${kind} '${name}' in vhost '${vhost}' exists with ${field} ${show(had)}; redeclared with ${show(want)}`,
  );
}

function show(value: unknown): string {
  if (value === undefined) return 'unset';
  return typeof value === 'string' ? `'${value}'` : String(value);
}
