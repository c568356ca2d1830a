/**
 * The classic queue: FIFO or priority order, competing consumers under credit, ack / nack / requeue,
 * TTL, queue expiry, length limits with overflow policies, dead-lettering, delivery limit, delayed
 * delivery and, for durable queues, a log with bounded memory. Behaviour follows RabbitMQ's classic
 * queues where the AMQP 0-9-1 spec leaves room; docs/queue-storage.md covers the durable side.
 *
 * Re-entrancy: consumer callbacks and hooks may call back into the queue (ack inside deliver,
 * dead-letter routed back here). State is always consistent before a callback runs, and dispatch
 * runs one loop at a time: a nested request just asks the running loop for another round.
 */
import { assert } from '../../shared/assert.js';
import { brokerError, ErrorCode, isBrokerError } from '../../shared/errors.js';
import type { DeadLetterReason, QueueDeps, QueueEngine } from '../internal.js';
import type { DecodedMessage, QueueEnvelope } from '../message-codec.js';
import type {
  ConsumeOptions,
  Consumer,
  Delivery,
  Message,
  QueueInfo,
  QueueOptions,
  RequeueOptions,
} from '../types.js';
import type { QueueLengths } from '../views.js';
import { ConsumerSet, type ConsumerState, hasCredit, LimitWatch, watchedLimits } from './consumers.js';
import { withDeath } from './dead-letter.js';
import { Holds } from './holds.js';
import { IdTable } from './id-table.js';
import { durationMsMax, isQuorumQueue } from './options.js';
import { propertyBytes } from './property-bytes.js';
import { type QueuedMessage, ReadyList } from './ready-list.js';
import { QueueStore, type StoredMessage } from './store.js';
import { QueueTimer } from './timer.js';

/** Bound on rounds of one dispatch call; each round delivers or drops at least one message or stops. */
const dispatchRoundsMax = 1_000_000;

const resolved = Promise.resolve();
/** What `enqueue` answers for a message accepted with nothing to wait for: one object for all of them. */
const acceptedNow: { readonly accepted: true; readonly durable: Promise<void> } = Object.freeze({
  accepted: true,
  durable: resolved,
});
/**
 * The longest a `get` waits for returns being counted (`returnsLanded`): their counts' wait is one
 * write, so only a stalled disk comes near it; past it the get is answered from what is ready.
 */
const returnWaitMsMax = 5_000;

/**
 * Payload bytes read in one go when a consumer reaches a message whose body is only on disk; the
 * entries after it get their bodies attached (within the body cache budget) for the next deliveries.
 */
const readAheadBytesMax = 256 * 1024;

interface Delayed {
  readonly readyAtMs: number;
  readonly m: QueuedMessage;
}

export interface QueueStats {
  readonly ready: number;
  readonly readyBytes: number;
  readonly unacked: number;
  readonly delayed: number;
  readonly consumers: number;
}

