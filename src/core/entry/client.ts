/**
 * `CoreClient`: a typed façade over commands. Each method builds one command (./commands.ts) and
 * runs it with the caller's context, so adapters keep readable calls while core keeps one entry point.
 * Sessions and partitions come back as handles whose methods are commands too.
 */
import type { AppendResult, LogEntry } from '../../storage/types.js';
import type { AclRequester } from '../acl-index.js';
import {
  type AclAction,
  type AclBinding,
  type AclFilter,
  type AclOperation,
  type AclResourceType,
  anyAcl,
} from '../acls.js';
import type {
  AbortedTransaction,
  CoreClient,
  CoreSession,
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
  SessionGroupSubscription,
  SessionOpened,
  SessionSubscription,
  SessionSummary,
  ShareGroupState,
  ShareStateChange,
  StreamAppendOptions,
  StreamCreateOptions,
  StreamInfo,
  StreamPartition,
  StreamReadOptions,
  StreamSettings,
  TxnEnded,
  TxnInit,
  TxnInstance,
  TxnResult,
  TxnSummary,
  VerifyOptions,
  VhostCounts,
} from '../api.js';
import type { Policy, PolicyFamily, PolicyInput } from '../policy/definition.js';
import type { UserLimits, VhostLimits } from '../policy/limits.js';
import type { ScramCredential, ScramCredentials, ScramMechanism } from '../scram.js';
import { sessionQueueName } from '../sessions.js';
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
import { serverQueueName } from '../vhost/checks.js';
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
} from '../views.js';
import type { Command, CommandKind, CommandResult } from './commands.js';
import { type CallerContext, inVhost } from './context.js';
import type { AppliedPolicy } from './policy-commands.js';

/** What runs commands: `BrokerCore`. */
export interface CommandRunner {
  execute<K extends CommandKind>(context: CallerContext, command: Command<K>): CommandResult<K>;
}

const noArgs = {} as const;

export class Client implements CoreClient {
  readonly context: CallerContext;
  readonly #runner: CommandRunner;
  /** `closeConnection` was called: a `take` still waiting takes nothing for a caller that is gone. */
  #closed = false;

  constructor(runner: CommandRunner, context: CallerContext) {
    this.#runner = runner;
    this.context = context;
  }

  get vhost(): string {
    return this.context.vhost;
  }

