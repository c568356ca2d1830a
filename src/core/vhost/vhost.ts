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
  PublishInput,
  StreamInfo,
  StreamPartition,
  VirtualHost,
} from '../api.js';
import type { Definitions } from '../definitions.js';
import type { QueueDeps, QueueEngine, QueueFactory, QueueHooks, StreamRegistry } from '../internal.js';
import type {
  ConsumeOptions,
  Consumer,
  Delivery,
  ExchangeOptions,
  Headers,
  Message,
  PublishOptions,
  PublishResult,
  QueueInfo,
  QueueOptions,
} from '../types.js';
import {
  checkName,
  checkQueueEquivalent,
  refuseReserved,
  serverQueueName,
  validateQueueOptions,
} from './checks.js';
import { DeferredQueue, refusedError } from './deferred-queue.js';
import { Exchanges } from './exchanges.js';

export interface VhostDeps {
  readonly name: string;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly limits: CoreLimits;
  readonly definitions: Definitions;
  readonly createQueue: QueueFactory;
  readonly streams: StreamRegistry;
  /** Shared with the broker for its stats. */
  readonly counters: { published: number; delivered: number };
}

interface QueueState {
  readonly name: string;
  readonly options: QueueOptions;
  readonly engine: DeferredQueue;
  /** Kept in definitions: durable and not exclusive. */
  readonly persisted: boolean;
}

interface OwnerState {
  readonly queues: Set<string>;
  readonly consumers: Set<Consumer>;
}

const settled: Promise<void> = Promise.resolve();

/** The consumer's `offer`, counting what it takes as delivered; nothing when it has none. */
function offerCounted(
  options: ConsumeOptions,
  counters: { delivered: number },
): Pick<ConsumeOptions, 'offer'> {
  const offer = options.offer;
  if (offer === undefined) return {};
  return {
    offer: (message) => {
      const taken = offer(message);
      if (taken) counters.delivered++;
      return taken;
    },
  };
}

/** True when `owner` is the connection itself or one of its channels / sessions. */
export function ownedBy(owner: string, connectionId: string): boolean {
  return owner === connectionId || owner.startsWith(`${connectionId}/`);
}

export class Vhost implements VirtualHost {
  readonly name: string;
  readonly #deps: VhostDeps;
  readonly #exchanges: Exchanges;
  readonly #queues = new Map<string, QueueState>();
  readonly #owners = new Map<string, OwnerState>();
  /** Destroys and other work started by sync calls; `close` waits for them. */
  readonly #background = new Set<Promise<unknown>>();
  /**
   * Queues deleted whose engine is still being destroyed (logs closing and deleted), by name: a queue
   * declared again under the name opens only after that, so the old incarnation's teardown can never
   * close or delete the new one's logs (an MQTT session taken over and started afresh does exactly this).
   */
  readonly #destroying = new Map<string, Promise<void>>();

