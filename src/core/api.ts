/**
 * The contract between core and its callers (protocol adapters, admin API, server). `BrokerCore`
 * in ./broker.ts implements `CoreBroker`; everything a protocol needs goes through these methods.
 * Errors are `BrokerError`s from src/shared/errors.ts. This file imports only what lies below it (the
 * model, the rows of ./views.ts, leaf modules); the command layer (./entry/) imports it.
 */
import type { HistogramSnapshot } from '../shared/histogram.js';
import type { AppendResult, LogEntry, ReadBuffers } from '../storage/types.js';
import type { AclRequester } from './acl-index.js';
import type { AclAction, AclBinding, AclFilter, AclOperation, AclResourceType } from './acls.js';
import type { CallerContext } from './entry/context.js';
import type { VerifyOptions } from './login-cache.js';
import type { Policy, PolicyFamily, PolicyInput } from './policy/definition.js';
import type { AppliedPolicy } from './policy/effective.js';
import type { UserLimits, VhostLimits } from './policy/limits.js';
import type { ScramCredential, ScramCredentials, ScramMechanism } from './scram.js';
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
  QueueType,
  RequeueOptions,
} from './types.js';
import type {
  AccessView,
  BindingRow,
  ConnectionDescription,
  ConsumerRow,
  LiveConnection,
  MessageCounts,
  MeteredKind,
  MeterRow,
  PermissionFilter,
  PermissionRow,
  RequestResult,
  StoredPermission,
  StoredTopicPermission,
  TopicPermissionRow,
  TotalSample,
  UserCredential,
  UserView,
} from './views.js';

export type { Clock } from '../shared/clock.js';
export type { AclDecision, AclRequester } from './acl-index.js';
export type {
  AclAction,
  AclBinding,
  AclFilter,
  AclOperation,
  AclPatternType,
  AclPermission,
  AclResourceType,
} from './acls.js';
export type { PasswordDerive, PasswordHashJob, VerifyOptions } from './login-cache.js';
export type { ScramCredential, ScramCredentials, ScramMechanism } from './scram.js';
/** The rows and views are part of the contract: callers import them from here. */
export type * from './views.js';

import type { Clock } from '../shared/clock.js';

