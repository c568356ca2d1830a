/**
 * The streams of one vhost: definitions kept in the definitions log, one open Log per partition,
 * periodic retention, and the queue face that AMQP stream queues use. Group offsets belong to the
 * vhost's consumer groups (../groups.ts), told through `streamDeleted` when a stream goes.
 */
import { assert } from '../../shared/assert.js';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { Log, RetentionOptions, Storage } from '../../storage/types.js';
import type {
  Clock,
  CoreLimits,
  StreamCompaction,
  StreamCreateOptions,
  StreamInfo,
  StreamSettings,
} from '../api.js';
import type { StreamDefinitions } from '../definitions.js';
import type { Executor, Timer } from '../exec/executor.js';
import type { Supervisor } from '../exec/supervisor.js';
import type { QueueEngine, StreamRegistry, StreamRegistryFactory } from '../internal.js';
import type { QueueOptions } from '../types.js';
import { checkStreamName, partitionLogName } from './names.js';
import { Partition } from './partition.js';
import { newStreamId } from './stream-ids.js';
import { StreamQueue } from './stream-queue.js';

/** How often size and age retention run; RabbitMQ and Kafka check on a similar scale (minutes or less). */
export const retentionIntervalMs = 30_000;
/** How often compacted streams check whether a run is due (dirty ratio, an expired tombstone). */
export const compactionCheckMs = 1_000;
/** Streams in one vhost. */
export const streamsPerVhostMax = 100_000;

interface StreamDeps {
  vhost: string;
  storage: Storage;
  clock: Clock;
  limits: CoreLimits;
  supervisor: Supervisor;
  definitions: StreamDefinitions;
  /** A stream was deleted: what other objects keep for it (group offsets, producer sequences) goes. */
  streamDeleted?: (name: string) => Promise<void>;
  /** Retention moved a partition's start: what is remembered of removed offsets may go. */
  startMoved?: (stream: string, partition: number, startOffset: number) => void;
}

interface StreamState {
  info: StreamInfo;
  partitions: Partition[];
  /** The stream's fault boundary: its partitions' timers and its queue face's deliveries. */
  readonly exec: Executor;
}

export const createStreamRegistry: StreamRegistryFactory = async (deps) => {
  const registry = new Streams(deps);
  await registry.open();
  return registry;
};

class Streams implements StreamRegistry {
  readonly #deps: StreamDeps;
  readonly #streams = new Map<string, StreamState>();
  /** Stream id → name, so a request naming streams by id (Kafka's topic ids) finds each in one step. */
  readonly #names = new Map<string, string>();
  readonly #queues = new Map<string, StreamQueue>();
  /** Retention set by the vhost's policies, by stream (../policy/effective.ts). */
  readonly #policyRetention = new Map<string, Bounds>();
  /** create/delete/addPartitions await storage; running them one at a time keeps definitions and logs in step. */
  #serial: Promise<unknown> = Promise.resolve();
  #timer: Timer | undefined;
  #compactionTimer: Timer | undefined;
  /** Retention's own boundary; retention catches per partition, so this one never fails in practice. */
  readonly #exec: Executor;
  #closed = false;