  private constructor(deps: VhostDeps) {
    this.name = deps.name;
    this.#deps = deps;
    this.#exchanges = new Exchanges({
      vhost: deps.name,
      limits: deps.limits,
      definitions: deps.definitions,
      hasQueue: (queue) => this.#queues.has(queue),
      isStoredQueue: (queue) => this.#queues.get(queue)?.persisted ?? false,
    });
  }

  /** Builds the vhost and restores its definitions: exchanges and bindings first, then queues. */
  static async open(deps: VhostDeps): Promise<Vhost> {
    const vhost = new Vhost(deps);
    const defs = deps.definitions.load(deps.name);
    vhost.#exchanges.restore(defs);
    const states = defs.queues.map(({ name, options }) => vhost.#addQueue(name, options));
    for (const state of states) await state.engine.ready;
    return vhost;
  }

  // ---- exchanges ----

  declareExchange(name: string, options: ExchangeOptions): void {
    this.#exchanges.declare(name, options);
  }

  checkExchange(name: string): void {
    this.#exchanges.get(name);
  }

  deleteExchange(name: string, options: { ifUnused?: boolean } = {}): void {
    this.#exchanges.delete(name, options.ifUnused === true);
  }

  bindExchange(destination: string, source: string, routingKey: string, args: Headers = {}): void {
    this.#exchanges.bindExchange(destination, source, routingKey, args);
  }

  unbindExchange(destination: string, source: string, routingKey: string, args: Headers = {}): void {
    this.#exchanges.unbindExchange(destination, source, routingKey, args);
  }

  // ---- queues ----

  declareQueue(name: string, options: QueueOptions, connectionId?: string): QueueInfo {
    checkName('queue', name);
    if (name !== '') refuseReserved('queue', name, this.name);
    const existing = this.#queues.get(name);
    if (existing !== undefined) {
      this.#checkExclusive(existing, connectionId);
      checkQueueEquivalent(this.name, name, existing.options, options);
      existing.engine.touch();
      return existing.engine.info();
    }
    const actual = name === '' ? this.#freshName() : name;
    validateQueueOptions(actual, options);
    if (this.#queues.size >= this.#deps.limits.queuesMax) {
      throw brokerError(
        ErrorCode.resourceExhausted,
        `Vhost '${this.name}' has ${this.#deps.limits.queuesMax} queues`,
      );
    }
    const state = this.#addQueue(actual, options);
    if (state.persisted) this.#deps.definitions.putQueue(this.name, actual, options);
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

  #freshName(): string {
    for (let attempt = 0; attempt < 16; attempt++) {
      const name = serverQueueName();
      if (!this.#queues.has(name)) return name;
    }
    return assert(false, 'server-named queue collided 16 times') as never;
  }

  #addQueue(name: string, options: QueueOptions): QueueState {
    const persisted = options.durable === true && options.exclusiveOwner === undefined;
    const self: { engine?: DeferredQueue } = {};
    const hooks: QueueHooks = {
      deadLetter: (message, exchange, routingKey) => this.#deadLetter(message, exchange, routingKey),
      // Deferred: the engine may ask from inside its own call stack (a consumer's cancel).
      requestDelete: () => queueMicrotask(() => this.#deleteRequested(name, self.engine)),
    };
    const previous = this.#destroying.get(name);
    const opening =
      previous === undefined
        ? this.#openEngine(name, options, persisted, hooks)
        : previous.then(() => this.#openEngine(name, options, persisted, hooks));
    const engine = new DeferredQueue(name, options, opening);
    self.engine = engine;
    const state: QueueState = { name, options, engine, persisted };
    this.#queues.set(name, state);
    engine.ready.catch(() => {
      // The queue never opened; forget it here (its definition stays for the next start).
      if (this.#queues.get(name) === state) this.#queues.delete(name);
    });
    return state;
  }

  #openEngine(
    name: string,
    options: QueueOptions,
    persisted: boolean,
    hooks: QueueHooks,
  ): QueueEngine | Promise<QueueEngine> {
    if (options.kind === 'stream') return this.#openStreamQueue(name, options);
    const { clock, limits, storage } = this.#deps;
    const deps: QueueDeps = persisted
      ? { vhost: this.name, clock, limits, hooks, storage }
      : { vhost: this.name, clock, limits, hooks };
    // An exclusive queue never outlives its connection, so it is never stored even when "durable".
    const engineOptions = persisted || options.durable !== true ? options : { ...options, durable: false };
    return this.#deps.createQueue(name, engineOptions, deps);
  }

  #openStreamQueue(name: string, options: QueueOptions): QueueEngine | Promise<QueueEngine> {
    const streams = this.#deps.streams;
    if (streams.get(name) !== undefined) return streams.asQueue(name, options);
    const create: { partitions: number; bytesMax?: number; ageMsMax?: number } = {
      partitions: options.partitions ?? 1,
    };
    if (options.streamBytesMax !== undefined) create.bytesMax = options.streamBytesMax;
    if (options.streamAgeMsMax !== undefined) create.ageMsMax = options.streamAgeMsMax;
    return streams.create(name, create).then(() => streams.asQueue(name, options));
  }

  #deleteRequested(name: string, engine: DeferredQueue | undefined): void {
    const state = this.#queues.get(name);
    if (state !== undefined && state.engine === engine) this.#removeQueue(state);
  }

  #removeQueue(state: QueueState): number {
    const count = state.engine.info().messageCount;
    this.#queues.delete(state.name);
    this.#exchanges.queueRemoved(state.name, state.persisted);
    if (state.persisted) this.#deps.definitions.deleteQueue(this.name, state.name);
    const destroyed = state.engine.destroy().catch(() => undefined);
    this.#destroying.set(state.name, destroyed);
    void destroyed.then(() => {
      if (this.#destroying.get(state.name) === destroyed) this.#destroying.delete(state.name);
    });
    this.#inBackground(destroyed);
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

  #inBackground(work: Promise<unknown>): void {
    const tracked: Promise<unknown> = work.then(
      () => this.#background.delete(tracked),
      () => this.#background.delete(tracked),
    );
    this.#background.add(tracked);
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
    this.#deps.counters.published++;
    return this.#enqueueAll(this.#exchanges.route(source, routingKey, input.properties.headers), message);
  }

  /** Dead letters go to the DLX with their new routing key; a missing DLX drops them (as RabbitMQ). */
  #deadLetter(message: Message, exchange: string, routingKey: string): void {
    const source = this.#exchanges.find(exchange);
    if (source === undefined) return;
    const routed = { ...message, exchange, routingKey };
    this.#enqueueAll(this.#exchanges.route(source, routingKey, message.properties.headers), routed);
  }

  #enqueueAll(queues: Set<string>, message: Message): PublishResult {
    if (queues.size === 0) return { routedCount: 0, confirmed: settled };
    const durables: Array<Promise<void>> = [];
    const reached: string[] = [];
    let refused: string | undefined;
    for (const name of queues) {
      const result = this.#queues.get(name)!.engine.enqueue(message);
      if (!result.accepted) refused ??= name;
      durables.push(result.durable);
      reached.push(name);
    }
    // One queue (the usual case) needs no Promise.all round.
    const all = durables.length === 1 ? durables[0]! : Promise.all(durables).then(() => undefined);
    const confirmed =
      refused === undefined
        ? all
        : all.then(() => {
            throw refusedError(refused);
          });
    // Callers that ignore confirms must not see an unhandled rejection.
    confirmed.catch(() => {});
    return { routedCount: queues.size, confirmed, queues: reached };
  }

  // ---- consumers and deliveries ----

  consume(queue: string, options: ConsumeOptions): Consumer {
    const state = this.#queueOrThrow(queue);
    this.#checkExclusive(state, options.owner);
    state.engine.touch();
    const owner = this.#owner(options.owner);
    const counters = this.#deps.counters;
    let tracked: Consumer | undefined;
    const inner = state.engine.consume({
      ...options,
      deliver: (delivery) => {
        counters.delivered++;
        options.deliver(delivery);
      },
      ...offerCounted(options, counters),
      cancelled: (reason) => {
        if (tracked !== undefined) owner.consumers.delete(tracked);
        options.cancelled?.(reason);
      },
    });
    const consumer: Consumer = {
      tag: inner.tag,
      queue: inner.queue,
      setPrefetch: (prefetch) => inner.setPrefetch(prefetch),
      cancel: () => {
        owner.consumers.delete(consumer);
        inner.cancel();
      },
    };
    tracked = consumer;
    owner.consumers.add(consumer);
    owner.queues.add(queue);
    return consumer;
  }

  get(
    queue: string,
    options: { noAck: boolean; owner: string; connectionId?: string },
  ): Delivery | undefined {
    const state = this.#queueOrThrow(queue);
    this.#checkExclusive(state, options.connectionId ?? options.owner);
    state.engine.touch();
    const delivery = state.engine.get({ noAck: options.noAck, owner: options.owner });
    if (delivery === undefined) return undefined;
    this.#deps.counters.delivered++;
    if (!options.noAck) this.#owner(options.owner).queues.add(queue);
    return delivery;
  }

  /** Settling on a queue that is gone is a no-op: its deliveries went with it. */
  ack(queue: string, id: number): void {
    this.#queues.get(queue)?.engine.ack(id);
  }

  nack(queue: string, id: number, requeue: boolean): void {
    this.#queues.get(queue)?.engine.nack(id, requeue);
  }

  releaseOwner(owner: string): void {
    const state = this.#owners.get(owner);
    if (state === undefined) return;
    this.#owners.delete(owner);
    // Cancel first so the requeued messages are not handed straight back to this owner.
    for (const consumer of [...state.consumers]) consumer.cancel();
    for (const queue of state.queues) this.#queues.get(queue)?.engine.releaseOwner(owner);
  }

  closeConnection(connectionId: string): void {
    for (const owner of [...this.#owners.keys()]) {
      if (ownedBy(owner, connectionId)) this.releaseOwner(owner);
    }
    for (const state of [...this.#queues.values()]) {
      if (state.options.exclusiveOwner === connectionId) this.#removeQueue(state);
    }
  }

  #owner(owner: string): OwnerState {
    let state = this.#owners.get(owner);
    if (state === undefined) {
      state = { queues: new Set(), consumers: new Set() };
      this.#owners.set(owner, state);
    }
    return state;
  }

  // ---- streams ----

  createStream(
    name: string,
    options: { partitions: number; bytesMax?: number; ageMsMax?: number },
  ): Promise<StreamInfo> {
    return this.#deps.streams.create(name, options);
  }

  async deleteStream(name: string): Promise<void> {
    const state = this.#queues.get(name);
    if (state !== undefined && state.options.kind === 'stream') {
      this.#removeQueue(state);
      await state.engine.destroy();
    }
    if (this.#deps.streams.get(name) !== undefined) await this.#deps.streams.delete(name);
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

  partition(stream: string, index: number): StreamPartition {
    return this.#deps.streams.partition(stream, index);
  }

  commitOffset(group: string, stream: string, partition: number, offset: GroupOffset): Promise<void> {
    return this.#deps.streams.commitOffset(group, stream, partition, offset);
  }

  fetchOffset(group: string, stream: string, partition: number): GroupOffset | undefined {
    return this.#deps.streams.fetchOffset(group, stream, partition);
  }

  groupOffsets(group: string): Array<{ stream: string; partition: number; offset: GroupOffset }> {
    return this.#deps.streams.groupOffsets(group);
  }

  deleteGroupOffsets(group: string): Promise<void> {
    return this.#deps.streams.deleteGroupOffsets(group);
  }

  // ---- listing, stats, lifecycle ----

  listExchanges(): Array<{ name: string } & ExchangeOptions> {
    return this.#exchanges.list();
  }

  listQueues(): Array<QueueInfo & QueueOptions> {
    return [...this.#queues.values()].map((state) => ({ ...state.options, ...state.engine.info() }));
  }

  listBindings(): ReturnType<VirtualHost['listBindings']> {
    const out: ReturnType<VirtualHost['listBindings']> = [];
    // The default exchange's implicit bindings are listed as RabbitMQ lists them.
    for (const name of this.#queues.keys()) {
      out.push({ source: '', destination: name, destinationKind: 'queue', routingKey: name, args: {} });
    }
    out.push(...this.#exchanges.bindings());
    return out;
  }

  /** Counts for the broker's stats; `unacked` comes from engines that offer `stats()`. */
  counts(): { exchanges: number; queues: number; consumers: number; ready: number; unacked: number } {
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
    await this.#settle();
  }

  /** Closes queue engines (stored data stays); the broker closes the stream registry. */
  async close(): Promise<void> {
    await this.#settle();
    for (const state of this.#queues.values()) await state.engine.close();
  }

  async #settle(): Promise<void> {
    for (let round = 0; round < 100 && this.#background.size > 0; round++) {
      await Promise.allSettled([...this.#background]);
    }
  }
}
