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
  | HeaderValue[]
  | { [key: string]: HeaderValue };

export type Headers = { [key: string]: HeaderValue };

/** Properties that travel with a message; names follow AMQP basic properties, the richest set. */
export interface MessageProperties {
  contentType?: string;
  contentEncoding?: string;
  headers?: Headers;
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
  /** Raw declare arguments, kept for redeclare equivalence and for listing. */
  arguments?: Headers;
}

export interface QueueInfo {
  readonly name: string;
  readonly messageCount: number;
  readonly consumerCount: number;
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

/** Result of publish. */
export interface PublishResult {
  /** Queues (and streams) the message reached; 0 with mandatory means the caller returns it. */
  readonly routedCount: number;
  /** Resolves when the message is as durable as the policy promises on every queue it reached; rejects
   * with `resourceExhausted` when a queue refused it (`reject-publish`), so a confirm becomes a nack. */
  readonly confirmed: Promise<void>;
  /** Names of the queues reached (for publisher flow control); absent where a caller routes itself. */
  readonly queues?: readonly string[];
}

export interface PublishOptions {
  mandatory?: boolean;
  /** Connection id of the publisher (used for exclusive-queue checks and no-local). */
  publisher?: string;
}
