/**
 * The queues of one vhost as owned objects. Each declaration of a name is one *incarnation*: its own
 * engine, its own executor (fault boundary), and delivery ids drawn from the vhost's one counter, so an
 * id names one delivery of one incarnation forever. Nothing done to an incarnation reaches another:
 *
 * - A new incarnation opens its engine only once the previous one of that name has let go of its logs
 *   (deleted, or closed after a failure), so a delete followed at once by a declare cannot see or
 *   remove the new queue's data.
 * - Settling a delivery id from before the engine existed is a no-op (the delivery went with its queue).
 * - A failure caught by the executor abandons the engine (consumers hear why; memory and logs are let
 *   go) and, within the supervisor's restart intensity, puts a fresh incarnation in its place that
 *   recovers what the log holds. Past that, the queue stays failed until it is declared again.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { Storage } from '../../storage/types.js';
import type { CoreLimits } from '../api.js';
import type { Executor } from '../exec/executor.js';
import type { Supervisor } from '../exec/supervisor.js';
import type { QueueDeps, QueueEngine, QueueFactory, QueueHooks, StreamRegistry } from '../internal.js';
import type { BodyCache } from '../queues/body-cache.js';
import type { Message, QueueOptions } from '../types.js';
import type { QueueLengths } from '../views.js';
import { DeferredQueue } from './deferred-queue.js';

export interface QueueState {
  readonly name: string;
  /** As declared; changed only to adopt an option a later build adds (`Vhost.declareQueue`). */
  options: QueueOptions;
  /** Kept in definitions: durable and not exclusive. */
  readonly persisted: boolean;
  readonly incarnation: number;
  readonly exec: Executor;
  readonly engine: DeferredQueue;
  /**
   * While the queue's definition is not yet durable: its write. A message confirmed to the queue
   * waits for it too, whoever declared the queue, so a crash cannot lose the queue under it.
   */
  defined?: Promise<void> | undefined;
}

export interface QueueTableDeps {
  readonly vhost: string;
  readonly storage: Storage;
  readonly limits: CoreLimits;
  readonly supervisor: Supervisor;
  readonly bodies: BodyCache;
  readonly createQueue: QueueFactory;
  readonly streams: StreamRegistry;
  /** The vhost's running totals of queued messages, handed to every classic queue. */
  readonly lengths: QueueLengths;
  deadLetter(message: Message, exchange: string, routingKey: string): void;
  /** The options a queue's engine runs with: the declared ones with the vhost's policies applied. */
  effective(name: string, declared: QueueOptions): QueueOptions;
  /** The queue asked to go (`x-expires`, auto-delete): the vhost removes it as it removes any queue. */
  removeRequested(state: QueueState): void;
}

/** Delivery ids of one vhost; 2^53 of them last centuries at any plausible rate. */
class DeliveryIds {
  last = 0;
  readonly next = (): number => ++this.last;
}

export class QueueTable {
  readonly #deps: QueueTableDeps;
  readonly #queues = new Map<string, QueueState>();
  /** Exclusive queues by owning connection: a connection's close finds its own without a scan of all. */
  readonly #exclusive = new Map<string, Set<QueueState>>();
  /** Per name, the previous incarnation letting go of its logs; a new one opens after it. */
  readonly #releasing = new Map<string, Promise<unknown>>();
  /** Destroys and other work started by sync calls; `settle` waits for them. */
  readonly #background = new Set<Promise<unknown>>();
  readonly #ids = new DeliveryIds();
  #incarnations = 0;
  /** The names in code-unit order, kept between listings until a queue comes or goes. */
  #sorted: readonly string[] | undefined;

  constructor(deps: QueueTableDeps) {
    this.#deps = deps;
  }

  get(name: string): QueueState | undefined {
    return this.#queues.get(name);
  }

  has(name: string): boolean {
    return this.#queues.has(name);
  }

  get size(): number {
    return this.#queues.size;
  }

  values(): IterableIterator<QueueState> {
    return this.#queues.values();
  }

  names(): IterableIterator<string> {
    return this.#queues.keys();
  }

  /** Every name sorted by UTF-16 code units (as the admin API's `sort=name` compares); frozen. */
  sortedNames(): readonly string[] {
    this.#sorted ??= Object.freeze([...this.#queues.keys()].sort());
    return this.#sorted;
  }