/** Limits core enforces; all have defaults in ./limits.ts. */
export interface CoreLimits {
  queuesMax: number;
  exchangesMax: number;
  bindingsMax: number;
  /** Bodies of ready messages kept in memory across all durable queues; the rest are read from disk on demand. */
  bodyCacheBytesMax: number;
  messageBytesMax: number;
  streamPartitionsMax: number;
  /** Producer ids one vhost holds; a new one past it evicts the least recently used idempotent ids. */
  producerIdsMax: number;
  /** Transactional ids one vhost holds; a new one past it evicts the longest idle ones. */
  transactionalIdsMax: number;
  /**
   * Kafka's offsets.retention.minutes (KIP-211): a group's committed offsets expire once it has been
   * empty this long, a standalone consumer's this long after their commit.
   */
  offsetsRetentionMinutes: number;
  /** How long a verified credential is accepted again without hashing (`Users.verify`). */
  loginCacheTtlMs: number;
  /** Verified credentials remembered at most. */
  loginCacheEntriesMax: number;
  /** Bytes of retained messages (bodies and keys) one vhost keeps, in memory; past it a new one is refused. */
  retainedBytesMax: number;
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

export interface StreamAppendOptions {
  readonly count?: number;
  readonly timestamp: number;
  readonly maxTimestamp?: number;
  readonly format: number;
  /** The caller never changes the payload again, so storage may keep it uncopied (`AppendInput.owned`). */
  readonly owned?: boolean;
  /** With `owned`: storage is done with the payload and the caller may reuse it (`AppendInput.release`). */
  readonly release?: (() => void) | undefined;
  /** Nothing waits for the entry's durability soon: it may share the log's next write (`AppendInput.lazy`). */
  readonly lazy?: boolean;
  /** The payload's own CRC-32C at bytes [17, 21) is right, so storage may rely on it (`AppendInput.payloadCrc32c`). */
  readonly payloadCrc32c?: boolean;
}

export interface StreamReadOptions {
  readonly maxBytes?: number;
  readonly maxEntries?: number;
  /** Buffers the caller lends so large reads reuse memory (see `ReadBuffers` in storage). */
  readonly buffers?: ReadBuffers;
  /**
   * Committed data only: nothing at or past the stable offset, and transaction markers and entries
   * of aborted transactions handed out as `withheld` entries (readers skip them, offsets and all).
   */
  readonly committed?: boolean;
}

/** A transaction aborted on a partition: its producer and the first offset it may have written. */
export interface AbortedTransaction {
  readonly producerId: number;
  readonly firstOffset: number;
  /** Its abort marker's offset: the transaction's last entry. */
  readonly markerOffset: number;
}

/** One partition of a stream (a Kafka topic partition, an AMQP stream queue's log). */
export interface StreamPartition {
  readonly stream: string;
  readonly index: number;
  readonly startOffset: number;
  readonly endOffset: number;
  /** Below it no transaction is open (Kafka's last stable offset); `endOffset` when none is. */
  readonly stableOffset: number;
  /** Bytes its log holds, record headers included. */
  readonly sizeBytes: number;
  append(payload: Uint8Array, options: StreamAppendOptions): AppendResult;
  read(offset: number, options?: StreamReadOptions): LogEntry[];
  /**
   * `read` for a caller that sends what it reads: a large read's file reads and CRC checks run off the
   * event loop when storage can (lent `buffers` backed by SharedArrayBuffers), else inline. It may
   * return fewer entries than `read` would (it stops at a segment's end), never other ones.
   */
  readOffThread(offset: number, options?: StreamReadOptions): Promise<LogEntry[]>;
  offsetForTimestamp(timestamp: number): number;
  /**
   * Resolves when endOffset > offset (with `committed`, stableOffset > offset) or after timeoutMs,
   * whichever is first (Fetch long-poll).
   */
  waitFor(offset: number, timeoutMs: number, committed?: boolean): Promise<void>;
  /** Transactions aborted with data in [from, to), by first offset. */
  abortedBetween(from: number, to: number): AbortedTransaction[];
}

/**
 * Log compaction of a stream (Kafka's `cleanup.policy=compact`; docs/compaction.md): each key's latest
 * record stays, older ones go. Retention (`bytesMax`, `ageMsMax`) applies beside it when set.
 */
export interface StreamCompaction {
  /** How long a tombstone (and a transaction marker) stays once written (Kafka's delete.retention.ms). */
  readonly tombstoneRetentionMs: number;
  /** Records younger than this are never compacted (Kafka's min.compaction.lag.ms). */
  readonly lagMsMin: number;
  /** A run starts once this share of the log was written since the last (min.cleanable.dirty.ratio). */
  readonly dirtyRatioMin: number;
}

export interface StreamInfo {
  readonly name: string;
  /**
   * Made when the stream is created and kept with its definition (./logs/stream-ids.ts): a stream
   * created again under its name has a new one. Kafka's topic id (KIP-516).
   */
  readonly id: string;
  readonly partitions: number;
  readonly bytesMax?: number;
  readonly ageMsMax?: number;
  /** Set for a compacted stream. */
  readonly compaction?: StreamCompaction;
  /**
   * Settings a front end keeps with the stream (Kafka's topic configs), stored in its definition and
   * deleted with it; core itself enforces only `bytesMax` and `ageMsMax`.
   */
  readonly attributes?: Readonly<Record<string, string>>;
}

export interface StreamCreateOptions {
  readonly partitions: number;
  readonly bytesMax?: number;
  readonly ageMsMax?: number;
  readonly compaction?: StreamCompaction;
  readonly attributes?: Readonly<Record<string, string>>;
}

/** What a stream's `configure` replaces as a whole: retention (absent: none) and its attributes. */
export interface StreamSettings {
  readonly bytesMax?: number;
  readonly ageMsMax?: number;
  readonly compaction?: StreamCompaction;
  readonly attributes: Readonly<Record<string, string>>;
}

/** A partition of a stream, as commands name it. */
export interface PartitionName {
  readonly stream: string;
  readonly partition: number;
}

export interface GroupOffset {
  readonly offset: number;
  readonly metadata: string;
  readonly committedAt: number;
  /** The leader epoch the committer last saw for the partition (Kafka KIP-320); absent when it sent none. */
  readonly leaderEpoch?: number;
}

/** One member of a consumer group's durable membership record (the Kafka classic protocol's). */
export interface GroupMember {
  readonly id: string;
  readonly instanceId: string | null;
  readonly clientId: string;
  readonly clientHost: string;
  readonly sessionTimeoutMs: number;
  readonly rebalanceTimeoutMs: number;
  /** The protocols the member offered, in its order of preference, with their opaque metadata. */
  readonly protocols: ReadonlyArray<{ readonly name: string; readonly metadata: Uint8Array }>;
  /** What the leader assigned it; opaque to core. */
  readonly assignment: Uint8Array;
}

/**
 * A consumer group's membership as its coordinator last recorded it: core keeps it with the group's
 * offsets and hands it back after a restart; what the fields mean is the coordinator's business.
 */
export interface GroupMembership {
  readonly generation: number;
  readonly protocolType: string | null;
  readonly protocol: string | null;
  readonly leader: string | null;
  /** A member left or expired after the last completed generation: the rest must rejoin. */
  readonly rebalance: boolean;
  readonly members: readonly GroupMember[];
  /**
   * Which of the adapter's coordinators keeps this record, when it has more than one kind of group
   * (Kafka: absent for classic groups, `consumer` for KIP-848 groups); opaque to core.
   */
  readonly coordinator?: string;
}

/**
 * Records of a share-partition (KIP-932) alike: handed out `deliveries` times, and done (acknowledged
 * or archived) or still in flight.
 */
export interface ShareRecordRange {
  readonly first: number;
  readonly last: number;
  readonly deliveries: number;
  readonly done: boolean;
}

/**
 * A share-partition as its group keeps it: below `startOffset` every record is done; from there to
 * `endOffset` (the next offset never handed out) `records` says which were handed out and how they
 * stand; offsets in between without a range were nothing to deliver. As a change, `records` names
 * only what changed.
 */
export interface SharePartitionState {
  readonly stream: string;
  readonly partition: number;
  readonly startOffset: number;
  readonly endOffset: number;
  readonly records: readonly ShareRecordRange[];
}

/**
 * A change to a share group's durable state, as Kafka's share coordinator takes them: a group config
 * (null removes it), a share-partition whole (ShareSnapshot) or changed (ShareUpdate), or all of it
 * gone (the group was deleted).
 */
export type ShareStateChange =
  | { readonly type: 'config'; readonly name: string; readonly value: string | null }
  | { readonly type: 'snapshot' | 'update'; readonly partition: SharePartitionState }
  | { readonly type: 'clear' };

/** A share group's durable state: its configs and share-partitions (records as ranges). */
export interface ShareGroupState {
  readonly group: string;
  readonly configs: Readonly<Record<string, string>>;
  readonly partitions: readonly SharePartitionState[];
}

/** A consumer group as listed: its name and, when its coordinator keeps one, its membership record. */
export interface GroupSummary {
  readonly name: string;
  readonly membership: GroupMembership | undefined;
}

/** A retained message of a vhost: at most one per routing key (MQTT 5.0 §3.3.1.3). */
export interface RetainedMessage {
  /** The routing key it was published with (AMQP form: words separated by '.'). */
  readonly key: string;
  readonly body: Uint8Array;
  /** `expiresAtMs` among them ends its life: it is no longer handed out. */
  readonly properties: MessageProperties;
}

/** What an idempotent producer says about a batch (Kafka KIP-98). */
export interface ProducerBatch {
  /** A safe integer; ids are handed out by `initProducer`. */
  readonly producerId: number;
  readonly epoch: number;
  readonly baseSequence: number;
  /** Records in the batch: the sequences it covers. */
  readonly count: number;
  /** Part of the producer's open transaction; refused unless the transaction holds the partition. */
  readonly transactional?: boolean;
  /**
   * A transactional batch that adds its partition to its producer's transaction itself, opening one
   * if none is (KIP-890 part 2, Kafka's Produce v12 on); otherwise the partition must have been added.
   */
  readonly addsPartition?: boolean;
}

/** Why a batch or an epoch bump is refused; adapters map these to their own error codes. */
export type ProducerRefusal =
  | 'unknownProducer'
  | 'staleEpoch'
  | 'outOfOrder'
  | 'duplicateSequence'
  /** A transactional batch for a partition its producer's open transaction does not hold. */
  | 'notInTransaction';

export type ProducerInit =
  | { readonly kind: 'ok'; readonly producerId: number; readonly epoch: number }
  | { readonly kind: 'refused'; readonly reason: ProducerRefusal };

/** What an idempotent append did. */
export type IdempotentAppend =
  | { readonly kind: 'appended'; readonly offset: number; readonly durable: Promise<void> }
  /** A retry of a batch already stored, at `offset`; nothing was appended. */
  | { readonly kind: 'duplicate'; readonly offset: number }
  /**
   * Nothing was appended: the transaction of this transactional batch lists partitions not yet
   * durably (AddPartitionsToTxn is answered once applied). Append again once `until` settles; it
   * rejects if the transaction log failed. `transition`: the wait is for the id's InitProducerId or
   * ending to be written (KIP-890 part 2's implicit add), which an adapter may answer as busy instead.
   */
  | { readonly kind: 'wait'; readonly until: Promise<void>; readonly transition?: true }
  | { readonly kind: 'refused'; readonly reason: ProducerRefusal };

/** Why a transactional producer's request is refused; adapters map these to their own error codes. */
export type TxnRefusal =
  /** A newer instance of the transactional id took over (a higher epoch): this one must stop. */
  | 'fenced'
  /** The producer id is not the one the transactional id has. */
  | 'producerIdMismatch'
  /** The request does not fit the transaction's phase (offsets for a group never added, …). */
  | 'invalidState'
  /** The previous transaction is still ending; retry. */
  | 'concurrent'
  | 'invalidTimeout'
  /** A partition named does not exist; nothing was added. */
  | 'unknownPartition';

export type TxnResult = { readonly kind: 'ok' } | { readonly kind: 'refused'; readonly reason: TxnRefusal };

export type TxnInit =
  | { readonly kind: 'ok'; readonly producerId: number; readonly epoch: number }
  | { readonly kind: 'refused'; readonly reason: TxnRefusal };

/**
 * An ended transaction: the producer id and epoch its transactional id has now, the same as before
 * unless the end bumped the epoch (KIP-890 part 2).
 */
export type TxnEnded = TxnInit;

/** A transactional producer and its transaction as listed (Kafka DescribeTransactions). */
export interface TxnSummary {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly epoch: number;
  readonly timeoutMs: number;
  readonly phase: 'empty' | 'ongoing' | 'prepareCommit' | 'prepareAbort' | 'completeCommit' | 'completeAbort';
  /** When the open (or last) transaction began. */
  readonly startedAt: number;
  readonly partitions: ReadonlyArray<{ readonly stream: string; readonly partition: number }>;
  readonly groups: readonly string[];
}

/** One instance of a transactional producer, as InitProducerId named it. */
export interface TxnInstance {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly epoch: number;
}

/** A producer that wrote to a partition lately (Kafka DescribeProducers). */
export interface PartitionProducer {
  readonly producerId: number;
  readonly epoch: number;
  readonly lastSequence: number;
  /** The largest timestamp of its last batch or marker here, -1 when that is no longer stored. */
  readonly lastTimestamp: number;
  /** -1 until a transaction marker of it is written here, then the coordinator's epoch (0). */
  readonly coordinatorEpoch: number;
  /** The first offset of its open transaction here, or -1. */
  readonly transactionStartOffset: number;
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
  /** Which session of that id this handle reaches; a clean start makes a new incarnation. */
  readonly incarnation: number;
  /** The session's queue; consume from it through the vhost once it exists (`hasQueue`). */
  readonly queue: string;
  /** The queue exists: it is declared at the first `subscribe` (or was stored with a durable session). */
  readonly hasQueue: boolean;
  /** The session existed before this open. */
  readonly present: boolean;
  readonly durable: boolean;
  readonly expiryMs: number | undefined;
  readonly connected: boolean;
  /**
   * This incarnation is still the session of its id: nothing replaced or destroyed it since. Asked
   * without building the session's summary (every CONNECT asks it).
   */
  readonly current: boolean;
  subscriptions(): SessionSubscription[];
  subscribe(exchange: string, pattern: string, options?: Headers): Promise<void>;
  unsubscribe(exchange: string, pattern: string): Promise<boolean>;
  /** Subscriptions shared with the session's groups; recorded here, served by the adapter. */
  groupSubscriptions(): SessionGroupSubscription[];
  /** Records a group subscription; the same options again change nothing. */
  groupSubscribe(group: string, exchange: string, pattern: string, options?: Headers): Promise<void>;
  /** Returns false when there was no such group subscription. */
  groupUnsubscribe(group: string, exchange: string, pattern: string): Promise<boolean>;
  inflight(): ReadonlyMap<number, number>;
  setInflight(packetId: number, deliveryId: number): Promise<void>;
  deleteInflight(packetId: number): Promise<void>;
  /**
   * The session queue still holds the message stored at `offset` (`Delivery.storedAt`): false once it
   * left the queue, undefined while not known (the queue absent or still opening).
   */
  holdsStored(offset: number): boolean | undefined;
  /** The owner is back; expiry stops. */
  connect(expiryMs?: number): Promise<void>;
  /** The owner left; the session is removed after `expiryMs` (undefined: never; 0: now). */
  disconnect(expiryMs?: number): Promise<void>;
  destroy(): Promise<void>;
}

/** A subscription a session shares with others of its group, served from the group's own queue. */
export interface SessionGroupSubscription extends SessionSubscription {
  readonly group: string;
}

export interface SessionSummary {
  readonly id: string;
  /** Which session of that id: a clean start or an expiry and re-open makes a new one. */
  readonly incarnation: number;
  readonly queue: string;
  readonly durable: boolean;
  readonly expiryMs: number | undefined;
  readonly connected: boolean;
  /** The session queue exists (declared at the first subscription, or stored). */
  readonly hasQueue: boolean;
  readonly subscriptions: SessionSubscription[];
  readonly groupSubscriptions: SessionGroupSubscription[];
}

/** A session just opened: which one, and whether it existed before (MQTT "session present"). */
export type SessionOpened = Pick<SessionSummary, 'id' | 'incarnation' | 'durable'> & {
  readonly present: boolean;
};

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
  /** Failures of owned objects caught by their executors since start, per kind (`queue`, `stream`, …). */
  readonly faults: ReadonlyArray<readonly [kind: string, count: number]>;
  /** Live connections (those counted for limits) per protocol that carried them; absent ones are 0. */
  readonly connections: ReadonlyArray<readonly [protocol: string, count: number]>;
  /** What storage reports upward: absent where nothing reaches a disk (memory storage). */
  readonly storage?: StorageStats;
}

