/**
 * Contracts between the parts of core: the vhost (./vhost.ts) drives queues (./queues/) and streams
 * (./logs/) through these shapes only, so each part can be built and tested on its own.
 */

import type { Log, Storage } from '../storage/types.js';
import type {
  Clock,
  CoreLimits,
  DeleteQueueOptions,
  GroupOffset,
  IdempotentAppend,
  PartitionName,
  ProducerBatch,
  PublishInput,
  QueueDepths,
  StreamAppendOptions,
  StreamCreateOptions,
  StreamInfo,
  StreamPartition,
  StreamSettings,
  VhostCounts,
} from './api.js';
import type { StreamDefinitions } from './definitions.js';
import type { Executor } from './exec/executor.js';
import type { Supervisor } from './exec/supervisor.js';
import type { Partition } from './logs/partition.js';
import type { AppliedPolicy } from './policy/effective.js';
import type { BodyCache } from './queues/body-cache.js';
import type {
  ConsumeOptions,
  Consumer,
  Delivery,
  ExchangeOptions,
  ExchangeType,
  Headers,
  Message,
  PublishOptions,
  PublishResult,
  QueueInfo,
  QueueOptions,
  QueueType,
  RequeueOptions,
} from './types.js';
import type { BindingRow, ConsumerRow, QueueLengths } from './views.js';

/** Why a message left a queue without an ack; the `reason` of an `x-death` entry. */
export type DeadLetterReason = 'rejected' | 'expired' | 'maxlen' | 'delivery_limit';

export interface QueueHooks {
  /** Route a dead-lettered message (already carrying its updated `x-death` header) to `exchange`. */
  deadLetter(message: Message, exchange: string, routingKey: string): void;
  /** The queue asks to be deleted: `x-expires` ran out, or auto-delete lost its last consumer. */
  requestDelete(reason: 'expired' | 'auto_delete'): void;
}

export interface QueueDeps {
  readonly vhost: string;
  /** The queue's fault boundary and clock: every timer and microtask of the queue runs through it. */
  readonly exec: Executor;
  /**
   * Delivery ids of this engine start above this; ids below belong to an earlier incarnation of the
   * queue (deleted and declared again, or failed and restarted), and settling one is a no-op.
   */
  readonly idBase: number;
  /** The next delivery id of the vhost: ids are unique across its queues and their incarnations. */
  readonly nextId: () => number;
  /** The broker's budget for bodies kept in memory by durable queues. */
  readonly bodies: BodyCache;
  readonly limits: CoreLimits;
  readonly hooks: QueueHooks;
  /** Present for durable queues: messages and ack records go through it. */
  readonly storage?: Storage;
  /** The vhost's running totals of queued messages, which the queue keeps up to date (./vhost/vhost.ts). */
  readonly lengths?: QueueLengths;
}

/** What every queue kind (classic, priority, stream-as-queue) offers the vhost. */
export interface QueueEngine {
  readonly name: string;
  readonly options: QueueOptions;
  info(): QueueInfo;
  /**
   * Accept a routed message. `accepted=false` when overflow is `reject-publish(-dlx)` and the queue is
   * full. `durable` resolves once stored (immediately for transient messages or queues).
   */
  enqueue(message: Message): { accepted: boolean; durable: Promise<void> };
  consume(options: ConsumeOptions): Consumer;
  get(options: { noAck: boolean; owner: string }): Delivery | undefined;
  ack(id: number): void;
  nack(id: number, requeue: boolean): void;
  /** Returns an unacked delivery to the queue as `options` say (./queues/holds.ts); optional: not for streams. */
  requeue?(id: number, options: RequeueOptions): void;
  /**
   * A visibility timeout: the delivery stays with its holder at most `timeoutMs` more, then goes back
   * at the tail, counted. Resolves true when it went back that way; false when it was settled first
   * or a later hold replaced this one. Optional: not for streams.
   */
  holdFor?(id: number, timeoutMs: number): Promise<boolean>;
  releaseOwner(owner: string): void;
  /**
   * The message stored at `offset` of the queue's log (`Delivery.storedAt`) is still in the queue, acked
   * or not; undefined while that is not known yet (an engine still opening). Optional: a queue that
   * stores nothing holds no offset.
   */
  holdsStored?(offset: number): boolean | undefined;
  /**
   * Undefined when no returned message waits to be ready again; else resolves once none does, within
   * a bound (a quorum queue's returns wait for their count to be written). Optional: others never wait.
   */
  returnsLanded?(): Promise<void> | undefined;
  /**
   * Undefined when no delivery count is being written; else resolves once the counts recorded so far
   * are written (a quorum queue's get is shown only then). Optional: others record no counts.
   */
  countsWritten?(): Promise<void> | undefined;
  purge(): number;
  /**
   * The queue's policies changed: run with `options` from now on (limits trim at once, TTL and
   * dead-lettering apply to messages from now). Optional: streams take policies through retention.
   */
  reconfigure?(options: QueueOptions): void;
  /**
   * The queue failed (its executor caught an error): stop serving at once — consumers are cancelled
   * with `reason`, memory dropped, timers stopped — and release its logs without writing. Never throws.
   */
  abandon(reason: string): Promise<void>;
  /**
   * Cancels consumers (calling their `cancelled`), drops messages and removes stored data. A classic
   * queue has let go of its log names when the call returns (storage frees a name at `Log.delete()`);
   * the promise covers removing the files.
   */
  destroy(): Promise<void>;
  /** Stop timers and flush; stored data stays. */
  close(): Promise<void>;
}

