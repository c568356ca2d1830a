/**
 * The commands core accepts, one entry per kind: what the command carries (`in`) and what executing
 * it gives back (`out`). Protocol adapters and the admin API never call into vhosts, queues or streams
 * directly: they issue these through a `CoreClient` (./client.ts), which stamps each with the caller's
 * context and hands it to `BrokerCore.execute` — the one place that authorizes, meters and (in a
 * cluster) forwards. Names are `<object>.<verb>`; `<verb>` alone says whether it changes state.
 */
import type { AppendResult, LogEntry, ReadBuffers } from '../../storage/types.js';
import type {
  AbortedTransaction,
  CoreStats,
  GroupMembership,
  GroupOffset,
  GroupSummary,
  IdempotentAppend,
  PartitionName,
  PartitionProducer,
  ProducerBatch,
  ProducerInit,
  PublishInput,
  QueueDepths,
  RetainedMessage,
  SessionOpened,
  SessionSummary,
  ShareGroupState,
  ShareStateChange,
  StreamAppendOptions,
  StreamCreateOptions,
  StreamInfo,
  StreamSettings,
  TxnEnded,
  TxnInit,
  TxnResult,
  TxnSummary,
  VerifyOptions,
  VhostCounts,
} from '../api.js';
import type { ScramCredential, ScramCredentials, ScramMechanism } from '../scram.js';
import type {
  ConsumeOptions,
  Consumer,
  Delivery,
  ExchangeOptions,
  Headers,
  PublishOptions,
  PublishResult,
  QueueInfo,
  QueueOptions,
  QueueType,
  RequeueOptions,
} from '../types.js';
import type {
  AccessView,
  BindingRow,
  MessageCounts,
  PermissionFilter,
  PermissionRow,
  RequestResult,
  StoredPermission,
  StoredTopicPermission,
  TopicPermissionRow,
  UserCredential,
  UserView,
} from '../views.js';
import { type AclCommandSpecs, aclQueryKinds } from './acl-commands.js';
import { type OperatorCommandSpecs, operatorQueryKinds } from './operator-commands.js';
import { type PolicyCommandSpecs, policyQueryKinds } from './policy-commands.js';

interface Binding {
  readonly destination: string;
  readonly source: string;
  readonly routingKey: string;
  readonly args: Headers;
}

interface PartitionRef {
  readonly stream: string;
  readonly partition: number;
}

interface GroupRef {
  readonly group: string;
}

/** A transactional producer's instance: its id, and the producer id and epoch it was given. */
interface TxnRef {
  readonly transactionalId: string;
  readonly producerId: number;
  readonly epoch: number;
}

/** kind → { in: what the command carries; out: its result }. */
export interface CommandSpecs extends PolicyCommandSpecs, AclCommandSpecs, OperatorCommandSpecs {
  // ---- vhosts, users and permissions (broker-wide; the context's vhost is not consulted)
  'vhost.list': { in: object; out: string[] };
  /** A vhost created by a user gives that user full permissions on it (RabbitMQ's rule). */
  'vhost.add': { in: { name: string }; out: Promise<void> };
  'vhost.delete': { in: { name: string }; out: Promise<void> };
  /**
   * The caller starts working in its vhost (AMQP connection.open, MQTT CONNECT): notFound when the
   * vhost does not exist, accessRefused when the user has no permissions there.
   */
  'vhost.open': { in: object; out: undefined };
  /** Who the caller is: its user, tags and the vhosts it has permissions in (`/api/whoami`). */
  'access.describe': { in: object; out: AccessView };
  'broker.stats': { in: object; out: CoreStats };
  /** The caller's vhost's totals: exchanges, queues, consumers, ready and unacked messages. */
  'vhost.counts': { in: object; out: VhostCounts };
  'user.list': { in: object; out: UserView[] };
  'user.get': { in: { name: string }; out: UserView | undefined };
  /** A user's tags alone: a login asks them without the password hash `user.get` encodes. */
  'user.tags': { in: { name: string }; out: string[] | undefined };
  'user.put': {
    in: { name: string; credential: UserCredential; tags: readonly string[] };
    out: Promise<void>;
  };
  'user.delete': { in: { name: string }; out: Promise<void> };
  /** The user's SCRAM credentials; undefined for an unknown user. */
  'user.scram': { in: { name: string }; out: ScramCredentials | undefined };
  'user.setScram': {
    in: { name: string; mechanism: ScramMechanism; credential: ScramCredential | null };
    out: Promise<void>;
  };
  'permission.list': { in: PermissionFilter; out: PermissionRow[] };
  'permission.put': { in: { vhost: string; user: string; permission: StoredPermission }; out: Promise<void> };
  'permission.delete': { in: { vhost: string; user: string }; out: Promise<void> };
  'topicPermission.list': { in: PermissionFilter; out: TopicPermissionRow[] };
  'topicPermission.put': {
    in: { vhost: string; user: string; exchange: string; permission: StoredTopicPermission };
    out: Promise<void>;
  };
  /** Without `exchange`, the user's topic permissions on every exchange of the vhost go. */
  'topicPermission.delete': { in: { vhost: string; user: string; exchange?: string }; out: Promise<void> };
  /**
   * Verification is local to the node that runs it (users are definitions every node has), so it may
   * carry how to hash (the server's hashing processes behind its throttle) and when to give up.
   */
  'user.verify': { in: { name: string; password: string; options: VerifyOptions }; out: Promise<boolean> };
  /** Whether the server applied its configured default user on an earlier start (src/server/users.ts). */
  'user.defaultApplied': { in: object; out: boolean };
  'user.markDefaultApplied': { in: object; out: Promise<void> };