/** The queues of a vhost in declaration order, as parallel arrays (`queue.depths`). */
export interface QueueDepths {
  readonly names: readonly string[];
  /** Ready messages. */
  readonly messages: readonly number[];
  readonly consumers: readonly number[];
}

/** One vhost's totals (`vhost.counts`): the admin API's vhost listing without listing its queues. */
export interface VhostCounts {
  readonly exchanges: number;
  readonly queues: number;
  readonly consumers: number;
  /** Messages ready in its queues, and delivered but not yet acknowledged. */
  readonly ready: number;
  readonly unacked: number;
}

/** Storage's own meters, passed through core so the admin API need not reach storage. */
export interface StorageStats {
  readonly writtenBytes: number;
  readonly syncSeconds: HistogramSnapshot;
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

/** The `CoreClient` methods for ACLs (./entry/client.ts implements them). */
export interface AclClient {
  listAcls(filter?: AclFilter): AclBinding[];
  createAcls(bindings: readonly AclBinding[]): Promise<void>;
  deleteAcls(filters: readonly AclFilter[]): Promise<AclBinding[][]>;
  authorizeAcl(who: AclRequester, action: AclAction): boolean;
  authorizeAclSome(
    who: AclRequester,
    resourceType: AclResourceType,
    operation: Exclude<AclOperation, 'ALL'>,
  ): boolean;
}

/** The `CoreClient` methods for operators (./entry/client.ts implements them). */
export interface OperatorClient {
  listConnections(): LiveConnection[];
  killConnection(name: string, reason: string): boolean;
  listConsumers(): ConsumerRow[];
  readMeters(objects: MeteredKind | 'total', names?: readonly string[]): MeterRow[];
  meterSamples(): readonly TotalSample[];
  /** `channel`: the AMQP channel that confirmed them, for its row in `/api/channels`. */
  countConfirms(count: number, channel?: number): void;
}

/** The `CoreClient` methods for policies and limits (./entry/client.ts implements them). */
export interface PolicyClient {
  listPolicies(family: PolicyFamily): Policy[];
  putPolicy(family: PolicyFamily, name: string, input: PolicyInput): Promise<Policy>;
  deletePolicy(family: PolicyFamily, name: string): Promise<boolean>;
  appliedPolicies(objects: 'queues' | 'exchanges', names?: readonly string[]): AppliedPolicy[];
  vhostLimits(): VhostLimits;
  setVhostLimit(name: string, value: unknown): Promise<void>;
  clearVhostLimit(name: string): Promise<boolean>;
  userLimits(): Array<{ user: string; limits: UserLimits }>;
  setUserLimit(user: string, name: string, value: unknown): Promise<void>;
  clearUserLimit(user: string, name: string): Promise<boolean>;
  /** Counts this connection against the limits; throws when one is reached (see `connection.open`). */
  openConnection(description?: ConnectionDescription): void;
  openChannel(): void;
  closeChannel(): void;
}

/**
 * A caller's way into core (./client.ts): every method builds a command (./commands.ts) stamped with
 * the caller's context and runs it through `BrokerCore.execute`. Protocol adapters and the admin API
 * hold one per connection (or per request) and reach core through nothing else.
 */
export interface CoreClient extends PolicyClient, AclClient, OperatorClient {
  readonly context: CallerContext;
  /** The vhost this client addresses. */
  readonly vhost: string;
  /** The same caller addressing another vhost. */
  inVhost(vhost: string): CoreClient;