/** Opening a queue: `recover` reads back a durable queue's messages and ack state. */
export type QueueFactory = (name: string, options: QueueOptions, deps: QueueDeps) => Promise<QueueEngine>;

/** The stream registry of one vhost (./logs/). */
export interface StreamRegistry {
  create(name: string, options: StreamCreateOptions): Promise<StreamInfo>;
  setAttributes(name: string, attributes: Readonly<Record<string, string>>): Promise<StreamInfo>;
  configure(name: string, settings: StreamSettings): Promise<StreamInfo>;
  delete(name: string): Promise<void>;
  addPartitions(name: string, total: number): Promise<StreamInfo>;
  get(name: string): StreamInfo | undefined;
  list(): StreamInfo[];
  /** The name of the stream whose id is `id` (./logs/stream-ids.ts), if one has it. */
  nameOf(id: string): string | undefined;
  partition(stream: string, index: number): Partition;
  /**
   * A `kind: 'stream'` queue's face: consumers read partition 0 from an offset spec under credit.
   * Delivery ids come from `nextId` (the vhost's counter); those up to `idBase` predate the queue.
   */
  asQueue(name: string, options: QueueOptions, ids?: { nextId: () => number; idBase: number }): QueueEngine;
  /** Retention set by policy; the stream's own bounds win where smaller. Optional for test doubles. */
  setPolicyRetention?(name: string, bounds: { bytesMax?: number; ageMsMax?: number }): void;
  close(): Promise<void>;
}

export type StreamRegistryFactory = (deps: {
  vhost: string;
  storage: Storage;
  clock: Clock;
  limits: CoreLimits;
  supervisor: Supervisor;
  /** Where stream definitions are kept (the definitions log). */
  definitions: StreamDefinitions;
  /** A stream was deleted: what other objects keep for it (group offsets, producer sequences) goes. */
  streamDeleted?: (name: string) => Promise<void>;
  /** Retention moved a partition's start: what is remembered of removed offsets may go. */
  startMoved?: (stream: string, partition: number, startOffset: number) => void;
}) => Promise<StreamRegistry>;

export type { Log };

/** One vhost as core sees it (./vhost/vhost.ts); callers outside core use `CoreClient` commands. */
export interface VirtualHost {
  readonly name: string;

  declareExchange(name: string, options: ExchangeOptions): void;
  /** Passive declare: throws notFound when absent. */
  checkExchange(name: string): void;
  /** The exchange's type; undefined when there is no such exchange. */
  exchangeType(name: string): ExchangeType | undefined;
  deleteExchange(name: string, options?: { ifUnused?: boolean }): void;
  bindExchange(destination: string, source: string, routingKey: string, args?: Headers): void;
  unbindExchange(destination: string, source: string, routingKey: string, args?: Headers): void;

  /** '' gets a server name `amq.gen-…`. Redeclare with other options → preconditionFailed. */
  /** `serverNamed`: `name` is one the caller generated for a declare without a name (`amq.gen-…`). */
  declareQueue(name: string, options: QueueOptions, connectionId?: string, serverNamed?: boolean): QueueInfo;
  /** The vhost's policies changed: queues, streams and exchanges take up their new settings. */
  applyPolicies(): void;
  checkQueue(name: string, connectionId?: string): QueueInfo;
  /** Counts of a queue without touching it (no expiry reset, no exclusivity check): for publisher flow control. */
  peekQueue?(name: string): QueueInfo | undefined;
  /** The queue exists (nothing counted or touched). */
  hasQueue(name: string): boolean;
  queueType(name: string): QueueType | undefined;
  deleteQueue(name: string, options?: DeleteQueueOptions): number;
  purgeQueue(name: string, connectionId?: string): number;
  bindQueue(queue: string, exchange: string, routingKey: string, args?: Headers): void;
  unbindQueue(queue: string, exchange: string, routingKey: string, args?: Headers): void;
  /** Resolves once every definition written so far is durable; rejects if one of those writes failed. */
  definitionsDurable(): Promise<void>;

