/**
 * The one model under every protocol. Nothing here names a protocol: adapters translate their
 * frames into these types and back (see docs/cross-protocol.md).
 */

/** Header values: what AMQP field tables, MQTT 5 user properties, Kafka and KubeMQ headers share. */
export type HeaderValue =
  | string
  | number
  | bigint
  | boolean
  | null
  | Uint8Array
  | Date
  | TypedNumber
  | HeaderValue[]
  | { [key: string]: HeaderValue };

export const typedNumberTypes = [
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'float32',
  'float64',
  'decimal',
] as const;
export type TypedNumberType = (typeof typedNumberTypes)[number];

/** Inclusive bounds of the fixed-width integer types. */
const integerBounds: { readonly [type: string]: readonly [bigint, bigint] } = {
  int8: [-(2n ** 7n), 2n ** 7n - 1n],
  uint8: [0n, 2n ** 8n - 1n],
  int16: [-(2n ** 15n), 2n ** 15n - 1n],
  uint16: [0n, 2n ** 16n - 1n],
  int32: [-(2n ** 31n), 2n ** 31n - 1n],
  uint32: [0n, 2n ** 32n - 1n],
  int64: [-(2n ** 63n), 2n ** 63n - 1n],
};
/** Decimal places a `decimal` may carry (AMQP's scale is one octet). */
export const decimalScaleMax = 255;

/**
 * A number that must keep the width it was sent with, where plain JS numbers would lose it (a header
 * a Java client reads back as `Short` or `Long`). Protocols that have no such types read it as its
 * plain value (`valueOf`, `toString`, `toJSON`). Immutable; values are checked on construction
 * (RangeError), `float32` is rounded to single precision and `int64` is a number when safe, else a
 * bigint, so equal typed numbers have equal fields.
 * A `decimal` is `value / 10^scale` with `value` a safe integer: 1.25 is (125, scale 2).
 */
export class TypedNumber {
  readonly type: TypedNumberType;
  readonly value: number | bigint;
  readonly scale: number;

  constructor(type: TypedNumberType, value: number | bigint, scale = 0) {
    this.type = type;
    this.value = checkedTypedValue(type, value, scale);
    this.scale = type === 'decimal' ? scale : 0;
  }

  /** The plain value: a number, or a bigint for an int64 beyond 2^53. */
  valueOf(): number | bigint {
    if (this.type !== 'decimal') return this.value;
    return (this.value as number) / 10 ** this.scale;
  }

  /** Decimal text; exact for decimals (1.25, not 1.2500000001). */
  toString(): string {
    if (this.type !== 'decimal' || this.scale === 0) return String(this.value);
    const digits = String(Math.abs(this.value as number)).padStart(this.scale + 1, '0');
    const sign = (this.value as number) < 0 ? '-' : '';
    return `${sign}${digits.slice(0, -this.scale)}.${digits.slice(-this.scale)}`;
  }

  /** JSON has no bigint: an int64 beyond 2^53 becomes its decimal text. */
  toJSON(): number | string {
    const plain = this.valueOf();
    return typeof plain === 'bigint' ? plain.toString() : plain;
  }
}

function checkedTypedValue(type: TypedNumberType, value: number | bigint, scale: number): number | bigint {
  const bounds = integerBounds[type];
  if (bounds !== undefined) {
    const whole = typeof value === 'bigint' || Number.isInteger(value);
    if (!whole || BigInt(value) < bounds[0] || BigInt(value) > bounds[1]) {
      throw new RangeError(`${String(value)} is not a valid ${type}`);
    }
    const big = BigInt(value);
    return Number.isSafeInteger(Number(big)) ? Number(big) : big;
  }
  if (type === 'decimal') {
    const scaleOk = Number.isInteger(scale) && scale >= 0 && scale <= decimalScaleMax;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || !scaleOk) {
      throw new RangeError(`${String(value)} with scale ${scale} is not a valid decimal`);
    }
    return value;
  }
  if (typeof value !== 'number') throw new RangeError(`A ${type} must be a number`);
  return type === 'float32' ? Math.fround(value) : value;
}

/** A table of header values by name: binding and declare arguments, and the by-name view of headers. */
export type Headers = { [key: string]: HeaderValue };

/** One application header: its name and its value. */
export type HeaderEntry = readonly [name: string, value: HeaderValue];

