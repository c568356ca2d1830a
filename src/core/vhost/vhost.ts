/**
 * One virtual host: its queues, consumers and streams, with exchanges and bindings in
 * ./vhost-exchanges.ts. Declares answer at once; queue engines open in the background
 * (./vhost-queue.ts) and take the calls made meanwhile in order.
 *
 * Owners (the holders of unacked deliveries) are named `<connectionId>/<channel or session>`; see
 * README.md. `closeConnection(id)` releases every owner under `id/` and deletes `id`'s exclusive queues.
 */

import { assert } from '../../shared/assert.js';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { Storage } from '../../storage/types.js';
import type {
  Clock,
  CoreLimits,
  DeleteQueueOptions,
  GroupOffset,
  IdempotentAppend,
  PartitionName,
  ProducerBatch,
  ProducerRefusal,
  PublishInput,
  QueueDepths,
  StreamAppendOptions,
  StreamCreateOptions,
  StreamInfo,
  StreamPartition,
  StreamSettings,
  TxnRefusal,
  VhostCounts,
} from '../api.js';
import type { Definitions } from '../definitions.js';
import type { Meters } from '../entry/meters.js';
import type { Supervisor } from '../exec/supervisor.js';
import type { ConsumerGroups } from '../groups.js';
import type { QueueFactory, StreamRegistry, VirtualHost } from '../internal.js';
import { type AppliedPolicy, queueTarget } from '../policy/effective.js';
import { reached, vhostQueuesRefused } from '../policy/limits.js';
import type { ProducerRegistry } from '../producers.js';
import type { BodyCache } from '../queues/body-cache.js';
import { isQuorumQueue, validateQueueOptions } from '../queues/options.js';
import type { TransactionalProducers } from '../transactions.js';
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
} from '../types.js';
import type { ConsumerRow, QueueLengths } from '../views.js';
import { checkName, checkQueueEquivalent, refuseReserved, serverQueueName } from './checks.js';
import { type DeferredQueue, refusedError } from './deferred-queue.js';
import { Exchanges } from './exchanges.js';
import { LatestWins } from './latest-wins.js';
import { VhostPolicies } from './policies.js';
import { type QueueState, QueueTable, queueFailedError } from './queue-table.js';

export interface VhostDeps {
  readonly name: string;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly limits: CoreLimits;
  readonly definitions: Definitions;
  readonly createQueue: QueueFactory;
  readonly streams: StreamRegistry;
  /** Consumer groups: committed offsets (checked against the streams here) and membership records. */
  readonly groups: ConsumerGroups;
  readonly producers: ProducerRegistry;
  /** Transactional producers: a transactional batch is appended only inside its open transaction. */
  readonly transactions: TransactionalProducers;
  /** The broker's message counters; the vhost counts deliveries, which no command triggers. */
  readonly meters: Meters;
  readonly supervisor: Supervisor;
  /** The broker's one budget for bodies kept in memory by durable queues. */
  readonly bodies: BodyCache;
}

interface OwnerState {
  readonly queues: Set<string>;
  /** Each consumer and what the admin API lists of it. */
  readonly consumers: Map<Consumer, ConsumerRow>;
}

const settled: Promise<void> = Promise.resolve();
const ignore = (): void => {};

/** A message's durability and its queue's: confirmed once both are stored. */
function withDefinition(message: Promise<void>, definition: Promise<void>): Promise<void> {
  return Promise.all([message, definition]).then(ignore);
}

/**
 * A transactional batch whose own add to its transaction was refused (KIP-890 part 2), as producers
 * hear of it: fenced is a stale epoch (Kafka's INVALID_PRODUCER_EPOCH on Produce), anything else a
 * transaction it cannot be part of.
 */
function implicitRefusal(reason: TxnRefusal): ProducerRefusal {
  return reason === 'fenced' ? 'staleEpoch' : 'notInTransaction';
}

/** A transactional batch its transaction does not hold: a fenced epoch, or a partition never added. */
function transactionRefusal(transactions: TransactionalProducers, batch: ProducerBatch): ProducerRefusal {
  return transactions.fenced(batch.producerId, batch.epoch) ? 'staleEpoch' : 'notInTransaction';
}