  constructor(deps: StreamDeps) {
    this.#deps = deps;
    this.#exec = deps.supervisor.executor('streams', deps.vhost, {
      onFault: () => this.#scheduleRetention(),
    });
  }

  async open(): Promise<void> {
    for (const info of this.#deps.definitions.streams(this.#deps.vhost)) {
      const exec = this.#executorFor(info.name);
      const partitions = await this.#openPartitions(info.name, 0, info.partitions, exec);
      this.#add({ info, partitions, exec });
    }
    this.#scheduleRetention();
    this.#scheduleCompaction();
  }

  create(name: string, options: StreamCreateOptions): Promise<StreamInfo> {
    return this.#run(async () => {
      const existing = this.#streams.get(name);
      if (existing !== undefined) return existing.info;
      checkStreamName(name);
      this.#checkOptions(options);
      if (this.#streams.size >= streamsPerVhostMax) {
        throw brokerError(
          ErrorCode.resourceExhausted,
          `Vhost '${this.#deps.vhost}' has ${streamsPerVhostMax} streams`,
        );
      }
      const info = makeInfo({ name, id: newStreamId() }, options.partitions, options);
      const exec = this.#executorFor(name);
      const partitions = await this.#openPartitions(name, 0, info.partitions, exec, { fresh: true });
      try {
        await this.#deps.definitions.putStream(this.#deps.vhost, info);
      } catch (err) {
        for (const partition of partitions) await partition.log.close().catch(() => undefined);
        throw err;
      }
      this.#add({ info, partitions, exec });
      this.#scheduleCompaction();
      return info;
    });
  }

  delete(name: string): Promise<void> {
    return this.#run(async () => {
      const state = this.#require(name);
      this.#streams.delete(name);
      this.#names.delete(state.info.id);
      this.#policyRetention.delete(name);
      state.exec.stop();
      this.#queues.get(name)?.detach(`Stream '${name}' was deleted`);
      this.#queues.delete(name);
      // The definition first: a crash part-way leaves orphan logs, which `create` clears, never a
      // stream whose definition points at logs that are gone.
      await this.#deps.definitions.deleteStream(this.#deps.vhost, name);
      await this.#deps.streamDeleted?.(name);
      for (const partition of state.partitions) {
        partition.close();
        await partition.log.delete();
      }
    });
  }

  addPartitions(name: string, total: number): Promise<StreamInfo> {
    return this.#run(async () => {
      const state = this.#require(name);
      const current = state.info.partitions;
      if (!Number.isSafeInteger(total) || total <= current || total > this.#deps.limits.streamPartitionsMax) {
        const max = this.#deps.limits.streamPartitionsMax;
        const message = `Stream '${name}' has ${current} partitions; a new total must be above it and at most ${max}`;
        throw brokerError(ErrorCode.invalidArgument, `${message}, got ${total}`);
      }
      const added = await this.#openPartitions(name, current, total, state.exec, { fresh: true });
      const info = makeInfo(state.info, total, state.info);
      await this.#deps.definitions.putStream(this.#deps.vhost, info);
      state.partitions.push(...added);
      state.info = info;
      return info;
    });
  }

  setAttributes(name: string, attributes: Readonly<Record<string, string>>): Promise<StreamInfo> {
    return this.#run(async () => {
      const state = this.#require(name);
      const info = makeInfo(state.info, state.info.partitions, { ...state.info, attributes });
      await this.#deps.definitions.putStream(this.#deps.vhost, info);
      state.info = info;
      return info;
    });
  }

  configure(name: string, settings: StreamSettings): Promise<StreamInfo> {
    return this.#run(async () => {
      const state = this.#require(name);
      this.#checkOptions({ partitions: state.info.partitions, ...settings });
      // Settings are replaced as a whole; the stream's name and id are not settings.
      const info = makeInfo(state.info, state.info.partitions, settings);
      await this.#deps.definitions.putStream(this.#deps.vhost, info);
      state.info = info;
      this.#scheduleCompaction();
      return info;
    });
  }

  get(name: string): StreamInfo | undefined {
    return this.#streams.get(name)?.info;
  }

  list(): StreamInfo[] {
    return [...this.#streams.values()].map((state) => state.info);
  }

  nameOf(id: string): string | undefined {
    return this.#names.get(id);
  }

  partition(stream: string, index: number): Partition {
    return this.#partition(stream, index);
  }

  /** The stream must exist: the vhost creates it (opening logs is asynchronous) before asking. */
  asQueue(name: string, options: QueueOptions, ids = ownDeliveryIds()): QueueEngine {
    const existing = this.#queues.get(name);
    if (existing !== undefined) return existing;
    const queue = new StreamQueue(name, options, {
      partition: this.#partition(name, 0),
      exec: this.#require(name).exec,
      destroyStream: () => (this.#streams.has(name) ? this.delete(name) : Promise.resolve()),
      ...ids,
    });
    this.#queues.set(name, queue);
    return queue;
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#timer?.cancel();
    this.#compactionTimer?.cancel();
    await this.#serial.catch(() => undefined);
    for (const queue of this.#queues.values()) await queue.close();
    this.#queues.clear();
    for (const state of this.#streams.values()) {
      for (const partition of state.partitions) {
        partition.close();
        await partition.log.close();
      }
    }
    this.#streams.clear();
    this.#names.clear();
  }

  setPolicyRetention(name: string, bounds: { bytesMax?: number; ageMsMax?: number }): void {
    if (bounds.bytesMax === undefined && bounds.ageMsMax === undefined) this.#policyRetention.delete(name);
    else this.#policyRetention.set(name, bounds);
  }

  /** Runs size and age retention on every partition now; the timer calls it every interval. */
  applyRetention(): void {
    const now = this.#deps.clock.now();
    for (const { info, partitions } of this.#streams.values()) {
      const options = retentionOf(smallerBounds(info, this.#policyRetention.get(info.name)));
      if (options.bytesMax === undefined && options.ageMsMax === undefined) continue;
      for (const partition of partitions) {
        try {
          const before = partition.log.startOffset;
          const start = partition.log.applyRetention(options, now);
          if (start > before) {
            partition.trimAborted(start);
            this.#deps.startMoved?.(info.name, partition.index, start);
          }
        } catch {
          // A failing disk must not stop retention of the other partitions; the next tick retries.
        }
      }
    }
  }

  /**
   * Asks each partition of every compacted stream whether a run is due; a run goes on the stream's
   * executor, so a failing one fails that stream only.
   */
  checkCompaction(): void {
    for (const { info, partitions } of this.#streams.values()) {
      if (info.compaction === undefined) continue;
      for (const partition of partitions) partition.compactor.check(info.compaction);
    }
  }

  /** Arms the compaction check while some stream is compacted; an uncompacted vhost has no such timer. */
  #scheduleCompaction(): void {
    if (this.#closed || this.#compactionTimer !== undefined) return;
    if (![...this.#streams.values()].some((state) => state.info.compaction !== undefined)) return;
    this.#compactionTimer = this.#exec.after(compactionCheckMs, () => {
      this.#compactionTimer = undefined;
      this.checkCompaction();
      this.#scheduleCompaction();
    });
  }

  #scheduleRetention(): void {
    if (this.#closed) return;
    this.#timer = this.#exec.after(retentionIntervalMs, () => {
      this.applyRetention();
      this.#scheduleRetention();
    });
  }

  #run<T>(operation: () => Promise<T>): Promise<T> {
    if (this.#closed) {
      return Promise.reject(
        brokerError(ErrorCode.invalidState, `Streams of vhost '${this.#deps.vhost}' are closed`),
      );
    }
    const result = this.#serial.then(operation, operation);
    this.#serial = result.catch(() => undefined);
    return result;
  }

  #executorFor(stream: string): Executor {
    const name = `${this.#deps.vhost}/${stream}`;
    return this.#deps.supervisor.executor('stream', name, { onFault: (err) => this.#failed(stream, err) });
  }

  /**
   * A stream failed: its partitions leave service (Kafka requests get KAFKA_STORAGE_ERROR, readers
   * of its queue face are cancelled), their logs are closed, and the supervisor may restart it by
   * reopening them; a partition object outlives this, so readers find it again.
   */
  #failed(stream: string, err: unknown): void {
    const state = this.#streams.get(stream);
    if (state === undefined) return;
    const reason = `Stream '${stream}' failed: ${err instanceof Error ? err.message : String(err)}`;
    void this.#queues.get(stream)?.abandon(reason);
    const logs = state.partitions.map((partition) => partition.fail(err));
    const closed = Promise.allSettled(logs.map((log) => log.close()));
    const key = `stream ${this.#deps.vhost}/${stream}`;
    if (!this.#deps.supervisor.mayRestart(key)) return;
    this.#run(async () => {
      await closed;
      await this.#revive(stream, state);
    }).catch((reviveErr: unknown) => {
      // Reopening failed too: that is the stream's next failure, which the restart intensity bounds.
      state.exec.restart();
      state.exec.fail(reviveErr);
    });
  }

  async #revive(stream: string, failed: StreamState): Promise<void> {
    if (this.#streams.get(stream) !== failed || this.#closed) return;
    const { storage, vhost } = this.#deps;
    for (const partition of failed.partitions) {
      partition.revive(await storage.openLog(partitionLogName(vhost, stream, partition.index)));
    }
    failed.exec.restart();
  }

  #add(state: StreamState): void {
    const { name, id } = state.info;
    // Ids are made at random and stored; two streams sharing one would make a lookup by id ambiguous.
    assert(!this.#names.has(id), `stream '${name}' has the id of stream '${this.#names.get(id)}'`);
    this.#streams.set(name, state);
    this.#names.set(id, name);
  }

  #require(name: string): StreamState {
    const state = this.#streams.get(name);
    if (state === undefined) throw brokerError(ErrorCode.notFound, `Stream '${name}' does not exist`);
    return state;
  }

  #partition(stream: string, index: number): Partition {
    const partition = this.#require(stream).partitions[index];
    if (partition === undefined) {
      throw brokerError(ErrorCode.notFound, `Stream '${stream}' has no partition ${index}`);
    }
    return partition;
  }

  #checkOptions(options: StreamCreateOptions): void {
    const max = this.#deps.limits.streamPartitionsMax;
    if (!Number.isSafeInteger(options.partitions) || options.partitions < 1 || options.partitions > max) {
      throw brokerError(
        ErrorCode.invalidArgument,
        `Partitions must be 1 to ${max}, got ${options.partitions}`,
      );
    }
    checkCompactionSettings(options.compaction);
    for (const key of ['bytesMax', 'ageMsMax'] as const) {
      const value = options[key];
      if (value !== undefined && (!Number.isSafeInteger(value) || value <= 0)) {
        throw brokerError(
          ErrorCode.invalidArgument,
          `Stream ${key} must be a positive integer, got ${value}`,
        );
      }
    }
  }

  /**
   * Opens partitions [from, to). `fresh` removes leftovers of an earlier stream of the same name whose
   * deletion a crash interrupted, so a new stream never starts with old entries.
   */
  async #openPartitions(
    stream: string,
    from: number,
    to: number,
    exec: Executor,
    options?: { fresh: boolean },
  ): Promise<Partition[]> {
    const { storage, vhost } = this.#deps;
    const stale = options?.fresh === true ? new Set(await storage.listLogs()) : new Set<string>();
    const opened: Partition[] = [];
    try {
      for (let index = from; index < to; index++) {
        const name = partitionLogName(vhost, stream, index);
        if (stale.has(name)) await storage.removeLog(name);
        const log: Log = await storage.openLog(name);
        opened.push(new Partition(stream, index, log, exec));
      }
    } catch (err) {
      for (const partition of opened) await partition.log.close().catch(() => undefined);
      throw err;
    }
    return opened;
  }
}