  declareExchange(name: string, options: ExchangeOptions): void;
  /**
   * Passive declare: throws notFound when absent. `publishing`: the check of a publish about to come,
   * which needs write permission on the exchange rather than any permission.
   */
  checkExchange(name: string, options?: { publishing?: boolean }): void;
  deleteExchange(name: string, options?: { ifUnused?: boolean }): void;
  bindExchange(destination: string, source: string, routingKey: string, args?: Headers): void;
  unbindExchange(destination: string, source: string, routingKey: string, args?: Headers): void;

  /**
   * '' gets a server name `amq.gen-…`. Redeclare with other options → preconditionFailed. A queue
   * declared with `exclusiveOwner` set (to anything) is exclusive to the caller's connection.
   */
  declareQueue(name: string, options: QueueOptions): QueueInfo;
  checkQueue(name: string): QueueInfo;
  /** Counts of a queue without touching it (no expiry reset, no exclusivity check): for flow control. */
  peekQueue(name: string): QueueInfo | undefined;
  /** The queue's type (classic, quorum or stream) without listing it; undefined when there is none. */
  queueType(name: string): QueueType | undefined;
  deleteQueue(name: string, options?: { ifUnused?: boolean; ifEmpty?: boolean }): number;
  purgeQueue(name: string): number;
  bindQueue(queue: string, exchange: string, routingKey: string, args?: Headers): void;
  unbindQueue(queue: string, exchange: string, routingKey: string, args?: Headers): void;
  /**
   * Resolves once every definition written so far is durable (declares and binds apply at once and
   * are written in the background); rejects if one of those writes failed.
   */
  definitionsDurable(): Promise<void>;