export class ClassicQueue implements QueueEngine {
  readonly name: string;
  #options: QueueOptions;
  readonly #deps: QueueDeps;
  readonly #ready: ReadyList;
  /** Delayed messages, by readyAtMs then arrival. */
  #delayed: Delayed[] = [];
  /**
   * Both made on the first delivery: an idle queue (every MQTT connection has one) holds no tables.
   * Id tables (./id-table.ts), not maps and sets: a delivery and its ack cost no hash entry. An
   * owner's table stays while it may hold more (see `#takeUnacked`).
   */
  #unacked: IdTable<QueuedMessage> | undefined;
  #byOwner: Map<string, IdTable<true>> | undefined;
  readonly #consumers: ConsumerSet;
  readonly #limits = new LimitWatch((limit) => {
    this.#consumers.roomIn(limit);
    this.#dispatch();
  });
  #store: QueueStore | undefined;
  /**
   * A quorum queue keeps its stored messages' delivery counts on disk, as RabbitMQ's Raft log does:
   * each delivery records the count a restart should find (one more, as if returned), and a returned
   * message is ready again only once that record is written (docs/queue-storage.md).
   */
  readonly #countsKept: boolean;
  /** Returned messages of a quorum queue waiting for their count to be written, by id. */
  #returning: Map<number, QueuedMessage> | undefined;
  /** Called once `#returning` empties (`returnsLanded`). */
  #landingWaiters: Array<() => void> = [];
  /** Consumers with deliveries waiting for their count records (`#sendAfter`). */
  #waitingConsumers: Set<ConsumerState> | undefined;
  /** The last count record a delivery waits for, and how many distinct ones were waited for. */
  #lastCounted: Promise<void> | undefined;
  #countsAwaited = 0;
  /** Of those, the last known written (they are written in order). */
  #countsWrittenSeq = 0;
  /** Body bytes of `#returning`: counted ready, as its messages are (readyBytes, x-max-length-bytes). */
  #returningBytes = 0;
  /** Id of the message being enqueued (0: none): TTL 0 lets it go to a waiting consumer but never wait in the queue. */
  #freshId = 0;
  #dispatching = false;
  #dispatchAgain = false;
  #hadConsumer = false;
  #state: 'open' | 'closed' | 'destroyed' | 'failed' = 'open';
  /** Each made when first armed: most queues never expire, delay or idle out anything. */
  #expiryTimer: QueueTimer | undefined;
  #delayTimer: QueueTimer | undefined;
  #idleTimer: QueueTimer | undefined;
  readonly #holds: Holds;
  /** The vhost's running totals (its own when the vhost keeps none): moved with `#ready` and `#unacked`. */
  readonly #lengths: QueueLengths;

  constructor(name: string, options: QueueOptions, deps: QueueDeps) {
    this.name = name;
    this.#options = options;
    this.#deps = deps;
    this.#lengths = deps.lengths ?? { ready: 0, unacked: 0 };
    this.#ready = new ReadyList(options.priorityMax ?? 0, this.#lengths);
    this.#consumers = new ConsumerSet(options.singleActiveConsumer === true);
    this.#holds = new Holds(deps.exec);
    this.#countsKept = isQuorumQueue(options);
  }

  /** Opens the queue's logs and takes back every message that was not removed. */
  async open(storage: NonNullable<QueueDeps['storage']>): Promise<void> {
    assert(this.#store === undefined, 'queue opened twice');
    const overLimit: QueuedMessage[] = [];
    this.#store = await QueueStore.open(storage, this.#deps, this.name, (offset, decoded, count) =>
      this.#recover(offset, decoded, count, overLimit),
    );
    // Returned by the restart more often than the limit allows, as RabbitMQ's return on a consumer's
    // loss would have found it.
    for (const m of overLimit) this.#overDeliveryLimit(m);
    this.#armDelayTimer();
    this.#expireHeads();
  }

  /** The settings in force: declared options with the vhost's policies applied. */
  get options(): QueueOptions {
    return this.#options;
  }

  /**
   * New effective settings (a policy changed). A lower length limit trims now, by the overflow rule;
   * a TTL applies to messages enqueued from now, as their expiry is fixed on arrival; queue expiry
   * restarts its countdown. Priorities and single-active-consumer are declared only, never by policy.
   */
  reconfigure(options: QueueOptions): void {
    if (this.#state !== 'open') return;
    const expiresChanged = options.expiresMs !== this.#options.expiresMs;
    assert(
      options.priorityMax === this.#options.priorityMax &&
        options.singleActiveConsumer === this.#options.singleActiveConsumer,
      'a policy changed a declared-only queue setting',
    );
    this.#options = options;
    if (expiresChanged) {
      this.#idleTimer?.cancel();
      this.touch();
    }
    this.#dropOverflow();
    this.#dispatch();
  }

  info(): QueueInfo {
    return {
      name: this.name,
      messageCount: this.#readyCount(),
      consumerCount: this.#consumers.size,
      messageBytes: this.#readyBytes(),
    };
  }

  /**
   * Ready messages, returned ones waiting for their count to be written included: nothing goes
   * straight to a consumer past those.
   */
  #readyCount(): number {
    return this.#ready.count + (this.#returning?.size ?? 0);
  }

  #readyBytes(): number {
    return this.#ready.bytes + this.#returningBytes;
  }

  stats(): QueueStats {
    return {
      ready: this.#readyCount(),
      readyBytes: this.#readyBytes(),
      unacked: this.#unacked?.size ?? 0,
      delayed: this.#delayed.length,
      consumers: this.#consumers.size,
    };
  }

  /** Restarts the `expiresMs` countdown: the queue was used (declare, consume, get). */
  touch(): void {
    const ttl = this.options.expiresMs;
    if (ttl === undefined || this.#state !== 'open') return;
    this.#idleTimer ??= new QueueTimer(this.#deps.exec, () => this.#idleExpired());
    this.#idleTimer.armAt(this.#deps.exec.now() + ttl);
  }

  enqueue(message: Message): { accepted: boolean; durable: Promise<void> } {
    this.#assertOpen();
    if (message.body.length > this.#deps.limits.messageBytesMax) {
      throw brokerError(
        ErrorCode.resourceExhausted,
        `Message of ${message.body.length} bytes exceeds messageBytesMax`,
      );
    }
    const delayMs = delayOf(message);
    const countedBytes = this.#countedBytes(message);
    if (delayMs === 0 && this.#wouldOverflow(countedBytes))
      return this.#rejectPublish(message, this.#deps.exec.now());
    // The consumer it would go to at once, chosen once: it decides how a quorum queue stores it and
    // then receives it (choosing again walked the consumers a second time for every publish).
    let straight = delayMs === 0 ? this.#straightPick() : undefined;
    if (straight?.options.offer !== undefined) {
      if (this.#offered(straight, message)) return acceptedNow;
      // Declined: whatever the adapter did meanwhile may have used the consumer's room.
      if (!hasCredit(straight)) straight = undefined;
    }
    const store = message.properties.persistent === true ? this.#store : undefined;
    // The clock is read only for what needs the time (a delay, an expiry, a stored envelope): a read
    // costs a fair part of a transient message's enqueue on some machines.
    const timed = delayMs > 0 || store !== undefined || this.#mayExpire(message);
    const now = timed ? this.#deps.exec.now() : 0;
    const readyAtMs = delayMs > 0 ? now + delayMs : undefined;
    const expiresAtMs = this.#expiryFor(message, readyAtMs ?? now);
    const m = newRecord(message, countedBytes, this.#priorityOf(message), expiresAtMs);
    let durable = resolved;
    if (store !== undefined) {
      const envelope = newEnvelope(now, expiresAtMs, readyAtMs);
      const appended = this.#appendNew(store, message, envelope, this.#countsKept ? straight : undefined);
      m.offset = appended.offset;
      durable = appended.durable;
      if (!this.#deps.bodies.reserve(m.bodyBytes)) m.message = undefined;
    }
    if (readyAtMs !== undefined) this.#delay(m, readyAtMs);
    else this.#makeReady(m, true, straight);
    return durable === resolved ? acceptedNow : { accepted: true, durable };
  }

  /**
   * A quorum queue's message that goes to a consumer as it arrives (`straight`, acking) is stored
   * with the count a restart should give it, 1, in its own entry: no count record to write and wait
   * for before the delivery goes out. Were the entry lost to a crash, the message would be too.
   */
  #appendNew(
    store: QueueStore,
    message: Message,
    envelope: QueueEnvelope,
    straight: ConsumerState | undefined,
  ): ReturnType<QueueStore['append']> {
    if (straight === undefined || straight.noAck) return store.append(message, envelope);
    const appended = store.append(message, { ...envelope, deliveryCount: 1 });
    store.noteCount(appended.offset, 1);
    return appended;
  }

  consume(options: ConsumeOptions): Consumer {
    this.#assertOpen();
    const c: ConsumerState = {
      options,
      tag: options.tag,
      owner: options.owner,
      noAck: options.noAck === true,
      priority: options.priority ?? 0,
      prefetch: options.prefetch ?? 0,
      unacked: 0,
      cancelled: false,
      turn: 0,
      slot: -1,
      aside: undefined,
    };
    this.#consumers.add(c);
    this.#hadConsumer = true;
    this.#limits.add(watchedLimits(options));
    this.touch();
    const single = this.options.singleActiveConsumer === true;
    // Deliveries start after consume returns, so an adapter can confirm the consumer first (AMQP consume-ok).
    this.#deps.exec.defer(() => {
      if (c.cancelled) return;
      if (single) options.activeChanged?.(this.#consumers.active === c);
      this.#dispatch();
    });
    return this.#consumerHandle(c);
  }

  /**
   * Undefined when no returned message waits for its count; else resolves once none does (each
   * landed, or the queue was emptied, closed or failed), at most `returnWaitMsMax` from now. A get
   * that follows a return waits for it, as RabbitMQ applies a get after the return before it.
   */
  returnsLanded(): Promise<void> | undefined {
    if (this.#returning === undefined || this.#returning.size === 0) return undefined;
    return new Promise<void>((resolve) => {
      const timer = this.#deps.exec.after(returnWaitMsMax, resolve);
      this.#landingWaiters.push(() => {
        timer.cancel();
        resolve();
      });
    });
  }

  /**
   * Undefined when no delivery count is being written; else resolves once every count recorded so far
   * is written (rejects if the write failed). A get's delivery is shown only after it: should the
   * broker crash, the restart counts it as returned, as RabbitMQ's log holds a delivery before it goes.
   */
  countsWritten(): Promise<void> | undefined {
    return this.#countsKept ? this.#store?.countsWritten() : undefined;
  }

  #landed(): void {
    if ((this.#returning?.size ?? 0) > 0) return;
    const waiters = this.#landingWaiters;
    this.#landingWaiters = [];
    for (const wake of waiters) wake();
  }

  get(options: { noAck: boolean; owner: string }): Delivery | undefined {
    this.#assertOpen();
    this.touch();
    this.#expireHeads();
    const m = this.#ready.shift();
    if (m === undefined) return undefined;
    return this.#handOut(m, undefined, options.owner, options.noAck);
  }

  ack(id: number): void {
    if (id <= this.#deps.idBase || this.#state !== 'open') return;
    const m = this.#takeUnacked(id);
    this.#remove(m);
    this.#dispatch();
  }

  nack(id: number, requeue: boolean): void {
    if (id <= this.#deps.idBase || this.#state !== 'open') return;
    this.#settling(() => {
      const m = this.#takeUnacked(id);
      m.deliveryCount++;
      if (requeue) this.#requeue(m);
      else this.#deadLetter(m, 'rejected');
    });
    this.#dispatch();
  }

  requeue(id: number, options: RequeueOptions): void {
    if (id <= this.#deps.idBase || this.#state !== 'open') return;
    this.#settling(() => {
      const m = this.#takeUnacked(id);
      if (options.counted) m.deliveryCount++;
      if (options.atTail) this.#requeueAtTail(m);
      else this.#requeue(m);
    });
    this.#dispatch();
  }

  /**
   * Runs `fn`, which takes deliveries back, with dispatch held until it is done: the credit a taken
   * delivery gives back wakes this queue at once (a channel-wide limit), and a message being returned
   * must be ready before the one behind it goes out, as RabbitMQ requeues before it delivers again.
   */
  #settling(fn: () => void): void {
    const outer = this.#dispatching;
    this.#dispatching = true;
    try {
      fn();
    } finally {
      this.#dispatching = outer;
    }
  }

  holdsStored(offset: number): boolean {
    return this.#store?.holds(offset) ?? false;
  }

  holdFor(id: number, timeoutMs: number): Promise<boolean> {
    if (!Number.isSafeInteger(timeoutMs) || timeoutMs <= 0 || timeoutMs > durationMsMax) {
      throw brokerError(ErrorCode.invalidArgument, `A hold of ${timeoutMs} ms on queue '${this.name}'`);
    }
    if (id <= this.#deps.idBase || this.#state !== 'open' || this.#unacked?.has(id) !== true) {
      return Promise.resolve(false);
    }
    return this.#holds.arm(id, timeoutMs, () => this.requeue(id, { atTail: true, counted: true }));
  }

  /** Cancels the owner's consumers (quietly: the owner is going away), then requeues what it held. */
  releaseOwner(owner: string): void {
    const mine = this.#consumers.all.filter((c) => c.owner === owner);
    for (const c of mine) this.#cancel(c, false);
    const ids = this.#byOwner?.get(owner)?.ids() ?? [];
    this.#settling(() => {
      for (const id of ids.sort((a, b) => a - b)) {
        const started = this.#startedFor(id);
        const m = this.#takeUnacked(id);
        m.deliveryCount++;
        if (started) m.expiresAtMs = undefined;
        this.#requeue(m);
      }
    });
    this.#byOwner?.delete(owner);
    this.#dispatch();
    // Consumers that went with their owner count as cancelled for auto-delete.
    if (mine.length > 0) this.#maybeAutoDelete();
  }

  purge(): number {
    this.#assertOpen();
    // One at a time: a backlog of millions is never turned into objects all at once.
    let purged = 0;
    for (let m = this.#ready.shift(); m !== undefined; m = this.#ready.shift()) {
      this.#remove(m);
      purged++;
    }
    for (const { m } of this.#delayed) this.#remove(m);
    purged += this.#delayed.length;
    this.#delayed = [];
    const returning = this.#takeAllReturning();
    for (const m of returning) this.#remove(m);
    purged += returning.length;
    this.#expiryTimer?.cancel();
    this.#delayTimer?.cancel();
    return purged;
  }

  async destroy(): Promise<void> {
    if (this.#state === 'destroyed') return;
    this.#state = 'destroyed';
    this.#stopTimers();
    for (const c of this.#consumers.all) this.#cancel(c, false, 'queue deleted');
    this.#forgetMessages();
    const store = this.#store;
    this.#store = undefined;
    await store?.destroy();
  }

  async abandon(reason: string): Promise<void> {
    if (this.#state === 'destroyed' || this.#state === 'failed') return;
    this.#state = 'failed';
    this.#stopTimers();
    for (const c of this.#consumers.all) this.#cancel(c, false, reason);
    const store = this.#store;
    this.#store = undefined;
    this.#forgetMessages();
    await store?.abandon();
  }

  async close(): Promise<void> {
    if (this.#state !== 'open') return;
    this.#state = 'closed';
    this.#stopTimers();
    this.#limits.clear();
    const store = this.#store;
    this.#forgetMessages();
    await store?.close();
  }

  // ---- enqueue helpers

  #priorityOf(message: Message): number {
    const max = this.options.priorityMax;
    if (max === undefined) return 0;
    const p = message.properties.priority ?? 0;
    return Math.max(0, Math.min(max, Math.floor(p)));
  }

  /** True when `#expiryFor` gives the message an expiry. */
  #mayExpire(message: Message): boolean {
    return this.options.messageTtlMs !== undefined || message.properties.expirationMs !== undefined;
  }

  #expiryFor(message: Message, fromMs: number): number | undefined {
    const queueTtl = this.options.messageTtlMs;
    const messageTtl = message.properties.expirationMs;
    if (queueTtl === undefined && messageTtl === undefined) return undefined;
    const ttl =
      queueTtl === undefined
        ? messageTtl!
        : messageTtl === undefined
          ? queueTtl
          : Math.min(queueTtl, messageTtl);
    return fromMs + Math.max(0, ttl);
  }

  /**
   * What a message counts in the queue's bytes (`messageBytes`, x-max-length-bytes): its body, as
   * RabbitMQ counts; with `countsPropertyBytes` its properties too (MQTT sessions, whose bound an
   * empty body carrying a MiB of user properties would otherwise pass).
   */
  #countedBytes(message: Message): number {
    const body = message.body.length;
    return this.options.countsPropertyBytes === true ? body + propertyBytes(message.properties) : body;
  }

  #wouldOverflow(bytes: number): boolean {
    const policy = this.options.overflow ?? 'drop-head';
    if (policy === 'drop-head') return false;
    const { lengthMax, bytesMax } = this.options;
    if (lengthMax !== undefined && this.#readyCount() + 1 > lengthMax) return true;
    return bytesMax !== undefined && this.#readyBytes() + bytes > bytesMax;
  }

  #rejectPublish(message: Message, now: number): { accepted: boolean; durable: Promise<void> } {
    if (this.options.overflow === 'reject-publish-dlx') this.#sendToDlx(message, 'maxlen', now);
    return { accepted: false, durable: resolved };
  }

  /** ConsumeOptions.offer of `c`, the consumer a new message would go to at once: true when it took it. */
  #offered(c: ConsumerState, message: Message): boolean {
    if (c.options.offer === undefined || !c.options.offer(message)) return false;
    this.#consumers.served(c);
    return true;
  }

  /** `straight`: the consumer a new message goes to at once (`#straightPick`), if any. */
  #makeReady(m: QueuedMessage, fresh: boolean, straight?: ConsumerState): void {
    m.id = this.#deps.nextId();
    if (straight !== undefined) {
      this.#handedStraight(m, straight);
      return;
    }
    this.#ready.insert(m);
    this.#freshId = fresh ? m.id : 0;
    try {
      this.#dispatch();
    } finally {
      this.#freshId = 0;
    }
    this.#dropOverflow();
    this.#expireHeads();
  }

  /**
   * A new message with nothing ready before it goes to a consumer with credit at once, as the dispatch
   * would send it, without being written into the ready list's columns and read back as a new
   * object: on a queue that keeps up that was every message.
   */
  #handedStraight(m: QueuedMessage, c: ConsumerState): void {
    this.#consumers.served(c);
    // As in #dispatch: what the delivery sets off (an ack, a publish to this queue) dispatches after it.
    this.#dispatching = true;
    this.#dispatchAgain = false;
    try {
      this.#handOut(m, c, c.owner, c.noAck);
    } finally {
      this.#dispatching = false;
    }
    if (this.#dispatchAgain) this.#dispatch();
    this.#expireHeads();
  }

  /** The consumer a new message would go to at once (`#handedStraight`), if any: one pick per publish. */
  #straightPick(): ConsumerState | undefined {
    if (this.#readyCount() > 0 || this.#dispatching || this.#state !== 'open') return undefined;
    return this.#consumers.pick();
  }

  /**
   * Drops from the head while the ready messages are over a limit. A quorum queue's returned message
   * whose count is being written counts, as it does for reject-publish, and is the head: RabbitMQ
   * counts every ready message toward the limits and serves (and drops) its returns first.
   */
  #dropOverflow(): void {
    if ((this.options.overflow ?? 'drop-head') !== 'drop-head') return;
    const { lengthMax, bytesMax } = this.options;
    for (let n = this.#readyCount(); n > 0; n--) {
      const over =
        (lengthMax !== undefined && this.#readyCount() > lengthMax) ||
        (bytesMax !== undefined && this.#readyBytes() > bytesMax);
      if (!over) return;
      this.#deadLetter(this.#takeReturning() ?? this.#ready.shift()!, 'maxlen');
    }
  }

  /** The oldest returned message whose count is being written, taken out of `#returning`. */
  #takeReturning(): QueuedMessage | undefined {
    const returning = this.#returning;
    if (returning === undefined || returning.size === 0) return undefined;
    const [id, m] = returning.entries().next().value!;
    returning.delete(id);
    this.#returningBytes -= m.bodyBytes;
    this.#lengths.ready--;
    // Dispatch waited for it: once none is left, what is ready goes again.
    this.#deps.exec.defer(() => this.#dispatch());
    this.#landed();
    return m;
  }

  // ---- delivery

  #dispatch(): void {
    if (this.#state !== 'open') return;
    if (this.#dispatching) {
      this.#dispatchAgain = true;
      return;
    }
    this.#dispatching = true;
    try {
      for (let round = 0; round < dispatchRoundsMax; round++) {
        this.#dispatchAgain = false;
        this.#dispatchRound();
        if (!this.#dispatchAgain) return;
      }
      assert(false, 'dispatch did not settle');
    } finally {
      this.#dispatching = false;
    }
  }

  #dispatchRound(): void {
    // A quorum queue serves returned messages before later ones (RabbitMQ's returns come first): none
    // goes past one whose count is still being written.
    if (this.#returning !== undefined && this.#returning.size > 0) return;
    for (let n = this.#ready.count; n > 0 && this.#state === 'open'; n--) {
      if (this.#ready.count === 0) return;
      if (this.#headExpired()) {
        this.#deadLetter(this.#ready.shift()!, 'expired');
        continue;
      }
      const c = this.#consumers.pick();
      if (c === undefined) return;
      const m = this.#ready.shift()!;
      this.#consumers.served(c);
      this.#handOut(m, c, c.owner, c.noAck);
    }
  }

  /** Turns a message taken from the ready list into a delivery and gives it to `c` (or returns it for get). */
  #handOut(
    m: QueuedMessage,
    c: ConsumerState | undefined,
    owner: string,
    noAck: boolean,
  ): Delivery | undefined {
    const message = this.#load(m, true);
    if (message === undefined) return undefined;
    const delivery: Delivery = {
      queue: this.name,
      id: m.id,
      message,
      redelivered: m.redelivered,
      deliveryCount: m.deliveryCount,
      remaining: this.#ready.count,
      storedAt: m.offset >= 0 ? m.offset : undefined,
      expiresAtMs: m.expiresAtMs,
    };
    let counted: Promise<void> | undefined;
    if (noAck) this.#remove(m);
    else {
      this.#hold(m, c, owner);
      // Should the broker stop or crash before the ack, the delivery counts as returned (RabbitMQ's return).
      if (this.#countsKept && m.offset >= 0)
        counted = this.#store?.recordCount(m.offset, m.deliveryCount + 1);
    }
    if (c === undefined) return delivery;
    if (counted === undefined && c.waiting === undefined) c.options.deliver(delivery);
    else this.#sendAfter(c, delivery, counted);
    return undefined;
  }

  /**
   * `delivery` goes to `c` once its count record (`counted`) is written and the deliveries before it
   * went: a consumer never sees a delivery a crash could leave uncounted, as RabbitMQ's quorum queue
   * sends one only once its log holds it. Count records are written in order, so each is numbered
   * and one number, the last landed, says which waiting deliveries may go.
   */
  #sendAfter(c: ConsumerState, delivery: Delivery, counted: Promise<void> | undefined): void {
    if (counted !== undefined && counted !== this.#lastCounted) {
      this.#lastCounted = counted;
      const seq = ++this.#countsAwaited;
      this.#deps.exec.follow(counted, () => this.#countsLanded(seq));
    }
    if (c.waiting === undefined) {
      c.waiting = [];
      c.waitingSeqs = [];
    }
    c.waiting.push(delivery);
    c.waitingSeqs!.push(counted === undefined ? 0 : this.#countsAwaited);
    this.#waitingConsumers ??= new Set();
    this.#waitingConsumers.add(c);
  }

  /** Count record `seq` (and every one before it) is written: what waited for them goes. */
  #countsLanded(seq: number): void {
    this.#countsWrittenSeq = Math.max(this.#countsWrittenSeq, seq);
    if (this.#state !== 'open' || this.#waitingConsumers === undefined) return;
    // What a delivery sets off (an ack, a publish here) dispatches after the lot, keeping their order.
    this.#settling(() => {
      for (const c of [...this.#waitingConsumers!]) this.#sendWaiting(c);
    });
    this.#dispatch();
  }

  #sendWaiting(c: ConsumerState): void {
    const waiting = c.waiting;
    const seqs = c.waitingSeqs;
    if (waiting === undefined || seqs === undefined) return;
    let due = 0;
    while (due < waiting.length && seqs[due]! <= this.#countsWrittenSeq) due++;
    const sent = due === waiting.length ? waiting : waiting.splice(0, due);
    if (sent === waiting) this.#stopWaiting(c);
    else seqs.splice(0, due);
    for (const delivery of sent) {
      if (this.#unacked?.get(delivery.id)?.holder === c && !c.cancelled) c.options.deliver(delivery);
    }
  }

  /** `c` has no delivery waiting any more; returns those it had. */
  #stopWaiting(c: ConsumerState): readonly Delivery[] | undefined {
    const waiting = c.waiting;
    c.waiting = undefined;
    c.waitingSeqs = undefined;
    this.#waitingConsumers?.delete(c);
    return waiting;
  }

  /**
   * Deliveries `c` was never shown, back to the queue uncounted (their lower count written) and
   * flagged redelivered only if they were before.
   */
  #giveBack(waiting: readonly Delivery[], c: ConsumerState): void {
    this.#settling(() => {
      for (const delivery of waiting) {
        if (this.#unacked?.get(delivery.id)?.holder !== c) continue;
        const m = this.#takeUnacked(delivery.id);
        this.#requeue(m);
        m.redelivered = delivery.redelivered;
      }
    });
  }

  /**
   * The message with its body, read back from the log when memory did not keep it; drops unreadable
   * ones. `ahead`: `m` just left the head of the ready list, so the messages behind it come next.
   */
  #load(m: QueuedMessage, ahead = false): Message | undefined {
    if (m.message !== undefined) return m.message;
    assert(this.#store !== undefined && m.offset >= 0, 'message without body nor log');
    try {
      if (!ahead) return this.#store.read(m.offset);
      // A run no larger than the budget can keep: with the budget full (other queues' bodies), one
      // entry is read rather than a whole run decoded for the one message it serves.
      const run = this.#store.readRun(m.offset, Math.min(readAheadBytesMax, this.#deps.bodies.freeBytes));
      this.#attachAhead(m.priority, run);
      return run[0]!.message;
    } catch (err) {
      if (!isBrokerError(err, ErrorCode.storageCorrupt)) {
        // The log itself failed: this queue cannot serve; its supervisor takes it from here.
        this.#deps.exec.fail(err);
        return undefined;
      }
      // Nothing readable to serve: the entry is lost, and serving garbage would be worse.
      this.#remove(m);
      return undefined;
    }
  }

  /** Gives the next ready messages of one priority their bodies from `run` while the budget has room. */
  #attachAhead(priority: number, run: readonly StoredMessage[]): void {
    if (run.length < 2) return;
    const byOffset = new Map<number, Message>();
    for (let i = 1; i < run.length; i++) byOffset.set(run[i]!.offset, run[i]!.message);
    // Twice the run: room for transient and requeued messages interleaved with the stored ones.
    for (const next of this.#ready.paged(priority, 2 * run.length)) {
      const message = byOffset.get(next.offset);
      if (message === undefined) continue;
      if (!this.#deps.bodies.reserve(next.bodyBytes)) return;
      this.#ready.attach(next.id, message);
    }
  }

  #delay(m: QueuedMessage, readyAtMs: number): void {
    this.#delayed.splice(this.#delayedIndex(readyAtMs), 0, { readyAtMs, m });
    this.#armDelayTimer();
  }

  #hold(m: QueuedMessage, c: ConsumerState | undefined, owner: string): void {
    // Held deliveries keep no stored body in memory: a requeue reads it back from the log.
    this.#uncache(m);
    m.holder = c ?? owner;
    this.#unacked ??= new IdTable();
    this.#unacked.set(m.id, m);
    this.#byOwner ??= new Map();
    this.#lengths.unacked++;
    let held = this.#byOwner.get(owner);
    if (held === undefined) {
      held = new IdTable();
      this.#byOwner.set(owner, held);
    }
    held.set(m.id, true);
    if (c === undefined) return;
    c.unacked++;
    for (const limit of c.options.limits ?? []) limit.take();
  }

  /** The unacked delivery `id` is held by a consumer that keeps started deliveries from expiring. */
  #startedFor(id: number): boolean {
    const holder = this.#unacked?.get(id)?.holder;
    return typeof holder === 'object' && holder.options.keepsStartedDeliveries === true;
  }

  #takeUnacked(id: number): QueuedMessage {
    const m = this.#unacked?.get(id);
    if (m === undefined)
      throw brokerError(ErrorCode.invalidState, `Unknown delivery id ${id} on queue '${this.name}'`);
    this.#unacked?.delete(id);
    this.#lengths.unacked--;
    const c = m.holder;
    m.holder = undefined;
    assert(c !== undefined, 'unacked message without holder');
    this.#holds.settle(id);
    const owner = typeof c === 'string' ? c : c.owner;
    const held = this.#byOwner?.get(owner);
    held?.delete(id);
    // Kept while its consumer is attached (it takes the next delivery); a get's owner or a cancelled
    // consumer's holds nothing more, so its emptied set goes.
    if (held?.size === 0 && (typeof c === 'string' || c.cancelled)) this.#byOwner?.delete(owner);
    if (typeof c !== 'string') {
      c.unacked--;
      this.#consumers.credited(c);
      for (const limit of c.options.limits ?? []) limit.release(1);
    }
    return m;
  }

  #requeue(m: QueuedMessage): void {
    if (this.#overDeliveryLimit(m)) return;
    m.redelivered = true;
    const store = this.#store;
    if (this.#countsKept && m.offset >= 0 && store !== undefined) {
      this.#returnWhenCounted(m, store);
      return;
    }
    this.#ready.insert(m);
    this.#expireHeads();
  }

  /**
   * A quorum queue's message is ready again once its count is written, as RabbitMQ applies a return
   * only once its log holds it: a consumer that saw the redelivery counted N finds N or more after a
   * crash. The count was mostly written with the delivery, so the wait is usually a microtask.
   */
  #returnWhenCounted(m: QueuedMessage, store: QueueStore): void {
    store.recordCount(m.offset, m.deliveryCount);
    this.#returning ??= new Map();
    this.#returning.set(m.id, m);
    this.#returningBytes += m.bodyBytes;
    // Ready in the running totals too (overview, samples, metrics), as in messageCount.
    this.#lengths.ready++;
    this.#deps.exec.follow(store.countsWritten(), () => this.#returned(m.id));
  }

  #returned(id: number): void {
    const m = this.#returning?.get(id);
    if (m === undefined || this.#state !== 'open') return;
    this.#returning!.delete(id);
    this.#returningBytes -= m.bodyBytes;
    this.#lengths.ready--;
    this.#ready.insert(m);
    this.#expireHeads();
    this.#dispatch();
    this.#landed();
  }

  /** Empties `#returning` (purge, close), its messages no longer counted ready. */
  #takeAllReturning(): QueuedMessage[] {
    const all = [...(this.#returning?.values() ?? [])];
    this.#returning = undefined;
    this.#returningBytes = 0;
    this.#lengths.ready -= all.length;
    this.#landed();
    return all;
  }

  /** Dead-letters `m` when it has failed more often than the queue's delivery limit allows. */
  #overDeliveryLimit(m: QueuedMessage): boolean {
    const limit = this.options.deliveryLimit;
    if (limit === undefined || m.deliveryCount <= limit) return false;
    this.#deadLetter(m, 'delivery_limit');
    return true;
  }

  /** Behind every ready message: a new id, and for a stored message a new log entry carrying its count. */
  #requeueAtTail(m: QueuedMessage): void {
    if (this.#overDeliveryLimit(m)) return;
    m.redelivered = true;
    if (m.offset >= 0 && this.#store !== undefined && !this.#storeAgain(m)) return;
    this.#makeReady(m, false);
  }

  /**
   * Appends `m` again so that a restart finds it at its new place with its delivery count; the old
   * entry is removed once the new one is durable (a crash in between keeps both: at least once).
   */
  #storeAgain(m: QueuedMessage): boolean {
    const store = this.#store!;
    const message = this.#load(m);
    if (message === undefined) return false;
    const envelope = { enqueuedAtMs: this.#deps.exec.now(), deliveryCount: m.deliveryCount };
    const appended = store.append(message, { ...envelope, ...optional({ expiresAtMs: m.expiresAtMs }) });
    const old = m.offset;
    m.offset = appended.offset;
    m.message = undefined;
    this.#deps.exec.follow(appended.durable, () => {
      if (this.#store === store) store.remove(old);
    });
    return true;
  }

  // ---- consumers

  #consumerHandle(c: ConsumerState): Consumer {
    return {
      tag: c.tag,
      queue: this.name,
      setPrefetch: (prefetch: number) => {
        assert(Number.isSafeInteger(prefetch) && prefetch >= 0, 'prefetch must be a whole number');
        c.prefetch = prefetch;
        this.#consumers.credited(c);
        this.#deps.exec.defer(() => this.#dispatch());
      },
      cancel: () => this.#cancel(c, true),
    };
  }

  /** Detaches `c`; its unacked deliveries stay with their owner (AMQP basic.cancel does not requeue). */
  #cancel(c: ConsumerState, mayDelete: boolean, reason?: string): void {
    if (c.cancelled) return;
    const wasActive = this.#consumers.active === c;
    c.cancelled = true;
    this.#consumers.remove(c);
    const waiting = this.#stopWaiting(c);
    // Its owner's set of held ids, kept while it consumed, goes once nothing is held in it.
    if (this.#byOwner?.get(c.owner)?.size === 0) this.#byOwner.delete(c.owner);
    this.#limits.remove(watchedLimits(c.options));
    if (reason !== undefined) c.options.cancelled?.(reason);
    if (this.#state !== 'open') return;
    // Never shown, so back uncounted, however the consumer went (an owner's release too: its count
    // is for what the consumer saw).
    if (waiting !== undefined) this.#giveBack(waiting, c);
    const next = this.#consumers.active;
    if (wasActive && next !== undefined) next.options.activeChanged?.(true);
    if (this.#consumers.size > 0) {
      // Detaching gives no other consumer credit, so only a new active consumer has something to
      // take. A dispatch on every detach, each looking through the consumers left, cost a channel
      // closing with thousands of consumers of a queue with a backlog their number squared.
      if (wasActive) this.#dispatch();
      return;
    }
    this.touch();
    if (mayDelete) this.#maybeAutoDelete();
  }

  #maybeAutoDelete(): void {
    if (this.#state !== 'open' || this.#consumers.size > 0) return;
    if (this.options.autoDelete === true && this.#hadConsumer) this.#deps.hooks.requestDelete('auto_delete');
  }

  // ---- time

  #isExpired(m: QueuedMessage, now: number): boolean {
    return m.expiresAtMs !== undefined && now >= m.expiresAtMs && m.id !== this.#freshId;
  }

  /**
   * `#isExpired` of the ready list's head, read without making the head's object, and the clock read
   * only when the head has an expiry: this runs once per delivery.
   */
  #headExpired(): boolean {
    const expiresAtMs = this.#ready.headExpiresAtMs();
    if (expiresAtMs === undefined || this.#ready.headId() === this.#freshId) return false;
    return this.#deps.exec.now() >= expiresAtMs;
  }

  /** Dead-letters expired messages at the head of every priority level, then re-arms for the next. */
  #expireHeads(): void {
    if (this.#state !== 'open') return;
    // Runs after every enqueue: a queue none of whose ready messages can expire needs no scan.
    if (!this.#ready.mayExpire) {
      this.#expiryTimer?.cancel();
      return;
    }
    const now = this.#deps.exec.now();
    let next: number | undefined;
    for (const head of this.#ready.heads()) {
      let m: QueuedMessage | undefined = head;
      for (let n = this.#ready.count; m !== undefined && n > 0; n--) {
        if (!this.#isExpired(m, now)) break;
        this.#deadLetter(this.#ready.shiftLevel(m.priority)!, 'expired');
        m = this.#ready.heads().find((h) => h.priority === head.priority);
      }
      if (m?.expiresAtMs !== undefined) next = Math.min(next ?? Infinity, m.expiresAtMs);
    }
    if (next === undefined) {
      this.#expiryTimer?.cancel();
      return;
    }
    this.#expiryTimer ??= new QueueTimer(this.#deps.exec, () => this.#expireHeads());
    this.#expiryTimer.armAt(next);
  }

  #delayedIndex(readyAtMs: number): number {
    let lo = 0;
    let hi = this.#delayed.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#delayed[mid]!.readyAtMs <= readyAtMs) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #armDelayTimer(): void {
    const due = this.#delayed[0]?.readyAtMs;
    if (due === undefined) {
      this.#delayTimer?.cancel();
      return;
    }
    this.#delayTimer ??= new QueueTimer(this.#deps.exec, () => this.#releaseDelayed());
    this.#delayTimer.armAt(due);
  }

  #releaseDelayed(): void {
    if (this.#state !== 'open') return;
    const now = this.#deps.exec.now();
    let due = 0;
    while (due < this.#delayed.length && this.#delayed[due]!.readyAtMs <= now) due++;
    const ready = this.#delayed.splice(0, due);
    for (const { m } of ready) this.#makeReady(m, false);
    this.#armDelayTimer();
  }

  #idleExpired(): void {
    if (this.#state !== 'open') return;
    if (this.#consumers.size > 0) {
      this.touch();
      return;
    }
    this.#deps.hooks.requestDelete('expired');
  }

  #stopTimers(): void {
    this.#holds.clear();
    this.#expiryTimer?.cancel();
    this.#delayTimer?.cancel();
    this.#idleTimer?.cancel();
  }

  // ---- removal and dead-lettering

  #uncache(m: QueuedMessage): void {
    if (m.offset < 0 || m.message === undefined) return;
    this.#deps.bodies.release(m.bodyBytes);
    m.message = undefined;
  }

  /** The message leaves the queue for good. */
  #remove(m: QueuedMessage): void {
    this.#uncache(m);
    if (m.offset >= 0) this.#store?.remove(m.offset);
  }

  #deadLetter(m: QueuedMessage, reason: DeadLetterReason): void {
    const message = this.options.deadLetterExchange === undefined ? undefined : this.#load(m);
    this.#remove(m);
    if (message !== undefined) this.#sendToDlx(message, reason, this.#deps.exec.now());
  }

  #sendToDlx(message: Message, reason: DeadLetterReason, now: number): void {
    const exchange = this.options.deadLetterExchange;
    if (exchange === undefined) return;
    const dead = withDeath(message, { queue: this.name, reason, nowMs: now });
    try {
      this.#deps.hooks.deadLetter(dead, exchange, this.options.deadLetterRoutingKey ?? message.routingKey);
    } catch (err) {
      // A missing or refusing dead-letter exchange drops the message, as RabbitMQ does.
      if (!isBrokerError(err)) throw err;
    }
  }

  #forgetMessages(): void {
    for (let m = this.#ready.shift(); m !== undefined; m = this.#ready.shift()) this.#uncache(m);
    for (const { m } of this.#delayed) this.#uncache(m);
    for (const id of this.#unacked?.ids() ?? []) this.#takeUnacked(id);
    this.#delayed = [];
    for (const m of this.#takeAllReturning()) this.#uncache(m);
  }

  /** `count`: the delivery count the removals log recorded for it (quorum queues), else 0. */
  #recover(offset: number, decoded: DecodedMessage, count: number, overLimit: QueuedMessage[]): void {
    const { message, envelope } = decoded;
    const m = newRecord(
      message,
      this.#countedBytes(message),
      this.#priorityOf(message),
      envelope?.expiresAtMs,
    );
    m.offset = offset;
    // Whether it reached a consumer before the restart is not recorded for a classic queue, so it may have: say so.
    m.redelivered = true;
    m.deliveryCount = Math.max(envelope?.deliveryCount ?? 0, count);
    const limit = this.options.deliveryLimit;
    if (limit !== undefined && m.deliveryCount > limit) {
      // No body kept: dead-lettering reads it back, once the store is open.
      m.message = undefined;
      overLimit.push(m);
      return;
    }
    if (this.#deps.bodies.reserve(m.bodyBytes)) {
      // A copy, so the cache does not pin the whole read buffer.
      m.message = { ...message, body: message.body.slice() };
    } else {
      m.message = undefined;
    }
    const readyAtMs = envelope?.readyAtMs;
    if (readyAtMs !== undefined && readyAtMs > this.#deps.exec.now()) this.#delay(m, readyAtMs);
    else {
      m.id = this.#deps.nextId();
      this.#ready.insert(m);
    }
  }

  #assertOpen(): void {
    if (this.#state !== 'open')
      throw brokerError(ErrorCode.invalidState, `Queue '${this.name}' is ${this.#state}`);
  }
}

function newRecord(
  message: Message,
  bodyBytes: number,
  priority: number,
  expiresAtMs: number | undefined,
): QueuedMessage {
  return {
    id: 0,
    priority,
    offset: -1,
    bodyBytes,
    expiresAtMs,
    deliveryCount: 0,
    redelivered: false,
    message,
    holder: undefined,
  };
}

/** `delayMs` (AMQP `x-delay`) in whole milliseconds; absent, non-finite or not positive means no delay. */
function delayOf(message: Message): number {
  const ms = message.properties.delayMs;
  if (ms === undefined || !Number.isFinite(ms) || ms <= 0) return 0;
  return Math.min(Math.floor(ms), durationMsMax);
}

/** The envelope of a message stored on arrival; the optional times only when set. */
function newEnvelope(
  enqueuedAtMs: number,
  expiresAtMs: number | undefined,
  readyAtMs: number | undefined,
): QueueEnvelope {
  if (expiresAtMs === undefined && readyAtMs === undefined) return { enqueuedAtMs, deliveryCount: 0 };
  return { enqueuedAtMs, deliveryCount: 0, ...optional({ expiresAtMs, readyAtMs }) };
}

function optional<T extends Record<string, number | undefined>>(fields: T): Partial<Record<keyof T, number>> {
  const out: Partial<Record<keyof T, number>> = {};
  for (const key of Object.keys(fields) as Array<keyof T>) {
    const value = fields[key];
    if (value !== undefined) out[key] = value;
  }
  return out;
}