/**
 * A message's application headers in the order the publisher gave them; a name may repeat (MQTT user
 * properties and Kafka record headers allow both). Only what a client sent as application data lives
 * here: what the broker itself keeps about a message has a field of its own in `MessageProperties`, so
 * no header a client chooses is ever read as broker metadata. The few readers that look headers up by
 * name (the headers exchange, `x-delay`, `x-death`) use `headerValue` / `headerTable`.
 */
export type HeaderList = readonly HeaderEntry[];

/**
 * The by-name view of a header list, as an AMQP field table holds it: a name that repeats becomes one
 * entry whose value is the array of its values, in order, at the place of its first occurrence.
 */
export function headerTable(headers: HeaderList | undefined): Headers {
  const table: Headers = {};
  if (headers === undefined) return table;
  const repeated = new Set<string>();
  for (const [name, value] of headers) {
    if (!Object.hasOwn(table, name)) defineHeader(table, name, value);
    else if (repeated.has(name)) (table[name] as HeaderValue[]).push(value);
    else {
      repeated.add(name);
      table[name] = [table[name]!, value];
    }
  }
  return table;
}

/** A header list from a by-name table (an AMQP field table), in the table's key order. */
export function headerList(table: Headers): HeaderList {
  return Object.keys(table).map((name): HeaderEntry => [name, table[name]!]);
}

/** The by-name value of `name` (as `headerTable` would give it), undefined when absent. */
export function headerValue(headers: HeaderList | undefined, name: string): HeaderValue | undefined {
  if (headers === undefined) return undefined;
  let found: HeaderValue | undefined;
  let many: HeaderValue[] | undefined;
  for (const [key, value] of headers) {
    if (key !== name) continue;
    if (found === undefined) found = value;
    else if (many === undefined) many = [found, value];
    else many.push(value);
  }
  return many ?? found;
}

/** `headers` with every entry named `name` replaced by one entry holding `value` (appended when absent). */
export function withHeader(headers: HeaderList | undefined, name: string, value: HeaderValue): HeaderList {
  const out: HeaderEntry[] = [];
  let placed = false;
  for (const entry of headers ?? []) {
    if (entry[0] !== name) out.push(entry);
    else if (!placed) {
      out.push([name, value]);
      placed = true;
    }
  }
  if (!placed) out.push([name, value]);
  return out;
}

/** Assigning `__proto__` would replace the object's prototype instead of adding a key. */
function defineHeader(table: Headers, name: string, value: HeaderValue): void {
  Object.defineProperty(table, name, { value, enumerable: true, writable: true, configurable: true });
}

/** QoS a message was published with: 0 at most once, 1 at least once, 2 exactly once. */
export type Qos = 0 | 1 | 2;

/**
 * A copy of a message queued for one subscription alone rather than routed: the last retained value of
 * a topic, sent when a subscription is made (MQTT §3.3.1.3).
 */
export interface Replay {
  /** The routing key the message was published with (the copy itself is addressed to the queue). */
  readonly routingKey: string;
  /** The key of the subscription it answers, as the adapter names its subscriptions. */
  readonly subscription: string;
}

/**
 * Properties that travel with a message. The first group follows AMQP basic properties, the richest
 * set; the second holds what other protocols say about a message that AMQP has no property for. Every
 * field is set by an adapter from its protocol's own fields, never from a header.
 */
export interface MessageProperties {
  contentType?: string;
  contentEncoding?: string;
  /** Application headers, in order (see `HeaderList`). */
  headers?: HeaderList;
  /** Stored on disk when the queue is durable; also decides MQTT QoS ↔ AMQP delivery mode. */
  persistent?: boolean;
  /** 0–255; only priority queues look at it. */
  priority?: number;
  correlationId?: string;
  replyTo?: string;
  /** Per-message time to live in milliseconds (AMQP `expiration`, MQTT message expiry × 1000). */
  expirationMs?: number;
  messageId?: string;
  /** Milliseconds since the epoch, as given by the producer. */
  timestamp?: number;
  type?: string;
  userId?: string;
  appId?: string;