type Bounds = { readonly bytesMax?: number; readonly ageMsMax?: number };

/** A stream's own bounds and its policy's: the smaller of each applies (RabbitMQ's rule for limits). */
function smallerBounds(own: Bounds, policy: Bounds | undefined): Bounds {
  if (policy === undefined) return own;
  const pick = (a: number | undefined, b: number | undefined) =>
    a === undefined ? b : b === undefined ? a : Math.min(a, b);
  const bytesMax = pick(own.bytesMax, policy.bytesMax);
  const ageMsMax = pick(own.ageMsMax, policy.ageMsMax);
  return {
    ...(bytesMax === undefined ? {} : { bytesMax }),
    ...(ageMsMax === undefined ? {} : { ageMsMax }),
  };
}

/** Only the bounds that are set: under exactOptionalPropertyTypes an absent bound is not `undefined`. */
/** Delivery ids for a stream queue read outside a vhost's queue table (tests, tools): its own count. */
function ownDeliveryIds(): { nextId: () => number; idBase: number } {
  let last = 0;
  return { nextId: () => ++last, idBase: 0 };
}

function retentionOf(bounds: { readonly bytesMax?: number; readonly ageMsMax?: number }): RetentionOptions {
  return {
    ...(bounds.bytesMax === undefined ? {} : { bytesMax: bounds.bytesMax }),
    ...(bounds.ageMsMax === undefined ? {} : { ageMsMax: bounds.ageMsMax }),
  };
}