  publish(
    exchange: string,
    routingKey: string,
    message: PublishInput,
    options?: PublishOptions,
  ): PublishResult;
  /** `options.owner` names the holder of unacked deliveries within the caller's connection. */
  consume(queue: string, options: ConsumeOptions): Consumer;
  /**
   * Takes what is ready now. A quorum queue's returned message whose count is being written is not
   * seen, and an acking get's own count may not be written yet: what answers a client uses `take`.
   */
  get(queue: string, options: { noAck: boolean; owner: string }): Delivery | undefined;
  /**
   * Up to `countMax` (default 1) messages as RabbitMQ's get answers them, for every front end that
   * takes from a queue on request (AMQP basic.get, the admin API's get): first waits, at most 5 s
   * (`returnWaitMsMax`), for a quorum queue's returned messages to be ready again, as RabbitMQ applies
   * a get after the return before it; then, for acking gets of a quorum queue, for their delivery
   * counts to be written, so a crash after a client saw one counts it as returned. Empty when that
   * write fails: the queue restarts from its logs, the messages back in it. An array, not a promise,
   * when nothing had to wait (a classic queue, a no-ack get of a quorum queue without returns), so a
   * front end answers at once; the messages are taken by one command however many.
   */
  take(
    queue: string,
    options: { noAck: boolean; owner: string },
    countMax?: number,
  ): Delivery[] | Promise<Delivery[]>;
  ack(queue: string, id: number): void;
  /** requeue=false dead-letters (if the queue has a DLX) or drops. */
  nack(queue: string, id: number, requeue: boolean): void;
  /** Returns an unacked delivery at the tail or in place, counted as a failed delivery or not. */
  requeue(queue: string, id: number, options: RequeueOptions): void;
  /**
   * A visibility timeout on an unacked delivery: unsettled after `timeoutMs`, it returns at the tail,
   * counted, and the promise resolves true; settled (or held again) first, it resolves false.
   */
  hold(queue: string, id: number, timeoutMs: number): Promise<boolean>;
  /**
   * Publishes a request carrying a fresh reply address in `replyTo` (./requests.ts); `reply` resolves
   * with the first publish to that address on the default exchange, or undefined after `timeoutMs`
   * (at once when the request reached no queue).
   */
  request(
    exchange: string,
    routingKey: string,
    message: PublishInput,
    options: { timeoutMs: number } & PublishOptions,
  ): RequestResult;
  /** Requeues (redelivered) every unacked delivery held by `owner` and cancels its consumers. */
  releaseOwner(owner: string): void;
  /** The caller's connection went away: release its owners' deliveries and delete its exclusive queues. */
  closeConnection(): void;