/** The consumer's `offer`, counting what it takes as delivered; nothing when it has none. */
function offerCounted(options: ConsumeOptions, count: () => void): Pick<ConsumeOptions, 'offer'> {
  const offer = options.offer;
  if (offer === undefined) return {};
  return {
    offer: (message) => {
      const taken = offer(message);
      if (taken) count();
      return taken;
    },
  };
}

/** True when `owner` is the connection itself or one of its channels / sessions. */
export function ownedBy(owner: string, connectionId: string): boolean {
  return owner === connectionId || owner.startsWith(`${connectionId}/`);
}

/** Every connection id `owner` is `ownedBy`: itself and each prefix that ends before a `/`. */
function connectionsOf(owner: string): string[] {
  const ids = [owner];
  for (let slash = owner.indexOf('/'); slash !== -1; slash = owner.indexOf('/', slash + 1))
    ids.push(owner.slice(0, slash));
  return ids;
}

export class Vhost implements VirtualHost {
  readonly name: string;
  readonly #deps: VhostDeps;
  readonly #exchanges: Exchanges;
  readonly #queues: QueueTable;
  /** Group offset commits, so the last one issued for a partition is the one stored. */
  readonly #commits = new LatestWins();
  /**
   * Messages ready and unacknowledged in the vhost's classic queues, kept by the queues as messages
   * come and go: the rate sampler reads them every 5 s without a walk of the queues.
   */
  readonly lengths: QueueLengths = { ready: 0, unacked: 0 };
  readonly #owners = new Map<string, OwnerState>();
  /**
   * Owners by every connection id they count as owned by (`ownedBy`): the owner itself and each prefix
   * of it that ends before a `/`. A connection's close releases its own without a scan of every owner,
   * which made closing n connections cost n².
   */
  readonly #ownersByConnection = new Map<string, Set<string>>();
  readonly #policies: VhostPolicies;
  /** The confirm promise last given a rejection handler (`#enqueueAll`). */
  #lastHandled: Promise<void> | undefined;