  // ---- exchanges
  'exchange.declare': { in: { name: string; options: ExchangeOptions }; out: void };
  /**
   * Passive declare: notFound when absent. `publishing`: the check a publish makes before its body
   * arrives, which needs write permission rather than any permission.
   */
  'exchange.check': { in: { name: string; publishing?: boolean }; out: void };
  'exchange.delete': { in: { name: string; ifUnused: boolean }; out: void };
  'exchange.bind': { in: Binding; out: void };
  'exchange.unbind': { in: Binding; out: void };
  'exchange.list': { in: object; out: Array<{ name: string } & ExchangeOptions> };

  // ---- queues (an exclusive queue belongs to the caller's connection)
  /**
   * `serverNamed`: the client chose `name` (`amq.gen-…`) for a declare without one, so the name is
   * known before the command runs and its permission can be checked (RabbitMQ checks that name).
   */
  'queue.declare': { in: { name: string; options: QueueOptions; serverNamed?: boolean }; out: QueueInfo };
  'queue.check': { in: { name: string }; out: QueueInfo };
  /** Counts without touching the queue (no expiry reset, no exclusivity check): flow control. */
  'queue.peek': { in: { name: string }; out: QueueInfo | undefined };
  /** The queue's type, nothing counted or touched: an adapter's per-message question (AMQP basic.get). */
  'queue.type': { in: { name: string }; out: QueueType | undefined };
  'queue.delete': { in: { name: string; ifUnused: boolean; ifEmpty: boolean }; out: number };
  'queue.purge': { in: { name: string }; out: number };
  'queue.bind': { in: { queue: string; exchange: string; routingKey: string; args: Headers }; out: void };
  /**
   * Resolves once every definition written so far (declares, binds, deletes) is durable; rejects if
   * one of those writes failed. A declare applies at once and is written in the background, so an
   * adapter awaits this before it tells its client a durable object exists.
   */
  'definitions.durable': { in: object; out: Promise<void> };
  'queue.unbind': { in: { queue: string; exchange: string; routingKey: string; args: Headers }; out: void };
  'queue.list': { in: object; out: Array<QueueInfo & QueueOptions> };
  /**
   * The vhost's queue names only, in declaration order or `sorted` by UTF-16 code units; a listing
   * pages and filters on these, then asks `queue.rows` for the page. Frozen: shared between calls.
   */
  'queue.names': { in: { sorted: boolean }; out: readonly string[] };
  /** `queue.list`'s rows of the named queues, in that order; names of absent queues are left out. */
  'queue.rows': { in: { names: readonly string[] }; out: Array<QueueInfo & QueueOptions> };
  /**
   * Every queue's name, messages and consumers as parallel arrays in declaration order (no object per
   * queue, so 100,000 of them stay cheap): the key of a sort on messages or consumers.
   */
  'queue.depths': { in: object; out: QueueDepths };
  /** Messages published to, delivered from, redelivered and acked on a queue since it was declared. */
  'queue.counts': { in: { name: string }; out: MessageCounts | undefined };
  /**
   * The vhost's bindings: first the default exchange's implicit one of each queue (in declaration
   * order, as `queue.names` lists them; left out with `defaults: false`), then the others.
   */
  'binding.list': { in: { defaults?: boolean }; out: BindingRow[] };
  /**
   * Whether the caller may receive what `exchange` routes with `pattern`: asked by a front end that
   * serves a subscription from a queue of its own (KubeMQ events), as a binding of the caller's would be.
   */
  'subscription.check': { in: { exchange: string; pattern: string }; out: undefined };