  /** A new incarnation of `name`; its engine opens once any earlier one has released its logs. */
  add(name: string, options: QueueOptions): QueueState {
    const state = this.#create(name, options);
    if (!this.#queues.has(name)) this.#sorted = undefined;
    this.#unindex(this.#queues.get(name));
    this.#queues.set(name, state);
    const owner = options.exclusiveOwner;
    if (owner !== undefined) {
      let states = this.#exclusive.get(owner);
      if (states === undefined) {
        states = new Set();
        this.#exclusive.set(owner, states);
      }
      states.add(state);
    }
    return state;
  }

  /** The live queues declared exclusive to `connectionId`. */
  exclusiveTo(connectionId: string): QueueState[] {
    return [...(this.#exclusive.get(connectionId) ?? [])];
  }

  #unindex(state: QueueState | undefined): void {
    const owner = state?.options.exclusiveOwner;
    if (state === undefined || owner === undefined) return;
    const states = this.#exclusive.get(owner);
    states?.delete(state);
    if (states?.size === 0) this.#exclusive.delete(owner);
  }

  /** Takes `state` out of service for good and deletes its data (in the background). */
  remove(state: QueueState): void {
    if (this.#queues.get(state.name) === state) {
      this.#queues.delete(state.name);
      this.#sorted = undefined;
      this.#unindex(state);
    }
    state.exec.stop();
    // An open classic engine frees its log names within the call, so a new incarnation need not wait
    // for the files to go; one still opening (or a stream's, deleted through its registry) must be
    // waited for.
    const namesFreed = state.engine.engine !== undefined && state.options.kind !== 'stream';
    const destroyed = state.engine.destroy();
    if (namesFreed) this.#track(destroyed);
    else this.#release(state.name, destroyed);
  }

  /** A failed queue declared again gets a fresh incarnation; a live one is returned as it is. */
  reopenIfFailed(state: QueueState): QueueState {
    if (!state.exec.failed || this.#queues.get(state.name) !== state) return state;
    return this.add(state.name, state.options);
  }

  /** Waits for background work (deletions) to finish. */
  async settle(): Promise<void> {
    for (let round = 0; round < 100 && this.#background.size > 0; round++) {
      await Promise.allSettled([...this.#background]);
    }
  }

  async close(): Promise<void> {
    await this.settle();
    for (const state of this.#queues.values()) {
      state.exec.stop();
      await state.engine.close();
    }
  }

  #create(name: string, options: QueueOptions): QueueState {
    const persisted = options.durable === true && options.exclusiveOwner === undefined;
    const incarnation = ++this.#incarnations;
    const idBase = this.#ids.last;
    const self: { state?: QueueState } = {};
    const exec = this.#deps.supervisor.executor('queue', `${this.#deps.vhost}/${name}`, {
      onFault: (err) => {
        if (self.state !== undefined) this.#failed(self.state, err);
      },
    });
    const hooks: QueueHooks = {
      deadLetter: (message, exchange, routingKey) => this.#deps.deadLetter(message, exchange, routingKey),
      // Deferred: the engine may ask from inside its own call stack (a consumer's cancel).
      requestDelete: () =>
        exec.defer(() => {
          if (self.state !== undefined && this.#queues.get(name) === self.state)
            this.#deps.removeRequested(self.state);
        }),
    };
    const own = { exec, hooks, idBase };
    const releasing = this.#releasing.get(name);
    const opened =
      releasing === undefined
        ? this.#openEngine(name, options, persisted, own)
        : releasing.then(() => this.#openEngine(name, options, persisted, own));
    const engine = new DeferredQueue(name, options, opened);
    const state: QueueState = { name, options, persisted, incarnation, exec, engine };
    self.state = state;
    engine.ready.catch((err: unknown) => {
      // The queue never opened: it is failed, and stays so until declared again (its definition stays).
      exec.fail(err);
    });
    return state;
  }

  #openEngine(
    name: string,
    options: QueueOptions,
    persisted: boolean,
    own: { exec: Executor; hooks: QueueHooks; idBase: number },
  ): QueueEngine | Promise<QueueEngine> {
    if (options.kind === 'stream') return this.#openStreamQueue(name, options, own.idBase);
    const effective = this.#deps.effective(name, options);
    const { limits, storage } = this.#deps;
    const { bodies, lengths } = this.#deps;
    const base = { vhost: this.#deps.vhost, limits, bodies, lengths, nextId: this.#ids.next, ...own };
    const deps: QueueDeps = persisted ? { ...base, storage } : base;
    // An exclusive queue never outlives its connection, so it is never stored even when "durable".
    const engineOptions =
      persisted || options.durable !== true ? effective : { ...effective, durable: false };
    return this.#deps.createQueue(name, engineOptions, deps);
  }

  #openStreamQueue(name: string, options: QueueOptions, idBase: number): QueueEngine | Promise<QueueEngine> {
    const streams = this.#deps.streams;
    const ids = { nextId: this.#ids.next, idBase };
    if (streams.get(name) !== undefined) return streams.asQueue(name, options, ids);
    const create: { partitions: number; bytesMax?: number; ageMsMax?: number } = {
      partitions: options.partitions ?? 1,
    };
    if (options.streamBytesMax !== undefined) create.bytesMax = options.streamBytesMax;
    if (options.streamAgeMsMax !== undefined) create.ageMsMax = options.streamAgeMsMax;
    return streams.create(name, create).then(() => streams.asQueue(name, options, ids));
  }

  /** The executor of `state` caught an error: abandon it, then restart it within the intensity. */
  #failed(state: QueueState, err: unknown): void {
    if (this.#queues.get(state.name) !== state) return;
    const reason = `Queue '${state.name}' in vhost '${this.#deps.vhost}' failed: ${messageOf(err)}`;
    this.#release(state.name, state.engine.abandon(reason));
    if (this.#deps.supervisor.mayRestart(`queue ${this.#deps.vhost}/${state.name}`)) {
      this.add(state.name, state.options);
    }
  }

  #release(name: string, released: Promise<unknown>): void {
    const settled = this.#track(released);
    this.#releasing.set(name, settled);
    void settled.then(() => {
      if (this.#releasing.get(name) === settled) this.#releasing.delete(name);
    });
  }

  /** Background work `settle` waits for; its failure is the storage's to report, not the caller's. */
  #track(work: Promise<unknown>): Promise<void> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    const tracked: Promise<unknown> = settled.then(() => this.#background.delete(tracked));
    this.#background.add(tracked);
    return settled;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** The error a command on a queue that failed and was not restarted gets. */
export function queueFailedError(state: QueueState, vhost: string): Error {
  return brokerError(
    ErrorCode.storageFailed,
    `Queue '${state.name}' in vhost '${vhost}' failed (${messageOf(state.exec.failure)}); declare it again to reopen it`,
  );
}