  private constructor(deps: VhostDeps) {
    this.name = deps.name;
    this.#deps = deps;
    this.#policies = new VhostPolicies(deps.name, deps.definitions.policies);
    this.#queues = new QueueTable({
      vhost: deps.name,
      storage: deps.storage,
      limits: deps.limits,
      supervisor: deps.supervisor,
      bodies: deps.bodies,
      createQueue: deps.createQueue,
      streams: deps.streams,
      lengths: this.lengths,
      deadLetter: (message, exchange, routingKey) => this.#deadLetter(message, exchange, routingKey),
      removeRequested: (state) => this.#removeQueue(state),
      effective: (name, declared) => this.#policies.queueOptions(name, declared),
    });
    this.#exchanges = new Exchanges({
      vhost: deps.name,
      limits: deps.limits,
      definitions: deps.definitions,
      hasQueue: (queue) => this.#queues.has(queue),
      isStoredQueue: (queue) => this.#queues.get(queue)?.persisted ?? false,
      policyAlternate: (exchange) => this.#policies.alternateExchange(exchange),
    });
  }

  /** Builds the vhost and restores its definitions: exchanges and bindings first, then queues. */
  static async open(deps: VhostDeps): Promise<Vhost> {
    const vhost = new Vhost(deps);
    const defs = deps.definitions.load(deps.name);
    vhost.#exchanges.restore(defs);
    const states = [...defs.queues].map(([name, options]) => vhost.#queues.add(name, options));
    for (const state of states) await state.engine.ready;
    vhost.#applyStreamPolicies();
    return vhost;
  }

  applyPolicies(): void {
    for (const state of this.#queues.values()) {
      if (state.options.kind === 'stream') continue;
      state.engine.reconfigure(this.#policies.queueOptions(state.name, state.options));
    }
    this.#applyStreamPolicies();
  }

  #applyStreamPolicies(): void {
    const streams = this.#deps.streams;
    for (const info of streams.list()) {
      streams.setPolicyRetention?.(info.name, this.#policies.streamRetention(info.name));
    }
  }

  // ---- exchanges ----

  declareExchange(name: string, options: ExchangeOptions): void {
    this.#exchanges.declare(name, options);
  }

  checkExchange(name: string): void {
    this.#exchanges.get(name);
  }

  exchangeType(name: string): ExchangeType | undefined {
    return this.#exchanges.find(name)?.options.type;
  }

  deleteExchange(name: string, options: { ifUnused?: boolean } = {}): void {
    this.#exchanges.delete(name, options.ifUnused === true);
    this.#policies.forget('exchange', name);
    this.#deps.meters.forget(this.name, 'exchange', name);
  }

  bindExchange(destination: string, source: string, routingKey: string, args: Headers = {}): void {
    this.#exchanges.bindExchange(destination, source, routingKey, args);
  }

  unbindExchange(destination: string, source: string, routingKey: string, args: Headers = {}): void {
    this.#exchanges.unbindExchange(destination, source, routingKey, args);
  }

  // ---- queues ----

  declareQueue(name: string, options: QueueOptions, connectionId?: string, serverNamed = false): QueueInfo {
    checkName('queue', name);
    if (name !== '' && !serverNamed) refuseReserved('queue', name, this.name);
    // A generated name is new: one taken already (never seen with 128 random bits) is generated again.
    const found = serverNamed ? undefined : this.#queues.get(name);
    if (found !== undefined) {
      this.#checkExclusive(found, connectionId);
      checkQueueEquivalent(this.name, name, found.options, options);
      const existing = this.#queues.reopenIfFailed(found);
      this.#adoptPropertyCounting(existing, options);
      existing.engine.touch();
      return existing.engine.info();
    }
    const actual = name === '' || (serverNamed && this.#queues.has(name)) ? this.#freshName() : name;
    validateQueueOptions(actual, options);
    const queuesLimit = this.#policies.maxQueues();
    if (reached(queuesLimit, this.#queues.size)) throw vhostQueuesRefused(actual, this.name, queuesLimit!);
    if (this.#queues.size >= this.#deps.limits.queuesMax) {
      throw brokerError(
        ErrorCode.resourceExhausted,
        `Vhost '${this.name}' has ${this.#deps.limits.queuesMax} queues`,
      );
    }
    const state = this.#queues.add(actual, options);
    if (state.persisted)
      this.#awaitDefinition(state, this.#deps.definitions.putQueue(this.name, actual, options));
    // A stream queue's stream exists once its engine is open; its policy retention follows then.
    if (options.kind === 'stream') {
      state.engine.ready.then(
        () => this.#deps.streams.setPolicyRetention?.(actual, this.#policies.streamRetention(actual)),
        () => undefined,
      );
    }
    return state.engine.info();
  }

  checkQueue(name: string, connectionId?: string): QueueInfo {
    const state = this.#queueOrThrow(name);
    this.#checkExclusive(state, connectionId);
    state.engine.touch();
    return state.engine.info();
  }

  peekQueue(name: string): QueueInfo | undefined {
    return this.#queues.get(name)?.engine.info();
  }

  hasQueue(name: string): boolean {
    return this.#queues.has(name);
  }

  queueType(name: string): QueueType | undefined {
    const options = this.#queues.get(name)?.options;
    if (options === undefined) return undefined;
    if (options.kind === 'stream') return 'stream';
    return isQuorumQueue(options) ? 'quorum' : 'classic';
  }

  deleteQueue(name: string, options: DeleteQueueOptions = {}): number {
    const state = this.#queues.get(name);
    if (state === undefined) return 0;
    this.#checkExclusive(state, options.connectionId);
    const info = state.engine.info();
    if (options.ifUnused === true && info.consumerCount > 0) {
      throw brokerError(
        ErrorCode.preconditionFailed,
        `Queue '${name}' in vhost '${this.name}' has consumers`,
      );
    }
    if (options.ifEmpty === true && info.messageCount > 0) {
      throw brokerError(ErrorCode.preconditionFailed, `Queue '${name}' in vhost '${this.name}' is not empty`);
    }
    return this.#removeQueue(state);
  }

  purgeQueue(name: string, connectionId?: string): number {
    const state = this.#queueOrThrow(name);
    this.#checkExclusive(state, connectionId);
    return state.engine.purge();
  }

  bindQueue(queue: string, exchange: string, routingKey: string, args: Headers = {}): void {
    if (exchange !== '') this.#exchanges.get(exchange);
    this.#queueOrThrow(queue);
    this.#exchanges.bindQueue(queue, exchange, routingKey, args);
  }

  unbindQueue(queue: string, exchange: string, routingKey: string, args: Headers = {}): void {
    this.#exchanges.unbindQueue(queue, exchange, routingKey, args);
  }

  definitionsDurable(): Promise<void> {
    return this.#deps.definitions.flush();
  }

  /**
   * `countsPropertyBytes` is set by core only (MQTT session queues), never by a client, so redeclare
   * equivalence leaves it out; a session queue saved by a build from before it would otherwise count
   * bodies alone for good, and mqttQueuedBytesMax miss its properties. The session's declare adopts
   * it, saved: messages counted before keep their count until a restart counts them again.
   */
  #adoptPropertyCounting(state: QueueState, wanted: QueueOptions): void {
    if (wanted.countsPropertyBytes !== true || state.options.countsPropertyBytes === true) return;
    state.options = { ...state.options, countsPropertyBytes: true };
    if (state.persisted)
      this.#awaitDefinition(state, this.#deps.definitions.putQueue(this.name, state.name, state.options));
    state.engine.reconfigure(this.#policies.queueOptions(state.name, state.options));
  }

  /**
   * Confirms to the queue wait for `written` until it is durable (./queue-table.ts `defined`). A
   * write that failed stays: the queue would not survive a crash, so its messages are refused.
   */
  #awaitDefinition(state: QueueState, written: Promise<void>): void {
    state.defined = written;
    written.then(() => {
      if (state.defined === written) state.defined = undefined;
    }, ignore);
  }

  #freshName(): string {
    for (let attempt = 0; attempt < 16; attempt++) {
      const name = serverQueueName();
      if (!this.#queues.has(name)) return name;
    }
    return assert(false, 'server-named queue collided 16 times') as never;
  }

  #removeQueue(state: QueueState): number {
    const count = state.engine.info().messageCount;
    this.#deps.meters.forget(this.name, 'queue', state.name);
    this.#policies.forget('queue', state.name);
    this.#exchanges.queueRemoved(state.name, state.persisted);
    if (state.persisted) this.#deps.definitions.deleteQueue(this.name, state.name);
    this.#queues.remove(state);
    return count;
  }

  #queueOrThrow(name: string): QueueState {
    const state = this.#queues.get(name);
    if (state === undefined)
      throw brokerError(ErrorCode.notFound, `No queue '${name}' in vhost '${this.name}'`);
    return state;
  }

  /** Exclusive queues answer only their own connection (AMQP 0-9-1 queue.declare "exclusive": 405). */
  #checkExclusive(state: QueueState, connectionId: string | undefined): void {
    const owner = state.options.exclusiveOwner;
    if (owner === undefined || (connectionId !== undefined && ownedBy(connectionId, owner))) return;
    throw brokerError(
      ErrorCode.resourceLocked,
      `Queue '${state.name}' in vhost '${this.name}' is exclusive to another connection`,
    );
  }

  // ---- publish and routing ----

  publish(
    exchange: string,
    routingKey: string,
    input: PublishInput,
    _options: PublishOptions = {},
  ): PublishResult {
    const source = this.#exchanges.get(exchange);
    if (source.options.internal) {
      throw brokerError(
        ErrorCode.accessRefused,
        `Exchange '${exchange}' in vhost '${this.name}' is internal`,
      );
    }
    const bytesMax = this.#deps.limits.messageBytesMax;
    if (input.body.length > bytesMax) {
      throw brokerError(
        ErrorCode.preconditionFailed,
        `Message of ${input.body.length} bytes exceeds the ${bytesMax}-byte limit`,
      );
    }
    const message: Message = { exchange, routingKey, body: input.body, properties: input.properties };
    return this.#enqueueAll(this.#exchanges.route(source, routingKey, input.properties.headers), message);
  }

  /** Dead letters go to the DLX with their new routing key; a missing DLX drops them (as RabbitMQ). */
  #deadLetter(message: Message, exchange: string, routingKey: string): void {
    const source = this.#exchanges.find(exchange);
    if (source === undefined) return;
    const routed = { ...message, exchange, routingKey };
    this.#enqueueAll(this.#exchanges.route(source, routingKey, message.properties.headers), routed);
  }

  #enqueueAll(queues: readonly string[], message: Message): PublishResult {
    if (queues.length === 0) return { routedCount: 0, confirmed: settled };
    // One queue (the usual case) needs no list of promises and no Promise.all round.
    let first: Promise<void> | undefined;
    let more: Array<Promise<void>> | undefined;
    let refused: Error | undefined;
    for (const name of queues) {
      const state = this.#queues.get(name)!;
      // A failed queue refuses, as a full one does: a publisher with confirms gets a nack.
      if (state.exec.failed) {
        refused ??= queueFailedError(state, this.name);
        continue;
      }
      // A queue whose log refuses the message fails (its executor takes it from there); the others
      // keep it, and the publisher hears of the refusal through its confirm.
      let result: { accepted: boolean; durable: Promise<void> };
      try {
        result = state.engine.enqueue(message);
      } catch (err) {
        refused ??= err instanceof Error ? err : queueFailedError(state, this.name);
        continue;
      }
      if (!result.accepted) refused ??= refusedError(name);
      // A queue whose definition is still being written: the message is confirmed with it.
      const durable =
        state.defined === undefined ? result.durable : withDefinition(result.durable, state.defined);
      if (first === undefined) first = durable;
      else if (more === undefined) more = [first, durable];
      else more.push(durable);
    }
    const all =
      more !== undefined ? Promise.all(more).then(() => undefined) : first === undefined ? settled : first;
    const confirmed =
      refused === undefined
        ? all
        : all.then(() => {
            throw refused;
          });
    // Callers that ignore confirms must not see an unhandled rejection. The messages of one group
    // commit share their promise: one handler is enough for all of them.
    if (confirmed !== this.#lastHandled) {
      this.#lastHandled = confirmed;
      confirmed.catch(ignore);
    }
    // Every queue reached, refusing ones included (for publisher flow control and the meters).
    return { routedCount: queues.length, confirmed, queues };
  }

  // ---- consumers and deliveries ----

  consume(queue: string, options: ConsumeOptions): Consumer {
    const state = this.#queueOrThrow(queue);
    this.#checkExclusive(state, options.owner);
    state.engine.touch();
    const owner = this.#owner(options.owner);
    const { meters } = this.#deps;
    const vhost = this.name;
    let tracked: Consumer | undefined;
    const inner = state.engine.consume({
      ...options,
      deliver: (delivery) => {
        meters.delivered(vhost, queue, delivery.redelivered);
        options.deliver(delivery);
      },
      ...offerCounted(options, () => meters.delivered(vhost, queue, false)),
      cancelled: (reason) => {
        if (tracked !== undefined) owner.consumers.delete(tracked);
        options.cancelled?.(reason);
      },
    });
    const row = {
      queue,
      tag: inner.tag,
      owner: options.owner,
      ackRequired: options.noAck !== true,
      exclusive: options.exclusive === true,
      prefetch: options.prefetch ?? 0,
      priority: options.priority ?? 0,
    };
    const consumer: Consumer = {
      tag: inner.tag,
      queue: inner.queue,
      setPrefetch: (prefetch) => {
        row.prefetch = prefetch;
        inner.setPrefetch(prefetch);
      },
      cancel: () => {
        owner.consumers.delete(consumer);
        inner.cancel();
      },
    };
    tracked = consumer;
    owner.consumers.set(consumer, row);
    owner.queues.add(queue);
    return consumer;
  }

  get(
    queue: string,
    options: { noAck: boolean; owner: string; connectionId?: string },
  ): Delivery | undefined {
    const engine = this.#engineToGet(queue, options);
    const delivery = engine.get({ noAck: options.noAck, owner: options.owner });
    if (delivery !== undefined && !options.noAck) this.#owner(options.owner).queues.add(queue);
    return delivery;
  }

  take(
    queue: string,
    options: { noAck: boolean; owner: string; connectionId?: string },
    countMax: number,
  ): Delivery[] {
    if (!Number.isSafeInteger(countMax) || countMax < 1) {
      throw brokerError(ErrorCode.invalidArgument, `A take of ${countMax} messages`);
    }
    const engine = this.#engineToGet(queue, options);
    const taken: Delivery[] = [];
    for (let i = 0; i < countMax; i++) {
      const delivery = engine.get({ noAck: options.noAck, owner: options.owner });
      if (delivery === undefined) break;
      taken.push(delivery);
    }
    if (taken.length > 0 && !options.noAck) this.#owner(options.owner).queues.add(queue);
    return taken;
  }

  /** The engine of `queue` for a get by this caller (exclusive queues are their connection's), touched. */
  #engineToGet(queue: string, options: { owner: string; connectionId?: string }): DeferredQueue {
    const state = this.#queueOrThrow(queue);
    this.#checkExclusive(state, options.connectionId ?? options.owner);
    state.engine.touch();
    return state.engine;
  }

  /** Settling on a queue that is gone is a no-op: its deliveries went with it. */
  ack(queue: string, id: number): void {
    this.#queues.get(queue)?.engine.ack(id);
  }

  nack(queue: string, id: number, requeue: boolean): void {
    this.#queues.get(queue)?.engine.nack(id, requeue);
  }

  requeue(queue: string, id: number, options: RequeueOptions): void {
    this.#queues.get(queue)?.engine.requeue(id, options);
  }

  holdFor(queue: string, id: number, timeoutMs: number): Promise<boolean> {
    return this.#queues.get(queue)?.engine.holdFor(id, timeoutMs) ?? Promise.resolve(false);
  }

  holdsStored(queue: string, offset: number): boolean | undefined {
    return this.#queues.get(queue)?.engine.holdsStored(offset);
  }

  returnsLanded(queue: string): Promise<void> | undefined {
    return this.#queues.get(queue)?.engine.returnsLanded();
  }

  countsWritten(queue: string): Promise<void> | undefined {
    return this.#queues.get(queue)?.engine.countsWritten?.();
  }

  releaseOwner(owner: string): void {
    const state = this.#owners.get(owner);
    if (state === undefined) return;
    this.#owners.delete(owner);
    for (const connectionId of connectionsOf(owner)) {
      const owners = this.#ownersByConnection.get(connectionId);
      owners?.delete(owner);
      if (owners?.size === 0) this.#ownersByConnection.delete(connectionId);
    }
    // Cancel first so the requeued messages are not handed straight back to this owner.
    for (const consumer of [...state.consumers.keys()]) consumer.cancel();
    for (const queue of state.queues) this.#queues.get(queue)?.engine.releaseOwner(owner);
  }

  closeConnection(connectionId: string): void {
    for (const owner of [...(this.#ownersByConnection.get(connectionId) ?? [])]) this.releaseOwner(owner);
    for (const state of this.#queues.exclusiveTo(connectionId)) this.#removeQueue(state);
  }

  #owner(owner: string): OwnerState {
    let state = this.#owners.get(owner);
    if (state === undefined) {
      state = { queues: new Set(), consumers: new Map() };
      this.#owners.set(owner, state);
      for (const connectionId of connectionsOf(owner)) {
        let owners = this.#ownersByConnection.get(connectionId);
        if (owners === undefined) {
          owners = new Set();
          this.#ownersByConnection.set(connectionId, owners);
        }
        owners.add(owner);
      }
    }
    return state;
  }

  // ---- streams ----

  async createStream(name: string, options: StreamCreateOptions): Promise<StreamInfo> {
    const info = await this.#deps.streams.create(name, options);
    this.#deps.streams.setPolicyRetention?.(name, this.#policies.streamRetention(name));
    return info;
  }
  setStreamAttributes(name: string, attributes: Readonly<Record<string, string>>): Promise<StreamInfo> {
    return this.#deps.streams.setAttributes(name, attributes);
  }
  configureStream(name: string, settings: StreamSettings): Promise<StreamInfo> {
    return this.#deps.streams.configure(name, settings);
  }

  async deleteStream(name: string): Promise<void> {
    const state = this.#queues.get(name);
    if (state !== undefined && state.options.kind === 'stream') {
      this.#removeQueue(state);
      await state.engine.destroy();
    }
    if (this.#deps.streams.get(name) !== undefined) await this.#deps.streams.delete(name);
    this.#policies.forget('queue', name);
  }

  addPartitions(name: string, total: number): Promise<StreamInfo> {
    return this.#deps.streams.addPartitions(name, total);
  }

  stream(name: string): StreamInfo | undefined {
    return this.#deps.streams.get(name);
  }

  streams(): StreamInfo[] {
    return this.#deps.streams.list();
  }

  streamNameOf(id: string): string | undefined {
    return this.#deps.streams.nameOf(id);
  }

  partition(stream: string, index: number): StreamPartition {
    return this.#deps.streams.partition(stream, index);
  }

  appendIdempotent(
    stream: string,
    index: number,
    batch: ProducerBatch,
    payload: Uint8Array,
    options: StreamAppendOptions,
  ): IdempotentAppend {
    const partition = this.#deps.streams.partition(stream, index);
    const { producers, transactions } = this.#deps;
    // The partition's tail read back once since start: batches stored whose record a crash lost.
    const reading = producers.readTail(partition);
    if (reading !== undefined) return { kind: 'wait', until: reading };
    if (batch.transactional === true && batch.addsPartition === true) {
      const implicit = transactions.addImplicitly(batch.producerId, batch.epoch, stream, index);
      if (implicit?.kind === 'wait') return implicit;
      if (implicit !== undefined) return { kind: 'refused', reason: implicitRefusal(implicit.reason) };
    }
    // Before the sequence check, so the batches behind this one of the same producer wait alike.
    const adding =
      batch.transactional === true
        ? transactions.adding(batch.producerId, stream, index, partition.endOffset)
        : undefined;
    if (adding !== undefined && !adding.ahead) return { kind: 'wait', until: adding.until };
    const verdict = producers.check(stream, index, batch);
    if (verdict.kind !== 'append') return verdict;
    if (batch.transactional === true && !transactions.holds(batch.producerId, batch.epoch, stream, index))
      return { kind: 'refused', reason: transactionRefusal(transactions, batch) };
    const appended = partition.append(payload, options);
    // Stored but not recorded (the registry's log failed): the producer hears of it through `durable`.
    let recorded: Promise<void>;
    try {
      // A transactional batch's record goes in its transaction's log: one file to sync, not two.
      recorded =
        batch.transactional === true
          ? producers.recordIn((entry) => transactions.record(entry), stream, index, batch, appended.offset)
          : producers.record(stream, index, batch, appended.offset);
    } catch (err) {
      recorded = Promise.reject(err);
    }
    if (batch.transactional === true) {
      // Answered once appended: its durability matters only at commit, which waits for each part (a
      // crash before then aborts the transaction), so a transaction's batches and decision share one
      // cycle. Handed over apart: joining them would cost promises nobody waits for until then.
      recorded.catch(() => {}); // nobody waits for it until the commit
      const end = appended.offset + (options.count ?? 1);
      transactions.wrote(batch.producerId, stream, index, end, appended.durable, recorded);
      return { kind: 'appended', offset: appended.offset, durable: settled };
    }
    const durable = Promise.all([appended.durable, recorded]).then(() => undefined);
    durable.catch(() => {}); // callers that do not wait must not see an unhandled rejection
    return { kind: 'appended', offset: appended.offset, durable };
  }

  async commitOffset(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void> {
    // Stored only once the records it passes are durable: see `Partition.durableTo`. A commit that
    // waits longer than a later one of the same partition (a consumer that sought back) must not
    // overwrite it: the later one stands.
    const waitedOn = this.#deps.streams.partition(stream, partition);
    const key = JSON.stringify([group, stream, partition]);
    await this.#commits.write(key, waitedOn.durableTo(offset.offset), () => {
      // A stream deleted meanwhile took its group offsets with it; one stored now would be handed to
      // a stream made again under the name, whose consumers would then skip its first records.
      if (this.#deps.streams.partition(stream, partition) !== waitedOn)
        throw brokerError(ErrorCode.notFound, `Stream '${stream}' was deleted during the commit`);
      return this.#deps.groups.commit(group, stream, partition, offset);
    });
  }

  fetchOffset(group: string, stream: string, partition: number): GroupOffset | undefined {
    return this.#deps.groups.fetch(group, stream, partition);
  }

  groupOffsets(group: string): Array<{ stream: string; partition: number; offset: GroupOffset }> {
    return this.#deps.groups.offsets(group);
  }

  deleteGroupOffsets(group: string): Promise<void> {
    return this.#deps.groups.deleteOffsets(group);
  }

  deletePartitionOffsets(group: string, partitions: readonly PartitionName[]): Promise<void> {
    return this.#deps.groups.deletePartitionOffsets(group, partitions);
  }

  async deleteRecords(stream: string, index: number, before: number): Promise<number> {
    const partition = this.#deps.streams.partition(stream, index);
    if (!Number.isSafeInteger(before) || before < 0 || before > partition.endOffset) {
      const message = `Offset ${before} is outside partition ${index} of stream '${stream}' (end ${partition.endOffset})`;
      throw brokerError(ErrorCode.invalidArgument, message);
    }
    // A start past records a crash could cut off would hide the records that take their offsets.
    await partition.durableTo(before);
    await this.#deps.transactions.deleteRecords(partition, before);
    return partition.startOffset;
  }

  // ---- listing, stats, lifecycle ----

  listExchanges(): Array<{ name: string } & ExchangeOptions> {
    return this.#exchanges.list();
  }

  listQueues(): Array<QueueInfo & QueueOptions> {
    return [...this.#queues.values()].map((state) => ({ ...state.options, ...state.engine.info() }));
  }

  queueNames(sorted: boolean): readonly string[] {
    return sorted ? this.#queues.sortedNames() : [...this.#queues.names()];
  }

  queueRows(names: readonly string[]): Array<QueueInfo & QueueOptions> {
    const rows: Array<QueueInfo & QueueOptions> = [];
    for (const name of names) {
      const state = this.#queues.get(name);
      if (state !== undefined) rows.push({ ...state.options, ...state.engine.info() });
    }
    return rows;
  }

  queueDepths(): QueueDepths {
    const size = this.#queues.size;
    const names = new Array<string>(size);
    const messages = new Float64Array(size);
    const consumers = new Float64Array(size);
    let i = 0;
    for (const state of this.#queues.values()) {
      const info = state.engine.info();
      names[i] = state.name;
      messages[i] = info.messageCount;
      consumers[i] = info.consumerCount;
      i++;
    }
    return { names, messages: Array.from(messages), consumers: Array.from(consumers) };
  }

  appliedPolicies(objects: 'queues' | 'exchanges', names?: readonly string[]): AppliedPolicy[] {
    const out: AppliedPolicy[] = [];
    if (objects === 'exchanges') {
      const all = names ?? this.#exchanges.list().map((e) => e.name);
      for (const name of all)
        if (this.#exchanges.find(name) !== undefined) out.push(this.#policies.applied(name, 'exchange'));
      return out;
    }
    for (const name of names ?? this.#queues.names()) {
      const state = this.#queues.get(name);
      if (state !== undefined) out.push(this.#policies.applied(name, queueTarget(state.options)));
    }
    return out;
  }

  listBindings(defaults = true): ReturnType<VirtualHost['listBindings']> {
    const out: ReturnType<VirtualHost['listBindings']> = [];
    // The default exchange's implicit bindings are listed as RabbitMQ lists them.
    for (const name of defaults ? this.#queues.names() : []) {
      out.push({ source: '', destination: name, destinationKind: 'queue', routingKey: name, args: {} });
    }
    out.push(...this.#exchanges.bindings());
    return out;
  }

  /** Counts for the broker's stats; `unacked` comes from engines that offer `stats()`. */
  /** Every consumer of the vhost's queues (the admin API's `/api/consumers`). */
  listConsumers(): ConsumerRow[] {
    const rows: ConsumerRow[] = [];
    for (const state of this.#owners.values())
      for (const row of state.consumers.values()) rows.push({ ...row });
    return rows;
  }

  counts(): VhostCounts {
    let consumers = 0;
    let ready = 0;
    let unacked = 0;
    for (const state of this.#queues.values()) {
      const info = state.engine.info();
      consumers += info.consumerCount;
      ready += info.messageCount;
      const engine = state.engine.engine as { stats?(): { unacked?: number } } | undefined;
      unacked += engine?.stats?.().unacked ?? 0;
    }
    return { exchanges: this.#exchanges.size, queues: this.#queues.size, consumers, ready, unacked };
  }

  /** Deletes every queue and its stored data (vhost deletion). */
  async destroy(): Promise<void> {
    for (const state of [...this.#queues.values()]) this.#removeQueue(state);
    for (const info of this.#deps.streams.list()) await this.#deps.streams.delete(info.name);
    await this.#queues.settle();
  }

  /** Closes queue engines (stored data stays); the broker closes the stream registry. */
  async close(): Promise<void> {
    await this.#queues.close();
  }
}