  // ---- messages and deliveries (owners are local to the caller's connection: a channel, a session)
  'message.publish': {
    in: { exchange: string; routingKey: string; message: PublishInput; options: PublishOptions };
    out: PublishResult;
  };
  'queue.consume': { in: { queue: string; options: ConsumeOptions }; out: Consumer };
  'queue.get': { in: { queue: string; noAck: boolean; owner: string }; out: Delivery | undefined };
  /** Up to `countMax` ready messages, in one command however many (`CoreClient.take`). */
  'queue.take': {
    in: { queue: string; noAck: boolean; owner: string; countMax: number };
    out: Delivery[];
  };
  /** The waits of `CoreClient.take`: before the gets, returns being counted; after, the gets' counts. */
  'queue.returnsLanded': { in: { queue: string }; out: Promise<void> | undefined };
  'queue.countsWritten': { in: { queue: string }; out: Promise<void> | undefined };
  'delivery.ack': { in: { queue: string; id: number }; out: void };
  'delivery.nack': { in: { queue: string; id: number; requeue: boolean }; out: void };
  /** Back to the queue at the tail or in place, counted as a failure or not (`RequeueOptions`). */
  'delivery.requeue': { in: { queue: string; id: number } & RequeueOptions; out: void };
  /**
   * A visibility timeout: the delivery stays with its holder at most `timeoutMs` more, then returns at
   * the tail, counted. Resolves true if it returned that way, false if settled or held again first.
   */
  'delivery.hold': { in: { queue: string; id: number; timeoutMs: number }; out: Promise<boolean> };
  /** Cancels the owner's consumers and requeues what it holds (a channel closed, a session taken over). */
  'owner.release': { in: { owner: string }; out: void };
  /** The caller's connection went away: release its owners, delete its exclusive queues. */
  'connection.close': { in: object; out: void };

  // ---- request / reply (../requests.ts): a message routed with a reply address, answered by a
  // publish to the default exchange with that address as routing key, or by nobody within the timeout.
  'request.send': {
    in: {
      exchange: string;
      routingKey: string;
      message: PublishInput;
      options: PublishOptions;
      timeoutMs: number;
    };
    out: RequestResult;
  };

  // ---- streams and their partitions
  'stream.create': { in: { name: string } & StreamCreateOptions; out: Promise<StreamInfo> };
  /** Replaces the settings a front end keeps with the stream (`StreamInfo.attributes`). */
  'stream.setAttributes': {
    in: { name: string; attributes: Readonly<Record<string, string>> };
    out: Promise<StreamInfo>;
  };
  /** Replaces retention and attributes together (Kafka AlterConfigs). */
  'stream.configure': { in: { name: string; settings: StreamSettings }; out: Promise<StreamInfo> };
  'stream.delete': { in: { name: string }; out: Promise<void> };
  'stream.addPartitions': { in: { name: string; total: number }; out: Promise<StreamInfo> };
  'stream.describe': { in: { name: string }; out: StreamInfo | undefined };
  'stream.list': { in: object; out: StreamInfo[] };
  /** The name of the stream with this id (`StreamInfo.id`), if any: an index, not a scan of the list. */
  'stream.named': { in: { id: string }; out: string | undefined };
  'partition.bounds': {
    in: PartitionRef;
    out: { startOffset: number; endOffset: number; stableOffset: number; sizeBytes: number };
  };
  /** Readers no longer see what lies below `before` (Kafka DeleteRecords); answers the new start. */
  'partition.deleteRecords': { in: PartitionRef & { before: number }; out: Promise<number> };
  'partition.append': {
    in: PartitionRef & { payload: Uint8Array; options: StreamAppendOptions };
    out: AppendResult;
  };
  'partition.read': {
    in: PartitionRef & { offset: number; maxBytes?: number; maxEntries?: number; buffers?: ReadBuffers };
    out: LogEntry[];
  };
  /** `partition.read` with a large read's file work off the event loop (`Log.readOffThread`). */
  'partition.readOffThread': {
    in: PartitionRef & { offset: number; maxBytes?: number; maxEntries?: number; buffers?: ReadBuffers };
    out: Promise<LogEntry[]>;
  };
  'partition.offsetForTimestamp': { in: PartitionRef & { timestamp: number }; out: number };
  /**
   * Resolves when the partition grows past `offset` (with `committed`, when its stable offset does)
   * or after `timeoutMs` (Fetch long-poll).
   */
  'partition.wait': {
    in: PartitionRef & { offset: number; timeoutMs: number; committed?: boolean };
    out: Promise<void>;
  };
  /** Transactions aborted with data in [from, to) (Kafka Fetch's aborted list under read_committed). */
  'partition.aborted': { in: PartitionRef & { from: number; to: number }; out: AbortedTransaction[] };
  /** Producers that wrote to the partition lately, with any transaction they hold open there. */
  'partition.producers': { in: PartitionRef; out: PartitionProducer[] };

