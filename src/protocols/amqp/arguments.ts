/**
 * `x-` arguments of queue.declare and basic.consume → core options. Types and ranges follow
 * RabbitMQ: a wrong type or a negative value is a 406 PRECONDITION_FAILED on the channel whose text
 * names the argument, the queue and the vhost. Unknown arguments are kept (for listing) and ignored.
 */
import { maxAgeMs } from '../../core/policy/definition.js';
import type { OverflowPolicy, QueueOptions, StreamOffsetSpec } from '../../core/types.js';
import {
  type FieldTable,
  type FieldValue,
  fieldNumber,
  plainFieldValue,
  ReplyCode,
  Tagged,
} from './codec/index.js';
import { channelError } from './errors.js';
import { toHeaders } from './header-values.js';

function invalid(arg: string, where: string, why: string): Error {
  return channelError(ReplyCode.preconditionFailed, `invalid arg '${arg}' for ${where}: ${why}`);
}

/** RabbitMQ's names for field types, as its `{unacceptable_type,…}` texts show them. */
const rabbitTypeNames: Readonly<Record<string, string>> = {
  t: 'bool',
  b: 'byte',
  B: 'unsignedbyte',
  s: 'short',
  u: 'unsignedshort',
  I: 'signedint',
  i: 'unsignedint',
  l: 'long',
  f: 'float',
  d: 'double',
  D: 'decimal',
  S: 'longstr',
  T: 'timestamp',
};

function typeName(value: FieldValue): string {
  if (value instanceof Tagged) return rabbitTypeNames[value.tag] ?? value.tag;
  if (value === null) return 'void';
  if (value instanceof Uint8Array) return 'binary';
  if (Array.isArray(value)) return 'array';
  if (value instanceof Date) return 'timestamp';
  switch (typeof value) {
    case 'boolean':
      return 'bool';
    case 'string':
      return 'longstr';
    case 'bigint':
      return 'long';
    case 'number':
      if (!Number.isInteger(value)) return 'double';
      return value >= -(2 ** 31) && value < 2 ** 31 ? 'signedint' : 'long';
    default:
      return 'table';
  }
}

/** An integer argument (any integer tag), at least `min`. */
function integer(args: FieldTable, arg: string, where: string, min: number): number | undefined {
  const value = args[arg];
  if (value === undefined) return undefined;
  const n = fieldNumber(value);
  if (n === undefined || !Number.isInteger(n) || typeof value === 'boolean') {
    throw invalid(arg, where, `{unacceptable_type,${typeName(value)}}`);
  }
  if (n < min) throw invalid(arg, where, `{value_too_small,${n}}`);
  return n;
}

function text(args: FieldTable, arg: string, where: string): string | undefined {
  const value = args[arg];
  if (value === undefined) return undefined;
  const plain = plainFieldValue(value);
  if (typeof plain === 'string') return plain;
  if (plain instanceof Uint8Array) return Buffer.from(plain).toString('utf8');
  throw invalid(arg, where, `{unacceptable_type,${typeName(value)}}`);
}

function bool(args: FieldTable, arg: string, where: string): boolean | undefined {
  const value = args[arg];
  if (value === undefined) return undefined;
  if (typeof value !== 'boolean') throw invalid(arg, where, `{unacceptable_type,${typeName(value)}}`);
  return value;
}

const overflows: readonly OverflowPolicy[] = ['drop-head', 'reject-publish', 'reject-publish-dlx'];
const queueTypes = ['classic', 'quorum', 'stream'] as const;
type QueueType = (typeof queueTypes)[number];

/**
 * `x-queue-type`, a long string (RabbitMQ refuses bytes). Quorum and stream queues must be durable,
 * not exclusive, not auto-delete and not server-named; RabbitMQ checks the flags in this order.
 * Redeclaring with another type is refused by core (../../core/vhost-checks.ts), which compares
 * the raw argument kept in `QueueOptions.arguments`.
 */
function queueType(args: FieldTable, flags: DeclareFlags, where: string): QueueType {
  const value = args['x-queue-type'];
  if (value === undefined) return 'classic';
  if (typeof value !== 'string')
    throw invalid('x-queue-type', where, `{unacceptable_type,${typeName(value)}}`);
  const type = queueTypes.find((t) => t === value);
  if (type === undefined) throw invalid('x-queue-type', where, `"unsupported queue type '${value}'"`);
  if (type === 'classic') return type;
  let refused: string | undefined;
  if (flags.autoDelete) refused = 'auto-delete';
  else if (flags.exclusive) refused = 'exclusive-owner';
  else if (!flags.durable) refused = 'non-durable';
  if (refused !== undefined) {
    throw channelError(ReplyCode.preconditionFailed, `invalid property '${refused}' for ${where}`);
  }
  if (flags.queue === '') {
    throw channelError(
      ReplyCode.preconditionFailed,
      `Cannot declare a server-named queue for type rabbit_${type}_queue`,
    );
  }
  return type;
}