  createStream(name: string, options: StreamCreateOptions): Promise<StreamInfo>;
  /** Replaces the settings a front end keeps with the stream (`StreamInfo.attributes`). */
  setStreamAttributes(name: string, attributes: Readonly<Record<string, string>>): Promise<StreamInfo>;
  /** Replaces a stream's retention and attributes (Kafka AlterConfigs); retention applies at its next run. */
  configureStream(name: string, settings: StreamSettings): Promise<StreamInfo>;
  deleteStream(name: string): Promise<void>;
  addPartitions(name: string, total: number): Promise<StreamInfo>;
  stream(name: string): StreamInfo | undefined;
  streams(): StreamInfo[];
  /**
   * The name of the stream whose id is `id` (`StreamInfo.id`, Kafka's topic id), found in one step; a
   * stream deleted (and one created again under its name) no longer answers to its old id.
   */
  streamNameOf(id: string): string | undefined;
  /**
   * Readers no longer see records below `before` (Kafka DeleteRecords); returns the partition's new
   * start. `before` must lie within [0, endOffset] (invalidArgument otherwise).
   */
  deleteRecords(stream: string, partition: number, before: number): Promise<number>;
  /** A handle whose every call is a command; throws notFound when the partition does not exist. */
  partition(stream: string, index: number): StreamPartition;
  commitOffset(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void>;
  fetchOffset(group: string, stream: string, partition: number): GroupOffset | undefined;
  groupOffsets(group: string): Array<{ stream: string; partition: number; offset: GroupOffset }>;
  deleteGroupOffsets(group: string): Promise<void>;
  /** Removes the group's offsets of these partitions only (Kafka OffsetDelete, KIP-496). */
  deletePartitionOffsets(group: string, partitions: readonly PartitionName[]): Promise<void>;
  /** Every consumer group of the vhost (with offsets or a membership record). */
  listGroups(): GroupSummary[];
  groupMembership(group: string): GroupMembership | undefined;
  /**
   * Records a group's membership (null removes the record). False when it is past core's bounds:
   * then the stored record is removed instead, so members rejoin after a restart; the group still
   * counts as having its members, and keeps its offsets, until it is reported empty.
   */
  saveGroupMembership(group: string, membership: GroupMembership | null): Promise<boolean>;
  /** Deletes the group: its offsets, its membership record and its share state. */
  deleteGroup(group: string): Promise<void>;
  /** Every group of the vhost that holds share state (KIP-932). */
  shareGroupStates(): ShareGroupState[];
  /** Stores a change to a share group's state; resolves once durable. */
  writeShareState(group: string, change: ShareStateChange): Promise<void>;

  /** A new idempotent producer (`producerId` < 0) or the same one with its epoch bumped (KIP-360). */
  initProducer(producerId: number, epoch: number): Promise<ProducerInit>;
  /**
   * Appends a batch of an idempotent producer to a partition unless it is a retry of one already
   * stored or out of sequence; the check, the append and the record of its sequence are one step.
   */
  appendIdempotent(
    stream: string,
    partition: number,
    batch: ProducerBatch,
    payload: Uint8Array,
    options: StreamAppendOptions,
  ): IdempotentAppend;

  /** Whether an open transaction will commit an offset of the group's partition (KIP-447). */
  offsetPending(group: string, stream: string, partition: number): boolean;
  /** Producers that wrote to a partition lately, with any transaction they hold open there. */
  partitionProducers(stream: string, partition: number): PartitionProducer[];

  /**
   * A producer id and epoch for a transactional id (Kafka InitProducerId with one): the first
   * instance gets a new id; a later one bumps the epoch, fencing the older, whose open transaction
   * is aborted first. `producerId` / `epoch` are the caller's own when it has them (KIP-360), else -1.
   */
  initTransactional(
    transactionalId: string,
    timeoutMs: number,
    producerId: number,
    epoch: number,
  ): Promise<TxnInit>;
  /**
   * Partitions join the producer's transaction; all or none. Resolves once applied, before it is
   * durable: the producer's transactional batches wait for that (`appendIdempotent` answers `wait`).
   */
  addToTransaction(
    txn: TxnInstance,
    partitions: Array<{ stream: string; partition: number }>,
  ): Promise<TxnResult>;
  /** The transaction will commit offsets of `group`. */
  addGroupToTransaction(txn: TxnInstance, group: string): Promise<TxnResult>;
  /**
   * Offsets the group gets when the transaction commits. With `addGroup` (KIP-890 part 2) a group
   * not yet in the transaction joins it; otherwise it must have been added.
   */
  commitTransactionOffsets(
    txn: TxnInstance,
    group: string,
    offsets: Array<{ stream: string; partition: number; offset: GroupOffset }>,
    addGroup?: boolean,
  ): Promise<TxnResult>;
  /**
   * Commits or aborts. With `bumpEpoch` (KIP-890 part 2) the end also hands the id over to its next
   * epoch (or a new producer id past the last epoch), which the answer names.
   */
  endTransaction(txn: TxnInstance, commit: boolean, bumpEpoch?: boolean): Promise<TxnEnded>;
  describeTransaction(transactionalId: string): TxnSummary | undefined;
  listTransactions(): TxnSummary[];

  /** Replaces the retained message of `message.key`; resolves once durable. */
  setRetained(message: RetainedMessage): Promise<void>;
  clearRetained(key: string): Promise<void>;
  /** Retained messages whose routing key `pattern` (AMQP topic form) matches; expired ones left out. */
  matchRetained(pattern: string): RetainedMessage[];
  retainedCount(): number;

  listExchanges(): Array<{ name: string } & ExchangeOptions>;
  listQueues(): Array<QueueInfo & QueueOptions>;
  /**
   * The queues' names alone, in declaration order or sorted by UTF-16 code units (the sorted list is
   * kept until a queue comes or goes): what a large listing filters and pages on before it asks
   * `queueRows` for one page's rows.
   */
  queueNames(sorted?: boolean): readonly string[];
  /** `listQueues`'s rows of the named queues, in that order; absent names are left out. */
  queueRows(names: readonly string[]): Array<QueueInfo & QueueOptions>;
  /** Every queue's messages and consumers (no object per queue): the key of a sort in a listing. */
  queueDepths(): QueueDepths;
  /** A queue's message counters (published, delivered, redelivered, acked); undefined before any. */
  queueCounts(name: string): MessageCounts | undefined;
  /**
   * Every binding: the default exchange's implicit one of each queue first (in `queueNames()` order;
   * left out with `defaults: false`), then the others.
   */
  listBindings(options?: { defaults?: boolean }): BindingRow[];
  /**
   * Throws accessRefused unless the caller may receive what `exchange` routes with `pattern`; for a
   * front end that serves a subscription from a queue of its own.
   */
  checkSubscription(exchange: string, pattern: string): void;

  /** Opens (or takes over) a session; `clean` destroys an existing one of that id first. */
  openSession(
    id: string,
    options: { durable: boolean; expiryMs?: number; clean?: boolean },
  ): Promise<CoreSession>;
  session(id: string): CoreSession | undefined;
  listSessions(): SessionSummary[];

  vhostNames(): string[];
  /** A vhost created by a user gives that user full permissions on it (RabbitMQ's rule). */
  addVhost(name: string): Promise<void>;
  deleteVhost(name: string): Promise<void>;
  /**
   * The caller starts working in its vhost: notFound when it does not exist, accessRefused (RabbitMQ's
   * "access to vhost '/' refused for user 'u'") when the user has no permissions there.
   */
  checkVhostAccess(): void;
  /** The caller's user, its tags and the vhosts it has permissions in. */
  describeAccess(): AccessView;
  stats(): CoreStats;
  /** The caller's vhost's totals (its queues counted without listing them). */
  vhostCounts(): VhostCounts;
  userNames(): string[];
  userTags(name: string): string[] | undefined;
  listUsers(): UserView[];
  getUser(name: string): UserView | undefined;
  /** A string is a password; otherwise a hash (`UserView.passwordHash`) or no password at all. */
  putUser(name: string, credential: string | UserCredential, tags?: readonly string[]): Promise<void>;
  deleteUser(name: string): Promise<void>;
  /** The user's SCRAM credentials by mechanism (RFC 5802); undefined for an unknown user. Administrator. */
  scramCredentials(name: string): ScramCredentials | undefined;
  /**
   * Sets (null: removes) one SCRAM credential of a user, leaving its password and tags; an unknown user
   * is created with that credential alone (Kafka's AlterUserScramCredentials). Administrator.
   */
  setScramCredential(
    name: string,
    mechanism: ScramMechanism,
    credential: ScramCredential | null,
  ): Promise<void>;
  listPermissions(filter?: PermissionFilter): PermissionRow[];
  /** Patterns are checked: too long or not a regular expression → invalidArgument. */
  setPermission(vhost: string, user: string, permission: StoredPermission): Promise<void>;
  clearPermission(vhost: string, user: string): Promise<void>;
  listTopicPermissions(filter?: PermissionFilter): TopicPermissionRow[];
  setTopicPermission(
    vhost: string,
    user: string,
    exchange: string,
    permission: StoredTopicPermission,
  ): Promise<void>;
  /** Without `exchange`, the user's topic permissions on every exchange of the vhost. */
  clearTopicPermission(vhost: string, user: string, exchange?: string): Promise<void>;
  /**
   * Checks a user's password; false for unknown users. A credential verified a moment ago is not hashed
   * again; `options` lets the caller run the hash elsewhere (the server's hashing processes) and give up
   * when its client goes.
   */
  verifyUser(name: string, password: string, options?: VerifyOptions): Promise<boolean>;
  /** Whether the server applied its configured default user on an earlier start of this data. */
  defaultUserApplied(): boolean;
  markDefaultUserApplied(): Promise<void>;
}

export interface CoreBroker {
  /** A client for one caller: every command it issues carries `context`. */
  connect(context: CallerContext): CoreClient;
  /** Resource alarms; adapters hold back publishers while any is active. */
  readonly alarms: Alarms;
  readonly clock: Clock;
  /**
   * Moves on with every change of users, permissions or ACLs: a decision cached by a front end (a
   * Kafka connection's ACL checks) holds while it stays the same.
   */
  readonly accessGeneration: number;
  /** Flush and stop timers; the storage is closed by whoever opened it. */
  close(): Promise<void>;
}