function makeInfo(
  { name, id }: Pick<StreamInfo, 'name' | 'id'>,
  partitions: number,
  bounds: {
    readonly bytesMax?: number;
    readonly ageMsMax?: number;
    readonly attributes?: Readonly<Record<string, string>>;
    readonly compaction?: StreamCompaction;
  },
): StreamInfo {
  const { attributes, compaction } = bounds;
  const kept =
    attributes === undefined || Object.keys(attributes).length === 0 ? {} : { attributes: { ...attributes } };
  return {
    name,
    id,
    partitions,
    ...retentionOf(bounds),
    ...kept,
    ...(compaction === undefined ? {} : { compaction }),
  };
}

function checkCompactionSettings(compaction: StreamCompaction | undefined): void {
  if (compaction === undefined) return;
  const { tombstoneRetentionMs, lagMsMin, dirtyRatioMin } = compaction;
  const valid =
    Number.isSafeInteger(tombstoneRetentionMs) &&
    tombstoneRetentionMs >= 0 &&
    Number.isSafeInteger(lagMsMin) &&
    lagMsMin >= 0 &&
    dirtyRatioMin >= 0 &&
    dirtyRatioMin <= 1;
  if (!valid) {
    const text = `tombstoneRetentionMs ${tombstoneRetentionMs}, lagMsMin ${lagMsMin}, dirtyRatioMin ${dirtyRatioMin}`;
    throw brokerError(ErrorCode.invalidArgument, `Stream compaction settings out of range: ${text}`);
  }
}