  /** The QoS it was published with; absent: 1 when `persistent`, else 0. */
  qos?: Qos;
  /** The publisher asked for it to be kept as its topic's last value (MQTT RETAIN). */
  retain?: boolean;
  /** The publishing client's lasting identity (an MQTT client id), for no-local subscriptions. */
  publisherId?: string;
  /** When it expires, in ms since the epoch: `expirationMs` counted from the publish. */
  expiresAtMs?: number;
  /** Correlation data exactly, when its bytes are not UTF-8 text (`correlationId` then holds them decoded). */
  correlationData?: Uint8Array;
  /** The publisher declared the body UTF-8 text (MQTT Payload Format Indicator 1). */
  textBody?: boolean;
  /** Milliseconds each queue holds it back before it joins the queue (RabbitMQ's `x-delay`). */
  delayMs?: number;
  /** The message's key (a Kafka record key); absent when it has none. */
  key?: Uint8Array;
  /** Set on a copy queued for one subscription alone (see `Replay`). */
  replay?: Replay;
  /**
   * Receives of one queue's copy after which it is dead-lettered rather than handed out again
   * (KubeMQ `MaxReceiveCount`); absent: the queue's own limit.
   */
  receiveLimit?: number;
  /** Where a copy past its `receiveLimit` goes (KubeMQ `MaxReceiveQueue`); absent: it is dropped. */
  receiveLimitQueue?: string;
  /** The queue a dead-lettered copy came from (KubeMQ `ReRoutedFromQueue`). */
  deadLetteredFrom?: string;
}

export interface Message {
  /** Exchange the message was published to ('' = default exchange). */
  readonly exchange: string;
  readonly routingKey: string;
  readonly body: Uint8Array;
  readonly properties: MessageProperties;
}

/** A message handed to a consumer or returned by `get`. */
export interface Delivery {
  readonly queue: string;
  /** Unique within the queue for the message's lifetime; the handle for ack / nack. */
  readonly id: number;
  readonly message: Message;
  readonly redelivered: boolean;
  /** Deliveries before this one that ended without an ack (RabbitMQ's `x-delivery-count`). */
  readonly deliveryCount: number;
  /** Messages left ready in the queue after this one (AMQP get-ok message-count). */
  readonly remaining: number;
  /**
   * Where a durable queue stores the message: unlike `id`, the same after a restart, as long as the
   * message keeps its place (a requeue at the tail moves it). Absent for a message not stored.
   */
  readonly storedAt?: number | undefined;
  /**
   * When this queue's copy expires, in ms since the epoch: its own time to live or the queue's,
   * counted from when it joined the queue (not from the publisher's `timestamp`). Absent: never.
   */
  readonly expiresAtMs?: number | undefined;
}

export type ExchangeType = 'direct' | 'fanout' | 'topic' | 'headers';

export interface ExchangeOptions {
  type: ExchangeType;
  durable?: boolean;
  autoDelete?: boolean;
  internal?: boolean;
  /** `alternate-exchange` and any other declare arguments, kept for redeclare equivalence. */
  arguments?: Headers;
}

export type OverflowPolicy = 'drop-head' | 'reject-publish' | 'reject-publish-dlx';

/** Queue settings after parsing `x-` arguments; adapters parse, core validates ranges. */
export interface QueueOptions {
  durable?: boolean;
  /** Owning connection id; others get resourceLocked; deleted when the owner goes. */
  exclusiveOwner?: string;
  autoDelete?: boolean;
  kind?: 'classic' | 'stream';
  messageTtlMs?: number;
  /** Delete after this long unused (no consumers, no get, no redeclare). */
  expiresMs?: number;
  lengthMax?: number;
  bytesMax?: number;
  overflow?: OverflowPolicy;
  deadLetterExchange?: string;
  deadLetterRoutingKey?: string;
  /** 1–255 enables a priority queue. */
  priorityMax?: number;
  singleActiveConsumer?: boolean;
  /** Dead-letter (or drop) after this many unacked deliveries. */
  deliveryLimit?: number;
  /** Streams: retention and partition count. */
  streamBytesMax?: number;
  streamAgeMsMax?: number;
  partitions?: number;
  /**
   * The queue's bytes (`messageBytes`, `bytesMax`) count each message's properties as well as its
   * body. Set by MQTT session queues, bounded by `mqttQueuedBytesMax`; AMQP's x-max-length-bytes
   * counts bodies only, as RabbitMQ does.
   */
  countsPropertyBytes?: boolean;
  /** Raw declare arguments, kept for redeclare equivalence and for listing. */
  arguments?: Headers;
}

/** AMQP's `x-queue-type`: a quorum queue is a classic queue that keeps delivery counts across restarts. */
export type QueueType = 'classic' | 'quorum' | 'stream';