  // ---- consumer-group offsets
  'offsets.commit': { in: GroupRef & PartitionRef & { offset: GroupOffset }; out: Promise<void> };
  'offsets.fetch': { in: GroupRef & PartitionRef; out: GroupOffset | undefined };
  'offsets.list': {
    in: GroupRef;
    out: Array<{ stream: string; partition: number; offset: GroupOffset }>;
  };
  'offsets.deleteGroup': { in: GroupRef; out: Promise<void> };
  /** Some partitions' offsets of the group (Kafka OffsetDelete). */
  'offsets.delete': { in: GroupRef & { partitions: readonly PartitionName[] }; out: Promise<void> };
  /** Whether an open transaction will commit an offset of the group's partition (KIP-447). */
  'offsets.pending': { in: GroupRef & PartitionRef; out: boolean };

  // ---- consumer groups as objects: offsets (above) and the coordinator's membership record
  'group.list': { in: object; out: GroupSummary[] };
  'group.membership': { in: GroupRef; out: GroupMembership | undefined };
  /** Null removes the record; false: past core's bounds, so the stored record was removed instead. */
  'group.saveMembership': { in: GroupRef & { membership: GroupMembership | null }; out: Promise<boolean> };
  'group.delete': { in: GroupRef; out: Promise<void> };
  /** Share groups' durable state (KIP-932), kept with the group's offsets. */
  'group.shareStates': { in: object; out: ShareGroupState[] };
  'group.shareWrite': { in: GroupRef & { change: ShareStateChange }; out: Promise<void> };

  // ---- idempotent producers (Kafka KIP-98 / KIP-360)
  'producer.init': { in: { producerId: number; epoch: number }; out: Promise<ProducerInit> };
  /** Check a batch's sequence, append it and record the sequence, as one step. */
  'producer.append': {
    in: PartitionRef & { batch: ProducerBatch; payload: Uint8Array; options: StreamAppendOptions };
    out: IdempotentAppend;
  };

  // ---- transactional producers (Kafka KIP-98 / KIP-447): the coordinator's state, per vhost
  /** A producer id and epoch for the transactional id; a newer instance fences older ones. */
  'transaction.init': {
    in: { transactionalId: string; timeoutMs: number; producerId: number; epoch: number };
    out: Promise<TxnInit>;
  };
  'transaction.addPartitions': { in: TxnRef & { partitions: PartitionRef[] }; out: Promise<TxnResult> };
  'transaction.addGroup': { in: TxnRef & GroupRef; out: Promise<TxnResult> };
  /** Offsets the group gets when the transaction commits. */
  'transaction.commitOffsets': {
    in: TxnRef & GroupRef & { offsets: Array<PartitionRef & { offset: GroupOffset }>; addGroup?: boolean };
    out: Promise<TxnResult>;
  };
  /**
   * Commits or aborts: markers on every partition of the transaction, then its offsets; with
   * `bumpEpoch` (KIP-890 part 2) the id's next epoch, named in the answer.
   */
  'transaction.end': { in: TxnRef & { commit: boolean; bumpEpoch?: boolean }; out: Promise<TxnEnded> };
  'transaction.describe': { in: { transactionalId: string }; out: TxnSummary | undefined };
  'transaction.list': { in: object; out: TxnSummary[] };

