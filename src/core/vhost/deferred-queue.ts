/**
 * A queue engine that may still be opening. `VirtualHost.declareQueue` answers at once, while opening
 * a queue engine is asynchronous (a durable queue opens its log). Until the engine is there, calls
 * that change state are kept in order and replayed onto it; a publish made meanwhile reports its
 * durability once the engine has taken the message. `get` on a queue still opening finds nothing.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { QueueEngine } from '../internal.js';
import type {
  ConsumeOptions,
  Consumer,
  Delivery,
  Message,
  QueueInfo,
  QueueOptions,
  RequeueOptions,
} from '../types.js';

interface Op {
  apply(engine: QueueEngine): void;
  refuse(err: unknown): void;
}

/** Engines may offer `touch()`, which restarts the `x-expires` timer. */
type Touchable = QueueEngine & { touch?(): void };

function notForStreams(queue: string): Error {
  return brokerError(ErrorCode.preconditionFailed, `Queue '${queue}' is a stream: deliveries only ack`);
}

export function refusedError(queue: string): Error {
  return brokerError(ErrorCode.resourceExhausted, `Queue '${queue}' is full and refuses new messages`);
}

export class DeferredQueue implements QueueEngine {
  readonly name: string;
  readonly options: QueueOptions;
  readonly ready: Promise<QueueEngine>;
  #engine: Touchable | undefined;
  /** Calls made while opening, in order, each with what to do if it cannot be applied. */
  #ops: Array<Op> = [];
  #abandoned: string | undefined;
  #failure: unknown;
  #pendingMessages = 0;
  #pendingConsumers = 0;
  #destroyed: Promise<void> | undefined;
  /** Deleted before its engine opened. */
  #deleted = false;

  constructor(name: string, options: QueueOptions, engine: QueueEngine | Promise<QueueEngine>) {
    this.name = name;
    this.options = options;
    if (!(engine instanceof Promise)) {
      this.#engine = engine;
      this.ready = Promise.resolve(engine);
      return;
    }
    this.ready = engine.then(
      (opened) => this.#opened(opened),
      (err: unknown) => this.#failed(err),
    );
    this.ready.catch(() => {});
  }

  get engine(): QueueEngine | undefined {
    return this.#engine;
  }