  inVhost(vhost: string): CoreClient {
    return vhost === this.context.vhost ? this : new Client(this.#runner, inVhost(this.context, vhost));
  }

  run<K extends CommandKind>(command: Command<K>): CommandResult<K> {
    return this.#runner.execute(this.context, command);
  }

  // ---- exchanges

  declareExchange(name: string, options: ExchangeOptions): void {
    this.run({ kind: 'exchange.declare', name, options });
  }

  checkExchange(name: string, options: { publishing?: boolean } = {}): void {
    this.run({ kind: 'exchange.check', name, publishing: options.publishing === true });
  }

  deleteExchange(name: string, options: { ifUnused?: boolean } = {}): void {
    this.run({ kind: 'exchange.delete', name, ifUnused: options.ifUnused === true });
  }

  bindExchange(destination: string, source: string, routingKey: string, args: Headers = {}): void {
    this.run({ kind: 'exchange.bind', destination, source, routingKey, args });
  }

  unbindExchange(destination: string, source: string, routingKey: string, args: Headers = {}): void {
    this.run({ kind: 'exchange.unbind', destination, source, routingKey, args });
  }

  // ---- queues

  declareQueue(name: string, options: QueueOptions): QueueInfo {
    // The server's name is chosen here, so the command names the queue its permission is checked on.
    if (name === '')
      return this.run({ kind: 'queue.declare', name: serverQueueName(), options, serverNamed: true });
    return this.run({ kind: 'queue.declare', name, options });
  }

  checkQueue(name: string): QueueInfo {
    return this.run({ kind: 'queue.check', name });
  }

  peekQueue(name: string): QueueInfo | undefined {
    return this.run({ kind: 'queue.peek', name });
  }

  queueType(name: string): QueueType | undefined {
    return this.run({ kind: 'queue.type', name });
  }

  deleteQueue(name: string, options: { ifUnused?: boolean; ifEmpty?: boolean } = {}): number {
    const { ifUnused = false, ifEmpty = false } = options;
    return this.run({ kind: 'queue.delete', name, ifUnused, ifEmpty });
  }

  purgeQueue(name: string): number {
    return this.run({ kind: 'queue.purge', name });
  }

  bindQueue(queue: string, exchange: string, routingKey: string, args: Headers = {}): void {
    this.run({ kind: 'queue.bind', queue, exchange, routingKey, args });
  }

  definitionsDurable(): Promise<void> {
    return this.run({ kind: 'definitions.durable', ...noArgs });
  }

  unbindQueue(queue: string, exchange: string, routingKey: string, args: Headers = {}): void {
    this.run({ kind: 'queue.unbind', queue, exchange, routingKey, args });
  }

  // ---- messages

  publish(
    exchange: string,
    routingKey: string,
    message: PublishInput,
    options: PublishOptions = {},
  ): PublishResult {
    return this.run({ kind: 'message.publish', exchange, routingKey, message, options });
  }

  consume(queue: string, options: ConsumeOptions): Consumer {
    return this.run({ kind: 'queue.consume', queue, options });
  }

  get(queue: string, options: { noAck: boolean; owner: string }): Delivery | undefined {
    return this.run({ kind: 'queue.get', queue, noAck: options.noAck, owner: options.owner });
  }

  take(
    queue: string,
    options: { noAck: boolean; owner: string },
    countMax = 1,
  ): Delivery[] | Promise<Delivery[]> {
    const landing = this.run({ kind: 'queue.returnsLanded', queue });
    if (landing === undefined) return this.#takeNow(queue, options, countMax);
    // Its connection closed during the wait and released what it held: a message taken now would be
    // held by an owner nobody releases, out of every consumer's reach until a restart.
    return landing.then(() => (this.#closed ? [] : this.#takeNow(queue, options, countMax)));
  }

  /** The take itself, then (acking gets of a quorum queue) the wait for their counts. */
  #takeNow(
    queue: string,
    options: { noAck: boolean; owner: string },
    countMax: number,
  ): Delivery[] | Promise<Delivery[]> {
    const { noAck, owner } = options;
    const taken = this.run({ kind: 'queue.take', queue, noAck, owner, countMax });
    if (taken.length === 0 || noAck) return taken;
    const counted = this.run({ kind: 'queue.countsWritten', queue });
    if (counted === undefined) return taken;
    // A failed write failed the queue, which restarts from its logs with these messages in it.
    return counted.then(
      () => taken,
      () => [],
    );
  }

  ack(queue: string, id: number): void {
    this.run({ kind: 'delivery.ack', queue, id });
  }

  nack(queue: string, id: number, requeue: boolean): void {
    this.run({ kind: 'delivery.nack', queue, id, requeue });
  }

  requeue(queue: string, id: number, options: RequeueOptions): void {
    this.run({ kind: 'delivery.requeue', queue, id, atTail: options.atTail, counted: options.counted });
  }

  hold(queue: string, id: number, timeoutMs: number): Promise<boolean> {
    return this.run({ kind: 'delivery.hold', queue, id, timeoutMs });
  }

  request(
    exchange: string,
    routingKey: string,
    message: PublishInput,
    options: { timeoutMs: number } & PublishOptions,
  ): RequestResult {
    const { timeoutMs, ...publish } = options;
    return this.run({ kind: 'request.send', exchange, routingKey, message, options: publish, timeoutMs });
  }

  releaseOwner(owner: string): void {
    this.run({ kind: 'owner.release', owner });
  }

  closeConnection(): void {
    this.#closed = true;
    this.run({ kind: 'connection.close' });
  }

  // ---- streams

  createStream(name: string, options: StreamCreateOptions): Promise<StreamInfo> {
    return this.run({ kind: 'stream.create', name, ...options });
  }

  setStreamAttributes(name: string, attributes: Readonly<Record<string, string>>): Promise<StreamInfo> {
    return this.run({ kind: 'stream.setAttributes', name, attributes });
  }

  configureStream(name: string, settings: StreamSettings): Promise<StreamInfo> {
    return this.run({ kind: 'stream.configure', name, settings });
  }

  deleteRecords(stream: string, partition: number, before: number): Promise<number> {
    return this.run({ kind: 'partition.deleteRecords', stream, partition, before });
  }

  deleteStream(name: string): Promise<void> {
    return this.run({ kind: 'stream.delete', name });
  }

  addPartitions(name: string, total: number): Promise<StreamInfo> {
    return this.run({ kind: 'stream.addPartitions', name, total });
  }

  stream(name: string): StreamInfo | undefined {
    return this.run({ kind: 'stream.describe', name });
  }

  streams(): StreamInfo[] {
    return this.run({ kind: 'stream.list', ...noArgs });
  }

  streamNameOf(id: string): string | undefined {
    return this.run({ kind: 'stream.named', id });
  }

  partition(stream: string, index: number): StreamPartition {
    // Asking for its bounds checks that it exists, so a bad index fails here, as before.
    this.run({ kind: 'partition.bounds', stream, partition: index });
    return new PartitionHandle(this, stream, index);
  }

  commitOffset(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void> {
    return this.run({ kind: 'offsets.commit', group, stream, partition, offset });
  }

  fetchOffset(group: string, stream: string, partition: number): GroupOffset | undefined {
    return this.run({ kind: 'offsets.fetch', group, stream, partition });
  }

  groupOffsets(group: string): Array<{ stream: string; partition: number; offset: GroupOffset }> {
    return this.run({ kind: 'offsets.list', group });
  }

  deleteGroupOffsets(group: string): Promise<void> {
    return this.run({ kind: 'offsets.deleteGroup', group });
  }

  deletePartitionOffsets(group: string, partitions: readonly PartitionName[]): Promise<void> {
    return this.run({ kind: 'offsets.delete', group, partitions });
  }

  listGroups(): GroupSummary[] {
    return this.run({ kind: 'group.list', ...noArgs });
  }

  groupMembership(group: string): GroupMembership | undefined {
    return this.run({ kind: 'group.membership', group });
  }

  saveGroupMembership(group: string, membership: GroupMembership | null): Promise<boolean> {
    return this.run({ kind: 'group.saveMembership', group, membership });
  }

  deleteGroup(group: string): Promise<void> {
    return this.run({ kind: 'group.delete', group });
  }

  shareGroupStates(): ShareGroupState[] {
    return this.run({ kind: 'group.shareStates', ...noArgs });
  }

  writeShareState(group: string, change: ShareStateChange): Promise<void> {
    return this.run({ kind: 'group.shareWrite', group, change });
  }

  // ---- idempotent producers

  initProducer(producerId: number, epoch: number): Promise<ProducerInit> {
    return this.run({ kind: 'producer.init', producerId, epoch });
  }

  appendIdempotent(
    stream: string,
    partition: number,
    batch: ProducerBatch,
    payload: Uint8Array,
    options: StreamAppendOptions,
  ): IdempotentAppend {
    return this.run({ kind: 'producer.append', stream, partition, batch, payload, options });
  }

  offsetPending(group: string, stream: string, partition: number): boolean {
    return this.run({ kind: 'offsets.pending', group, stream, partition });
  }

  partitionProducers(stream: string, partition: number): PartitionProducer[] {
    return this.run({ kind: 'partition.producers', stream, partition });
  }

  // ---- transactional producers

  initTransactional(
    transactionalId: string,
    timeoutMs: number,
    producerId: number,
    epoch: number,
  ): Promise<TxnInit> {
    return this.run({ kind: 'transaction.init', transactionalId, timeoutMs, producerId, epoch });
  }

  addToTransaction(
    txn: TxnInstance,
    partitions: Array<{ stream: string; partition: number }>,
  ): Promise<TxnResult> {
    return this.run({ kind: 'transaction.addPartitions', ...txnRef(txn), partitions });
  }

  addGroupToTransaction(txn: TxnInstance, group: string): Promise<TxnResult> {
    return this.run({ kind: 'transaction.addGroup', ...txnRef(txn), group });
  }

  commitTransactionOffsets(
    txn: TxnInstance,
    group: string,
    offsets: Array<{ stream: string; partition: number; offset: GroupOffset }>,
    addGroup = false,
  ): Promise<TxnResult> {
    return this.run({ kind: 'transaction.commitOffsets', ...txnRef(txn), group, offsets, addGroup });
  }

  endTransaction(txn: TxnInstance, commit: boolean, bumpEpoch = false): Promise<TxnEnded> {
    return this.run({ kind: 'transaction.end', ...txnRef(txn), commit, bumpEpoch });
  }

  describeTransaction(transactionalId: string): TxnSummary | undefined {
    return this.run({ kind: 'transaction.describe', transactionalId });
  }

  listTransactions(): TxnSummary[] {
    return this.run({ kind: 'transaction.list', ...noArgs });
  }

  // ---- retained messages

  setRetained(message: RetainedMessage): Promise<void> {
    return this.run({ kind: 'retained.set', message });
  }

  clearRetained(key: string): Promise<void> {
    return this.run({ kind: 'retained.clear', key });
  }

  matchRetained(pattern: string): RetainedMessage[] {
    return this.run({ kind: 'retained.match', pattern });
  }

  retainedCount(): number {
    return this.run({ kind: 'retained.count', ...noArgs });
  }

  // ---- listings

  listExchanges(): Array<{ name: string } & ExchangeOptions> {
    return this.run({ kind: 'exchange.list', ...noArgs });
  }

  listQueues(): Array<QueueInfo & QueueOptions> {
    return this.run({ kind: 'queue.list', ...noArgs });
  }

  queueNames(sorted = false): readonly string[] {
    return this.run({ kind: 'queue.names', sorted });
  }

  queueRows(names: readonly string[]): Array<QueueInfo & QueueOptions> {
    return this.run({ kind: 'queue.rows', names });
  }

  queueDepths(): QueueDepths {
    return this.run({ kind: 'queue.depths', ...noArgs });
  }

  queueCounts(name: string): MessageCounts | undefined {
    return this.run({ kind: 'queue.counts', name });
  }

  listBindings(options: { defaults?: boolean } = {}): BindingRow[] {
    return this.run({ kind: 'binding.list', ...options });
  }

  checkSubscription(exchange: string, pattern: string): void {
    this.run({ kind: 'subscription.check', exchange, pattern });
  }

  // ---- sessions

  async openSession(
    id: string,
    options: { durable: boolean; expiryMs?: number; clean?: boolean },
  ): Promise<CoreSession> {
    const opened = await this.run({ kind: 'session.open', id, ...options });
    return new SessionHandle(this, opened, opened.present);
  }

  session(id: string): CoreSession | undefined {
    const summary = this.run({ kind: 'session.describe', id });
    return summary === undefined ? undefined : new SessionHandle(this, summary, true);
  }

  listSessions(): SessionSummary[] {
    return this.run({ kind: 'session.list', ...noArgs });
  }

  // ---- broker-wide

  vhostNames(): string[] {
    return this.run({ kind: 'vhost.list', ...noArgs });
  }

  addVhost(name: string): Promise<void> {
    return this.run({ kind: 'vhost.add', name });
  }

  deleteVhost(name: string): Promise<void> {
    return this.run({ kind: 'vhost.delete', name });
  }

  checkVhostAccess(): void {
    this.run({ kind: 'vhost.open', ...noArgs });
  }

  describeAccess(): AccessView {
    return this.run({ kind: 'access.describe', ...noArgs });
  }

  stats(): CoreStats {
    return this.run({ kind: 'broker.stats', ...noArgs });
  }

  vhostCounts(): VhostCounts {
    return this.run({ kind: 'vhost.counts', ...noArgs });
  }

  userNames(): string[] {
    return this.listUsers().map((user) => user.name);
  }

  userTags(name: string): string[] | undefined {
    return this.run({ kind: 'user.tags', name });
  }

  listUsers(): UserView[] {
    return this.run({ kind: 'user.list', ...noArgs });
  }

  getUser(name: string): UserView | undefined {
    return this.run({ kind: 'user.get', name });
  }

  putUser(name: string, credential: string | UserCredential, tags: readonly string[] = []): Promise<void> {
    const given = typeof credential === 'string' ? { password: credential } : credential;
    return this.run({ kind: 'user.put', name, credential: given, tags });
  }

  deleteUser(name: string): Promise<void> {
    return this.run({ kind: 'user.delete', name });
  }

  scramCredentials(name: string): ScramCredentials | undefined {
    return this.run({ kind: 'user.scram', name });
  }

  setScramCredential(
    name: string,
    mechanism: ScramMechanism,
    credential: ScramCredential | null,
  ): Promise<void> {
    return this.run({ kind: 'user.setScram', name, mechanism, credential });
  }

  verifyUser(name: string, password: string, options: VerifyOptions = {}): Promise<boolean> {
    return this.run({ kind: 'user.verify', name, password, options });
  }

  listPermissions(filter: PermissionFilter = {}): PermissionRow[] {
    return this.run({ kind: 'permission.list', ...filter });
  }

  setPermission(vhost: string, user: string, permission: StoredPermission): Promise<void> {
    return this.run({ kind: 'permission.put', vhost, user, permission });
  }

  clearPermission(vhost: string, user: string): Promise<void> {
    return this.run({ kind: 'permission.delete', vhost, user });
  }

  listTopicPermissions(filter: PermissionFilter = {}): TopicPermissionRow[] {
    return this.run({ kind: 'topicPermission.list', ...filter });
  }

  setTopicPermission(
    vhost: string,
    user: string,
    exchange: string,
    permission: StoredTopicPermission,
  ): Promise<void> {
    return this.run({ kind: 'topicPermission.put', vhost, user, exchange, permission });
  }

  clearTopicPermission(vhost: string, user: string, exchange?: string): Promise<void> {
    return this.run({
      kind: 'topicPermission.delete',
      vhost,
      user,
      ...(exchange === undefined ? {} : { exchange }),
    });
  }

  defaultUserApplied(): boolean {
    return this.run({ kind: 'user.defaultApplied', ...noArgs });
  }

  markDefaultUserApplied(): Promise<void> {
    return this.run({ kind: 'user.markDefaultApplied', ...noArgs });
  }

  // ---- Kafka's ACL bindings (./acl-commands.ts)

  listAcls(filter: AclFilter = anyAcl): AclBinding[] {
    return this.run({ kind: 'acl.list', filter });
  }

  createAcls(bindings: readonly AclBinding[]): Promise<void> {
    return this.run({ kind: 'acl.create', bindings });
  }

  deleteAcls(filters: readonly AclFilter[]): Promise<AclBinding[][]> {
    return this.run({ kind: 'acl.delete', filters });
  }

  authorizeAcl(who: AclRequester, action: AclAction): boolean {
    return this.run({ kind: 'acl.authorize', who, action });
  }

  authorizeAclSome(
    who: AclRequester,
    resourceType: AclResourceType,
    operation: Exclude<AclOperation, 'ALL'>,
  ): boolean {
    return this.run({ kind: 'acl.authorizeSome', who, resourceType, operation });
  }

  // ---- policies and limits (./policy-commands.ts)

  listPolicies(family: PolicyFamily): Policy[] {
    return this.run({ kind: 'policy.list', family });
  }

  putPolicy(family: PolicyFamily, name: string, input: PolicyInput): Promise<Policy> {
    return this.run({ kind: 'policy.put', family, name, input });
  }

  deletePolicy(family: PolicyFamily, name: string): Promise<boolean> {
    return this.run({ kind: 'policy.delete', family, name });
  }

  appliedPolicies(objects: 'queues' | 'exchanges', names?: readonly string[]): AppliedPolicy[] {
    return this.run({ kind: 'policy.applied', objects, ...(names === undefined ? {} : { names }) });
  }

  vhostLimits(): VhostLimits {
    return this.run({ kind: 'limits.vhost', ...noArgs });
  }

  setVhostLimit(name: string, value: unknown): Promise<void> {
    return this.run({ kind: 'limits.setVhost', name, value });
  }

  clearVhostLimit(name: string): Promise<boolean> {
    return this.run({ kind: 'limits.clearVhost', name });
  }

  userLimits(): Array<{ user: string; limits: UserLimits }> {
    return this.run({ kind: 'limits.users', ...noArgs });
  }

  setUserLimit(user: string, name: string, value: unknown): Promise<void> {
    return this.run({ kind: 'limits.setUser', user, name, value });
  }

  clearUserLimit(user: string, name: string): Promise<boolean> {
    return this.run({ kind: 'limits.clearUser', user, name });
  }

  openConnection(description?: ConnectionDescription): void {
    this.run({ kind: 'connection.open', ...(description === undefined ? {} : { description }) });
  }

  // ---- operators

  listConnections(): LiveConnection[] {
    return this.run({ kind: 'connection.list', ...noArgs });
  }

  killConnection(name: string, reason: string): boolean {
    return this.run({ kind: 'connection.kill', name, reason });
  }

  listConsumers(): ConsumerRow[] {
    return this.run({ kind: 'consumer.list', ...noArgs });
  }

  readMeters(objects: MeteredKind | 'total', names?: readonly string[]): MeterRow[] {
    return this.run({ kind: 'meters.read', objects, ...(names === undefined ? {} : { names }) });
  }

  meterSamples(): readonly TotalSample[] {
    return this.run({ kind: 'meters.samples', ...noArgs });
  }

  countConfirms(count: number, channel?: number): void {
    this.run({ kind: 'meters.confirm', count, ...(channel === undefined ? {} : { channel }) });
  }

  openChannel(): void {
    this.run({ kind: 'channel.open', ...noArgs });
  }

  closeChannel(): void {
    this.run({ kind: 'channel.close', ...noArgs });
  }
}

/** Only the fields a transaction command carries, whatever else the caller's object holds. */
function txnRef(txn: TxnInstance): TxnInstance {
  return { transactionalId: txn.transactionalId, producerId: txn.producerId, epoch: txn.epoch };
}

/**
 * A stream partition addressed through commands. Each command names the partition in its own fields:
 * a shared reference spread into it cost every call (a Produce makes four) an object more.
 */
class PartitionHandle implements StreamPartition {
  readonly stream: string;
  readonly index: number;
  readonly #client: Client;

  constructor(client: Client, stream: string, index: number) {
    this.#client = client;
    this.stream = stream;
    this.index = index;
  }

  get startOffset(): number {
    return this.#bounds().startOffset;
  }

  get endOffset(): number {
    return this.#bounds().endOffset;
  }

  get stableOffset(): number {
    return this.#bounds().stableOffset;
  }

  get sizeBytes(): number {
    return this.#bounds().sizeBytes;
  }

  append(payload: Uint8Array, options: StreamAppendOptions): AppendResult {
    return this.#client.run({
      kind: 'partition.append',
      stream: this.stream,
      partition: this.index,
      payload,
      options,
    });
  }

  read(offset: number, options: StreamReadOptions = {}): LogEntry[] {
    return this.#client.run({
      kind: 'partition.read',
      stream: this.stream,
      partition: this.index,
      offset,
      ...options,
    });
  }

  readOffThread(offset: number, options: StreamReadOptions = {}): Promise<LogEntry[]> {
    return this.#client.run({
      kind: 'partition.readOffThread',
      stream: this.stream,
      partition: this.index,
      offset,
      ...options,
    });
  }

  offsetForTimestamp(timestamp: number): number {
    return this.#client.run({
      kind: 'partition.offsetForTimestamp',
      stream: this.stream,
      partition: this.index,
      timestamp,
    });
  }

  waitFor(offset: number, timeoutMs: number, committed = false): Promise<void> {
    return this.#client.run({
      kind: 'partition.wait',
      stream: this.stream,
      partition: this.index,
      offset,
      timeoutMs,
      committed,
    });
  }

  abortedBetween(from: number, to: number): AbortedTransaction[] {
    return this.#client.run({
      kind: 'partition.aborted',
      stream: this.stream,
      partition: this.index,
      from,
      to,
    });
  }

  #bounds(): { startOffset: number; endOffset: number; stableOffset: number; sizeBytes: number } {
    return this.#client.run({ kind: 'partition.bounds', stream: this.stream, partition: this.index });
  }
}

