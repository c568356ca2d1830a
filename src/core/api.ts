/**
 * The contract between core and its callers (protocol adapters, admin API, server). `BrokerCore`
 * in ./broker.ts implements `CoreBroker`; everything a protocol needs goes through these methods.
 * Errors are `BrokerError`s from src/shared/errors.ts.
 */
import type { AppendResult, Log, LogEntry, Storage } from '../storage/types.js';
import type { VerifyOptions } from './login-cache.js';
import type {
  ConsumeOptions,
  Consumer,
  Delivery,
  ExchangeOptions,
  Headers,
  MessageProperties,
  PublishOptions,
  PublishResult,
  QueueInfo,
  QueueOptions,
} from './types.js';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

/** Limits core enforces; all have defaults in ./limits.ts. */
export type { PasswordDerive, PasswordHashJob, VerifyOptions } from './login-cache.js';

export interface CoreLimits {
  queuesMax: number;
  exchangesMax: number;
  bindingsMax: number;
  /** Bodies of ready messages kept in memory across all durable queues; the rest are read from disk on demand. */
  bodyCacheBytesMax: number;
  messageBytesMax: number;
  streamPartitionsMax: number;
  /** How long a verified credential is accepted again without hashing (`Users.verify`). */
  loginCacheTtlMs: number;
  /** Verified credentials remembered at most. */
  loginCacheEntriesMax: number;
}

export interface CoreOptions {
  storage: Storage;
  limits?: Partial<CoreLimits>;
  clock?: Clock;
  /** Vhosts created when absent; default ['/']. */
  vhosts?: string[];
}

export interface PublishInput {
  readonly body: Uint8Array;
  readonly properties: MessageProperties;
}

export interface DeleteQueueOptions {
  ifUnused?: boolean;
  ifEmpty?: boolean;
  /** Connection asking; exclusive queues of other connections refuse with resourceLocked. */
  connectionId?: string;
}

/** One partition of a stream (a Kafka topic partition, an AMQP stream queue's log). */
export interface StreamPartition {
  readonly stream: string;
  readonly index: number;
  readonly startOffset: number;
  readonly endOffset: number;
  append(
    payload: Uint8Array,
    options: { count?: number; timestamp: number; maxTimestamp?: number; format: number },
  ): AppendResult;
  read(offset: number, options?: { maxBytes?: number; maxEntries?: number }): LogEntry[];
  offsetForTimestamp(timestamp: number): number;
  /** Resolves when endOffset > offset or after timeoutMs, whichever is first (Fetch long-poll). */
  waitFor(offset: number, timeoutMs: number): Promise<void>;
  /** The underlying log; only storage-aware callers use it. */
  readonly log: Log;
}

export interface StreamInfo {
  readonly name: string;
  readonly partitions: number;
  readonly bytesMax?: number;
  readonly ageMsMax?: number;
}

export interface GroupOffset {
  readonly offset: number;
  readonly metadata: string;
  readonly committedAt: number;
}

export interface VirtualHost {
  readonly name: string;

  declareExchange(name: string, options: ExchangeOptions): void;
  /** Passive declare: throws notFound when absent. */
  checkExchange(name: string): void;
  deleteExchange(name: string, options?: { ifUnused?: boolean }): void;
  bindExchange(destination: string, source: string, routingKey: string, args?: Headers): void;
  unbindExchange(destination: string, source: string, routingKey: string, args?: Headers): void;

  /** '' gets a server name `amq.gen-…`. Redeclare with other options → preconditionFailed. */
  declareQueue(name: string, options: QueueOptions, connectionId?: string): QueueInfo;
  checkQueue(name: string, connectionId?: string): QueueInfo;
  /** Counts of a queue without touching it (no expiry reset, no exclusivity check): for publisher flow control. */
  peekQueue?(name: string): QueueInfo | undefined;
  deleteQueue(name: string, options?: DeleteQueueOptions): number;
  purgeQueue(name: string, connectionId?: string): number;
  bindQueue(queue: string, exchange: string, routingKey: string, args?: Headers): void;
  unbindQueue(queue: string, exchange: string, routingKey: string, args?: Headers): void;

  publish(
    exchange: string,
    routingKey: string,
    message: PublishInput,
    options?: PublishOptions,
  ): PublishResult;

  /** `options.owner` is the holder of unacked deliveries (AMQP channel, MQTT session). */
  consume(queue: string, options: ConsumeOptions): Consumer;
  get(queue: string, options: { noAck: boolean; owner: string; connectionId?: string }): Delivery | undefined;
  ack(queue: string, id: number): void;
  /** requeue=false dead-letters (if the queue has a DLX) or drops. */
  nack(queue: string, id: number, requeue: boolean): void;
  /** Requeues (redelivered) every unacked delivery held by `owner` and cancels its consumers. */
  releaseOwner(owner: string): void;
  /** A connection went away: release its owners' deliveries and delete its exclusive queues. */
  closeConnection(connectionId: string): void;