  info(): QueueInfo {
    if (this.#engine !== undefined) return this.#engine.info();
    return { name: this.name, messageCount: this.#pendingMessages, consumerCount: this.#pendingConsumers };
  }

  /**
   * A message waiting for a queue that is deleted before it opens is settled as delivered to it and
   * gone with it: RabbitMQ confirms the messages of a queue deleted normally (a nack means the broker
   * failed), so a publisher does not send again what was deleted on purpose.
   */
  enqueue(message: Message): { accepted: boolean; durable: Promise<void> } {
    if (this.#engine !== undefined) return this.#engine.enqueue(message);
    this.#checkNotFailed();
    this.#pendingMessages++;
    const durable = new Promise<void>((resolve, reject) => {
      this.#push(
        (engine) => {
          this.#pendingMessages--;
          const result = engine.enqueue(message);
          if (result.accepted) result.durable.then(resolve, reject);
          else reject(refusedError(this.name));
        },
        (err) => (this.#deleted ? resolve() : reject(err)),
      );
    });
    return { accepted: true, durable };
  }

  consume(options: ConsumeOptions): Consumer {
    if (this.#engine !== undefined) return this.#engine.consume(options);
    this.#checkNotFailed();
    const consumer = new DeferredConsumer(this.name, options);
    this.#pendingConsumers++;
    this.#push(
      (engine) => {
        this.#pendingConsumers--;
        consumer.attach(engine);
      },
      (err) => consumer.refuse(err),
    );
    return consumer;
  }

  get(options: { noAck: boolean; owner: string }): Delivery | undefined {
    return this.#engine?.get(options);
  }

  /**
   * An engine still opening has delivered nothing, so an id settled now was delivered by an earlier
   * incarnation of the name (deleted and declared again meanwhile): a no-op, as for an open engine.
   */
  ack(id: number): void {
    this.#engine?.ack(id);
  }

  nack(id: number, requeue: boolean): void {
    this.#engine?.nack(id, requeue);
  }

  requeue(id: number, options: RequeueOptions): void {
    const engine = this.#engineOrThrow();
    if (engine.requeue === undefined) throw notForStreams(this.name);
    engine.requeue(id, options);
  }

  holdFor(id: number, timeoutMs: number): Promise<boolean> {
    const engine = this.#engineOrThrow();
    if (engine.holdFor === undefined) throw notForStreams(this.name);
    return engine.holdFor(id, timeoutMs);
  }

  /** Undefined until the engine is open: what its log holds is not known before. */
  holdsStored(offset: number): boolean | undefined {
    const engine = this.#engine;
    return engine === undefined ? undefined : (engine.holdsStored?.(offset) ?? false);
  }

  /** Undefined until the engine is open: nothing was returned to it before. */
  returnsLanded(): Promise<void> | undefined {
    return this.#engine?.returnsLanded?.();
  }

  /** Undefined until the engine is open: nothing was delivered from it before. */
  countsWritten(): Promise<void> | undefined {
    return this.#engine?.countsWritten?.();
  }

  releaseOwner(owner: string): void {
    if (this.#engine !== undefined) this.#engine.releaseOwner(owner);
    else this.#push((engine) => engine.releaseOwner(owner));
  }

  purge(): number {
    if (this.#engine !== undefined) return this.#engine.purge();
    const count = this.#pendingMessages;
    this.#push((engine) => engine.purge());
    return count;
  }

  reconfigure(options: QueueOptions): void {
    if (this.#engine !== undefined) this.#engine.reconfigure?.(options);
    else this.#push((engine) => engine.reconfigure?.(options));
  }

  touch(): void {
    this.#engine?.touch?.();
  }

  /** Idempotent: the vhost may ask twice (a stream deleted both as queue and as stream). */
  destroy(): Promise<void> {
    if (this.#destroyed !== undefined) return this.#destroyed;
    // An open engine stops at once, so nothing it holds can be delivered after the call. One still
    // opening replays nothing once open: a consumer attached then would get deliveries numbered after
    // the next incarnation of the name began, and their acks would reach that one.
    if (this.#engine === undefined) this.#deleted = true;
    this.#destroyed =
      this.#engine !== undefined
        ? this.#engine.destroy()
        : this.ready.then(
            (engine) => engine.destroy(),
            () => undefined,
          );
    return this.#destroyed;
  }

  /** The queue failed: the engine (now or once open) stops serving; calls made meanwhile are refused. */
  abandon(reason: string): Promise<void> {
    this.#abandoned ??= reason;
    if (this.#engine !== undefined) return this.#engine.abandon(reason);
    return this.ready.then(
      (engine) => engine.abandon(reason),
      () => undefined,
    );
  }

  async close(): Promise<void> {
    const engine = await this.ready.catch(() => undefined);
    await engine?.close();
  }

  #opened(engine: QueueEngine): QueueEngine {
    this.#engine = engine;
    if (this.#abandoned !== undefined || this.#deleted) {
      const refused = this.#deleted
        ? brokerError(ErrorCode.notFound, `Queue '${this.name}' was deleted`)
        : brokerError(ErrorCode.storageFailed, this.#abandoned ?? '');
      for (const op of this.#ops.splice(0)) op.refuse(refused);
      return engine;
    }
    // Replay in call order; an op added while replaying (from a delivery callback) goes direct.
    // Each op's caller has long returned: an op that throws is that caller's loss, not the others'.
    for (const op of this.#ops.splice(0)) {
      try {
        op.apply(engine);
      } catch (err) {
        op.refuse(err);
      }
    }
    return engine;
  }

  #push(apply: (engine: QueueEngine) => void, refuse: (err: unknown) => void = () => {}): void {
    this.#ops.push({ apply, refuse });
  }

  #failed(err: unknown): never {
    this.#failure = err;
    for (const op of this.#ops.splice(0)) op.refuse(err);
    throw err;
  }

  #checkNotFailed(): void {
    if (this.#failure !== undefined) {
      throw brokerError(ErrorCode.invalidState, `Queue '${this.name}' failed to open`, this.#failure);
    }
  }

  /** Requeue and hold need the delivery itself, which an engine still opening has not made. */
  #engineOrThrow(): QueueEngine {
    if (this.#engine !== undefined) return this.#engine;
    throw brokerError(ErrorCode.invalidState, `Queue '${this.name}' has no delivery to settle yet`);
  }
}

/** A consumer registered before its queue finished opening; attaches itself once it has. */
class DeferredConsumer implements Consumer {
  readonly tag: string;
  readonly queue: string;
  readonly #options: ConsumeOptions;
  #inner: Consumer | undefined;
  #cancelled = false;

  constructor(queue: string, options: ConsumeOptions) {
    this.queue = queue;
    this.tag = options.tag;
    this.#options = { ...options };
  }

  attach(engine: QueueEngine): void {
    if (this.#cancelled) return;
    try {
      this.#inner = engine.consume(this.#options);
    } catch (err) {
      this.refuse(err);
    }
  }

  /** The queue could not take this consumer after all: the server cancels it. */
  refuse(err: unknown): void {
    if (this.#cancelled) return;
    this.#cancelled = true;
    this.#options.cancelled?.(err instanceof Error ? err.message : String(err));
  }

  setPrefetch(prefetch: number): void {
    if (this.#inner !== undefined) this.#inner.setPrefetch(prefetch);
    else this.#options.prefetch = prefetch;
  }

  cancel(): void {
    this.#cancelled = true;
    this.#inner?.cancel();
  }
}