export interface QueueInfo {
  readonly name: string;
  readonly messageCount: number;
  readonly consumerCount: number;
  /** Bytes of the ready messages' bodies (and properties, with `countsPropertyBytes`), where the queue counts them (classic queues). */
  readonly messageBytes?: number;
}

/**
 * A shared credit limit (AMQP per-channel `basic.qos global`). A consumer may carry several limits;
 * it gets a message only when all have room. `release` wakes every queue waiting on this limit.
 */
export interface CreditLimit {
  hasRoom(): boolean;
  take(): void;
  release(count: number): void;
  onRoom(listener: () => void): () => void;
}

/** Where a stream consumer starts (AMQP `x-stream-offset`, Kafka ListOffsets). */
export type StreamOffsetSpec = 'first' | 'last' | 'next' | { offset: number } | { timestamp: number };

export interface ConsumeOptions {
  /** Unique per queue; adapters pick it (AMQP consumer tag, MQTT session id). */
  tag: string;
  /** Owning connection id, for exclusive queues and cleanup. */
  owner: string;
  /** Ack on send (AMQP no-ack, MQTT QoS 0). */
  noAck?: boolean;
  /** No other consumer may attach while this one is attached. */
  exclusive?: boolean;
  /** Consumer priority (`x-priority`); higher is served first. */
  priority?: number;
  /** Unacked deliveries this consumer may hold; 0 = unlimited. */
  prefetch?: number;
  /** Extra shared limits, such as a channel-wide prefetch. */
  limits?: CreditLimit[];
  /**
   * Room in the consumer's connection to send (AMQP: its socket holds less than its bound unsent),
   * asked before every delivery, no-ack ones included, so a consumer that does not read its socket
   * stops getting messages instead of the broker queueing them towards it; `onRoom` when it drains.
   * Its `take` and `release` are not called.
   */
  sendRoom?: CreditLimit;
  /** Streams only. Default 'next'. */
  offset?: StreamOffsetSpec;
  /** Called for every delivery; must not throw. */
  deliver(delivery: Delivery): void;
  /**
   * Optional fast path: a classic queue with nothing ready offers a newly routed message here before
   * queuing it. Returning true means the consumer has sent and settled it (as with no-ack) and the
   * queue forgets it; false queues it as usual. Since nothing was ready, order is kept. Must not throw.
   */
  offer?(message: Message): boolean;
  /**
   * A message this consumer held no longer expires in the queue once its owner's release hands it back:
   * its delivery has started, and the adapter judges what it sends again (MQTT 5.0 §3.3.2.3.3: expiry
   * deletes a copy only before onward delivery started [MQTT-3.3.2-5]).
   */
  keepsStartedDeliveries?: boolean;
  /** The server cancelled the consumer (queue deleted). */
  cancelled?(reason: string): void;
  /** Single active consumer: this consumer became (in)active. */
  activeChanged?(active: boolean): void;
}

export interface Consumer {
  readonly tag: string;
  readonly queue: string;
  /** Raise or lower this consumer's prefetch (MQTT receive maximum, AMQP basic.qos). */
  setPrefetch(prefetch: number): void;
  cancel(): void;
}

/**
 * How an unacked delivery goes back to its queue. `atTail`: behind every ready message (it gets a new
 * delivery id; a durable queue stores it again), else back in its original place. `counted`: it counts
 * as a failed delivery (`deliveryCount` + 1; the delivery limit applies), else it is released as if
 * never delivered (AMQP 1.0 `released`; a peek). An AMQP nack with requeue is `{ atTail: false, counted: true }`.
 */
export interface RequeueOptions {
  readonly atTail: boolean;
  readonly counted: boolean;
}

/** Result of publish. */
export interface PublishResult {
  /** Queues (and streams) the message reached; 0 with mandatory means the caller returns it. */
  readonly routedCount: number;
  /** Resolves when the message is as durable as the policy promises on every queue it reached; rejects
   * with `resourceExhausted` when a queue refused it (`reject-publish`), so a confirm becomes a nack. */
  readonly confirmed: Promise<void>;
  /** Names of the queues reached (for publisher flow control); absent where a caller routes itself. */
  readonly queues?: Iterable<string>;
}

export interface PublishOptions {
  mandatory?: boolean;
  /** Connection id of the publisher (used for exclusive-queue checks and no-local). */
  publisher?: string;
}