  publish(
    exchange: string,
    routingKey: string,
    message: PublishInput,
    options?: PublishOptions,
  ): PublishResult;

  /** `options.owner` is the holder of unacked deliveries (AMQP channel, MQTT session). */
  consume(queue: string, options: ConsumeOptions): Consumer;
  get(queue: string, options: { noAck: boolean; owner: string; connectionId?: string }): Delivery | undefined;
  /** Up to `countMax` (1 or more) of what `get` would give one by one. */
  take(
    queue: string,
    options: { noAck: boolean; owner: string; connectionId?: string },
    countMax: number,
  ): Delivery[];
  ack(queue: string, id: number): void;
  /** requeue=false dead-letters (if the queue has a DLX) or drops. */
  nack(queue: string, id: number, requeue: boolean): void;
  requeue(queue: string, id: number, options: RequeueOptions): void;
  holdFor(queue: string, id: number, timeoutMs: number): Promise<boolean>;
  /** `QueueEngine.holdsStored`; undefined while the queue is absent or its engine still opening. */
  holdsStored(queue: string, offset: number): boolean | undefined;
  /** `QueueEngine.returnsLanded`; undefined too while the queue is absent or its engine still opening. */
  returnsLanded(queue: string): Promise<void> | undefined;
  /** `QueueEngine.countsWritten`; undefined too while the queue is absent or its engine still opening. */
  countsWritten(queue: string): Promise<void> | undefined;
  /** Requeues (redelivered) every unacked delivery held by `owner` and cancels its consumers. */
  releaseOwner(owner: string): void;
  /** Every consumer of the vhost's queues, for operators. */
  listConsumers(): ConsumerRow[];
  /** A connection went away: release its owners' deliveries and delete its exclusive queues. */
  closeConnection(connectionId: string): void;

  /** Streams addressed directly (Kafka). Auto-creation is the caller's choice. */
  createStream(name: string, options: StreamCreateOptions): Promise<StreamInfo>;
  setStreamAttributes(name: string, attributes: Readonly<Record<string, string>>): Promise<StreamInfo>;
  configureStream(name: string, settings: StreamSettings): Promise<StreamInfo>;
  deleteStream(name: string): Promise<void>;
  addPartitions(name: string, total: number): Promise<StreamInfo>;
  stream(name: string): StreamInfo | undefined;
  streams(): StreamInfo[];
  streamNameOf(id: string): string | undefined;
  partition(stream: string, index: number): StreamPartition;
  /**
   * Appends a batch of an idempotent producer unless it is a retry of one already stored or out of
   * sequence; the check, the append and the record of its sequence happen in one step.
   */
  appendIdempotent(
    stream: string,
    partition: number,
    batch: ProducerBatch,
    payload: Uint8Array,
    options: StreamAppendOptions,
  ): IdempotentAppend;
  commitOffset(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void>;
  fetchOffset(group: string, stream: string, partition: number): GroupOffset | undefined;
  groupOffsets(group: string): Array<{ stream: string; partition: number; offset: GroupOffset }>;
  deleteGroupOffsets(group: string): Promise<void>;
  deletePartitionOffsets(group: string, partitions: readonly PartitionName[]): Promise<void>;
  deleteRecords(stream: string, partition: number, before: number): Promise<number>;

  listExchanges(): Array<{ name: string } & ExchangeOptions>;
  listQueues(): Array<QueueInfo & QueueOptions>;
  listBindings(defaults?: boolean): BindingRow[];
  /** The queues' names, in declaration order or sorted by UTF-16 code units (kept between calls). */
  queueNames(sorted: boolean): readonly string[];
  /** `listQueues`'s rows of the named queues only, in the order asked; absent names are left out. */
  queueRows(names: readonly string[]): Array<QueueInfo & QueueOptions>;
  /** Every queue's messages and consumers, without its options: what a sort on them needs. */
  queueDepths(): QueueDepths;
  /** The policies in force on the queues or exchanges (the named ones only, when given). */
  appliedPolicies(objects: 'queues' | 'exchanges', names?: readonly string[]): AppliedPolicy[];
  /** Totals of the vhost: exchanges, queues, consumers, ready and unacknowledged messages. */
  counts(): VhostCounts;
}