/**
 * A session addressed by id through commands; its state is read afresh on every access. Four fields
 * (an MQTT connection holds one for its life): the queue's name is worked out when asked.
 */
class SessionHandle implements CoreSession {
  readonly id: string;
  readonly incarnation: number;
  /** `present` and `durable` as bits (1, 2). */
  readonly #flags: number;
  readonly #client: Client;

  constructor(client: Client, summary: Omit<SessionOpened, 'present'>, present: boolean) {
    this.#client = client;
    this.id = summary.id;
    this.incarnation = summary.incarnation;
    this.#flags = (present ? 1 : 0) | (summary.durable ? 2 : 0);
  }

  get queue(): string {
    return sessionQueueName(this.id);
  }

  get present(): boolean {
    return (this.#flags & 1) !== 0;
  }

  get durable(): boolean {
    return (this.#flags & 2) !== 0;
  }

  get expiryMs(): number | undefined {
    return this.summary()?.expiryMs;
  }

  get connected(): boolean {
    return this.summary()?.connected ?? false;
  }

  get current(): boolean {
    return this.#client.run({ kind: 'session.current', id: this.id, incarnation: this.incarnation });
  }

  get hasQueue(): boolean {
    return this.summary()?.hasQueue ?? false;
  }

  subscriptions(): SessionSubscription[] {
    return this.summary()?.subscriptions ?? [];
  }

  subscribe(exchange: string, pattern: string, options: Headers = {}): Promise<void> {
    return this.#client.run({ kind: 'session.subscribe', ...this.ref(), exchange, pattern, options });
  }

  unsubscribe(exchange: string, pattern: string): Promise<boolean> {
    return this.#client.run({ kind: 'session.unsubscribe', ...this.ref(), exchange, pattern });
  }

  groupSubscriptions(): SessionGroupSubscription[] {
    return this.summary()?.groupSubscriptions ?? [];
  }

  groupSubscribe(group: string, exchange: string, pattern: string, options: Headers = {}): Promise<void> {
    const command = { ...this.ref(), group, exchange, pattern, options };
    return this.#client.run({ kind: 'session.groupSubscribe', ...command });
  }

  groupUnsubscribe(group: string, exchange: string, pattern: string): Promise<boolean> {
    return this.#client.run({ kind: 'session.groupUnsubscribe', ...this.ref(), group, exchange, pattern });
  }

  inflight(): ReadonlyMap<number, number> {
    return this.#client.run({ kind: 'session.inflight', ...this.ref() });
  }

  holdsStored(offset: number): boolean | undefined {
    return this.#client.run({ kind: 'session.holdsStored', ...this.ref(), offset });
  }

  setInflight(packetId: number, deliveryId: number): Promise<void> {
    const { id, incarnation } = this;
    return this.#client.run({ kind: 'session.setInflight', id, incarnation, packetId, deliveryId });
  }

  deleteInflight(packetId: number): Promise<void> {
    const { id, incarnation } = this;
    return this.#client.run({ kind: 'session.deleteInflight', id, incarnation, packetId });
  }

  connect(expiryMs?: number): Promise<void> {
    const command = { ...this.ref(), ...(expiryMs === undefined ? {} : { expiryMs }) };
    return this.#client.run({ kind: 'session.connect', ...command });
  }

  disconnect(expiryMs?: number): Promise<void> {
    const command = { ...this.ref(), ...(expiryMs === undefined ? {} : { expiryMs }) };
    return this.#client.run({ kind: 'session.disconnect', ...command });
  }

  destroy(): Promise<void> {
    return this.#client.run({ kind: 'session.destroy', ...this.ref() });
  }

  private ref(): { id: string; incarnation: number } {
    return { id: this.id, incarnation: this.incarnation };
  }

  /** Undefined once this incarnation is gone (destroyed, expired or replaced). */
  private summary(): SessionSummary | undefined {
    const summary = this.#client.run({ kind: 'session.describe', id: this.id });
    return summary?.incarnation === this.incarnation ? summary : undefined;
  }
}