  /** Streams addressed directly (Kafka). Auto-creation is the caller's choice. */
  createStream(
    name: string,
    options: { partitions: number; bytesMax?: number; ageMsMax?: number },
  ): Promise<StreamInfo>;
  deleteStream(name: string): Promise<void>;
  addPartitions(name: string, total: number): Promise<StreamInfo>;
  stream(name: string): StreamInfo | undefined;
  streams(): StreamInfo[];
  partition(stream: string, index: number): StreamPartition;
  commitOffset(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void>;
  fetchOffset(group: string, stream: string, partition: number): GroupOffset | undefined;
  groupOffsets(group: string): Array<{ stream: string; partition: number; offset: GroupOffset }>;
  deleteGroupOffsets(group: string): Promise<void>;

  listExchanges(): Array<{ name: string } & ExchangeOptions>;
  listQueues(): Array<QueueInfo & QueueOptions>;
  listBindings(): Array<{
    source: string;
    destination: string;
    destinationKind: 'queue' | 'exchange';
    routingKey: string;
    args: Headers;
  }>;
}

/** A subscription of a session: its queue bound to `exchange` with `pattern`; options are binding args. */
export interface SessionSubscription {
  readonly exchange: string;
  readonly pattern: string;
  readonly options: Headers;
}

/**
 * A subscriber's lasting identity (./sessions.ts): one queue, its subscriptions, in-flight ids
 * (adapter packet id ↔ queue delivery id) and expiry. Durable sessions survive restarts.
 */
export interface CoreSession {
  readonly id: string;
  /** The session's queue; consume from it through the vhost. */
  readonly queue: string;
  /** The session existed before this open. */
  readonly present: boolean;
  readonly durable: boolean;
  readonly expiryMs: number | undefined;
  readonly connected: boolean;
  subscriptions(): SessionSubscription[];
  subscribe(exchange: string, pattern: string, options?: Headers): Promise<void>;
  unsubscribe(exchange: string, pattern: string): Promise<boolean>;
  inflight(): ReadonlyMap<number, number>;
  setInflight(packetId: number, deliveryId: number): Promise<void>;
  deleteInflight(packetId: number): Promise<void>;
  /** The owner is back; expiry stops. */
  connect(expiryMs?: number): Promise<void>;
  /** The owner left; the session is removed after `expiryMs` (undefined: never; 0: now). */
  disconnect(expiryMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

export interface SessionStore {
  /** `clean` destroys an existing session of that id first. */
  openSession(
    id: string,
    options: { durable: boolean; expiryMs?: number; clean?: boolean },
  ): Promise<CoreSession>;
  session(id: string): CoreSession | undefined;
  listSessions(): Array<{
    id: string;
    queue: string;
    durable: boolean;
    expiryMs: number | undefined;
    connected: boolean;
    subscriptions: SessionSubscription[];
  }>;
}

export interface CoreStats {
  readonly vhosts: number;
  readonly exchanges: number;
  readonly queues: number;
  readonly streams: number;
  readonly consumers: number;
  readonly messagesReady: number;
  readonly messagesUnacked: number;
  readonly published: number;
  readonly delivered: number;
}

/** A resource alarm (RabbitMQ's memory and disk alarms): while one is active, publishers are held back. */
export type AlarmKind = 'memory' | 'disk';

/** Called with the alarms active after every change of the set (never for a repeated `set`). */
export type AlarmListener = (active: readonly AlarmKind[]) => void;

/**
 * The broker's resource alarms (./alarms.ts). The server's monitor sets them; adapters subscribe and
 * apply flow control (AMQP connection.blocked, Kafka delayed produce, MQTT paused reads).
 */
export interface Alarms {
  set(kind: AlarmKind, active: boolean): void;
  /** Active alarms, in the order they were raised; empty when publishing may go on. */
  active(): readonly AlarmKind[];
  subscribe(listener: AlarmListener): () => void;
}

export interface CoreBroker {
  vhost(name: string): VirtualHost;
  vhostNames(): string[];
  addVhost(name: string): Promise<void>;
  deleteVhost(name: string): Promise<void>;
  /** Durable key/value state for adapters (MQTT sessions, retained messages, producer state). */
  state: {
    get(key: string): unknown;
    entries(prefix: string): Array<[string, unknown]>;
    put(key: string, value: unknown): Promise<void>;
    delete(key: string): Promise<void>;
  };
  stats(): CoreStats;
  /**
   * Checks a user's password against its salted scrypt hash; false for unknown users. `options` lets
   * the caller run the hash elsewhere (the server's hashing threads) and give up when its client goes.
   */
  verifyUser(name: string, password: string, options?: VerifyOptions): Promise<boolean>;
  /** The session store of a vhost (subscriptions and in-flight state that outlive a connection). */
  sessions(vhost: string): SessionStore;
  /** Resource alarms; adapters hold back publishers while any is active. */
  readonly alarms: Alarms;
  /** Flush and stop timers; the storage is closed by whoever opened it. */
  close(): Promise<void>;
}