  // ---- retained messages, one per routing key
  'retained.set': { in: { message: RetainedMessage }; out: Promise<void> };
  'retained.clear': { in: { key: string }; out: Promise<void> };
  /** Retained messages whose key the AMQP-form topic `pattern` matches; expired ones are left out. */
  'retained.match': { in: { pattern: string }; out: RetainedMessage[] };
  'retained.count': { in: object; out: number };

  // ---- sessions (a subscriber's lasting identity). A command naming an incarnation other than the
  // session's current one fails (invalidState): a handle never reaches a session that replaced its own.
  // What a handle keeps of the opened session: a whole summary's lists and queue name, built for
  // every connect, went unread.
  'session.open': {
    in: { id: string; durable: boolean; expiryMs?: number; clean?: boolean };
    out: Promise<SessionOpened>;
  };
  'session.describe': { in: { id: string }; out: SessionSummary | undefined };
  /** True while the incarnation is still the session of its id (the takeover check at CONNECT). */
  'session.current': { in: { id: string; incarnation: number }; out: boolean };
  'session.list': { in: object; out: SessionSummary[] };
  'session.subscribe': {
    in: { id: string; incarnation: number; exchange: string; pattern: string; options: Headers };
    out: Promise<void>;
  };
  'session.unsubscribe': {
    in: { id: string; incarnation: number; exchange: string; pattern: string };
    out: Promise<boolean>;
  };
  /** A subscription shared with the session's group (served by the adapter from the group's queue). */
  'session.groupSubscribe': {
    in: {
      id: string;
      incarnation: number;
      group: string;
      exchange: string;
      pattern: string;
      options: Headers;
    };
    out: Promise<void>;
  };
  'session.groupUnsubscribe': {
    in: { id: string; incarnation: number; group: string; exchange: string; pattern: string };
    out: Promise<boolean>;
  };
  'session.inflight': { in: { id: string; incarnation: number }; out: ReadonlyMap<number, number> };
  'session.holdsStored': {
    in: { id: string; incarnation: number; offset: number };
    out: boolean | undefined;
  };
  'session.setInflight': {
    in: { id: string; incarnation: number; packetId: number; deliveryId: number };
    out: Promise<void>;
  };
  'session.deleteInflight': { in: { id: string; incarnation: number; packetId: number }; out: Promise<void> };
  'session.connect': { in: { id: string; incarnation: number; expiryMs?: number }; out: Promise<void> };
  'session.disconnect': { in: { id: string; incarnation: number; expiryMs?: number }; out: Promise<void> };
  'session.destroy': { in: { id: string; incarnation: number }; out: Promise<void> };
}

export type CommandKind = keyof CommandSpecs;

/** A command of one kind (or, unparameterised, any command). */
export type Command<K extends CommandKind = CommandKind> = K extends CommandKind
  ? { readonly kind: K } & Readonly<CommandSpecs[K]['in']>
  : never;

export type CommandResult<K extends CommandKind> = CommandSpecs[K]['out'];

/** Commands that only read; a read-only principal (monitoring) may issue these and nothing else. */
export const queryKinds: ReadonlySet<CommandKind> = new Set<CommandKind>([
  'vhost.list',
  'vhost.open',
  'access.describe',
  'broker.stats',
  'vhost.counts',
  'user.list',
  'user.get',
  'user.tags',
  'user.scram',
  'permission.list',
  'topicPermission.list',
  'subscription.check',
  'user.defaultApplied',
  'exchange.check',
  'exchange.list',
  'queue.check',
  'queue.peek',
  'queue.type',
  'definitions.durable',
  'queue.list',
  'queue.names',
  'queue.rows',
  'queue.depths',
  'queue.counts',
  'binding.list',
  'stream.describe',
  'stream.list',
  'stream.named',
  'partition.bounds',
  'partition.offsetForTimestamp',
  'partition.aborted',
  'partition.producers',
  'offsets.fetch',
  'offsets.pending',
  'transaction.describe',
  'transaction.list',
  'offsets.list',
  'group.list',
  'group.membership',
  'group.shareStates',
  'retained.match',
  'retained.count',
  'session.describe',
  'session.current',
  'session.list',
  'session.inflight',
  'session.holdsStored',
  'queue.returnsLanded',
  'queue.countsWritten',
  ...policyQueryKinds,
  ...aclQueryKinds,
  ...operatorQueryKinds,
]);