/** RabbitMQ's retention strings for `x-max-age`: a number and one of Y M D h m s. */
const parseDuration = maxAgeMs;

export interface DeclareFlags {
  /** As declared: '' asks for a server-named queue. */
  queue: string;
  durable: boolean;
  exclusive: boolean;
  autoDelete: boolean;
}

/** queue.declare arguments → QueueOptions (flags included); `where` is "queue 'q' in vhost '/'". */
export function parseQueueArguments(args: FieldTable, flags: DeclareFlags, where: string): QueueOptions {
  const options: QueueOptions = {
    durable: flags.durable,
    autoDelete: flags.autoDelete,
    arguments: toHeaders(args),
  };
  const type = queueType(args, flags, where);
  setIf(options, 'messageTtlMs', integer(args, 'x-message-ttl', where, 0));
  setIf(options, 'expiresMs', integer(args, 'x-expires', where, 1));
  setIf(options, 'deadLetterExchange', text(args, 'x-dead-letter-exchange', where));
  setIf(options, 'deadLetterRoutingKey', text(args, 'x-dead-letter-routing-key', where));
  setIf(options, 'priorityMax', integer(args, 'x-max-priority', where, 0));
  if (options.priorityMax !== undefined && options.priorityMax > 255)
    throw invalid('x-max-priority', where, `{value_too_large,${options.priorityMax}}`);
  if (options.priorityMax === 0) delete options.priorityMax;
  setIf(options, 'singleActiveConsumer', bool(args, 'x-single-active-consumer', where));
  setIf(options, 'deliveryLimit', integer(args, 'x-delivery-limit', where, 0));
  const overflow = text(args, 'x-overflow', where);
  if (overflow !== undefined && !(overflows as readonly string[]).includes(overflow)) {
    throw invalid('x-overflow', where, `{unacceptable_value,'${overflow}'}`);
  }
  setIf(options, 'overflow', overflow as OverflowPolicy | undefined);
  const lengthMax = integer(args, 'x-max-length', where, 0);
  const bytesMax = integer(args, 'x-max-length-bytes', where, 0);
  if (type === 'stream') {
    options.kind = 'stream';
    setIf(options, 'streamBytesMax', bytesMax);
    const age = text(args, 'x-max-age', where);
    const ageMs = age === undefined ? undefined : parseDuration(age);
    if (age !== undefined && ageMs === undefined)
      throw invalid('x-max-age', where, `{unacceptable_value,'${age}'}`);
    setIf(options, 'streamAgeMsMax', ageMs);
  } else {
    setIf(options, 'lengthMax', lengthMax);
    setIf(options, 'bytesMax', bytesMax);
  }
  return options;
}

function setIf<K extends keyof QueueOptions>(
  options: QueueOptions,
  key: K,
  value: QueueOptions[K] | undefined,
): void {
  if (value !== undefined) options[key] = value;
}

export interface ConsumerArguments {
  priority?: number;
  offset?: StreamOffsetSpec;
}

/** basic.consume arguments: `x-priority` and `x-stream-offset` (first, last, next, offset, timestamp, age). */
export function parseConsumerArguments(args: FieldTable, where: string, nowMs: number): ConsumerArguments {
  const out: ConsumerArguments = {};
  const priority = args['x-priority'];
  if (priority !== undefined) {
    const n = fieldNumber(priority);
    if (n === undefined || !Number.isInteger(n))
      throw invalid('x-priority', where, `{unacceptable_type,${typeName(priority)}}`);
    out.priority = n;
  }
  const offset = args['x-stream-offset'];
  if (offset !== undefined) out.offset = streamOffset(offset, where, nowMs);
  return out;
}

function streamOffset(value: FieldValue, where: string, nowMs: number): StreamOffsetSpec {
  if (value instanceof Date) return { timestamp: value.getTime() };
  if (value instanceof Tagged && value.tag === 'T') return { timestamp: Number(value.value) * 1000 };
  if (typeof value === 'string') {
    if (value === 'first' || value === 'last' || value === 'next') return value;
    const ageMs = parseDuration(value);
    if (ageMs !== undefined) return { timestamp: nowMs - ageMs };
  }
  const n = fieldNumber(value);
  if (n !== undefined && Number.isInteger(n) && n >= 0) return { offset: n };
  throw invalid('x-stream-offset', where, `{unacceptable_value,${typeName(value)}}`);
}
