/**
 * A stream read as a queue (AMQP `x-queue-type: stream`): every consumer reads partition 0 from its
 * own `x-stream-offset` under credit. Nothing is ever removed by an ack; the log's retention decides
 * what stays. Rules follow RabbitMQ's stream queues: consumers need a prefetch and manual acks, and
 * neither basic.get nor purge is supported.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { Executor } from '../exec/executor.js';
import type { QueueEngine } from '../internal.js';
import { encodeMessage, entryFormat } from '../message-codec.js';
import {
  type ConsumeOptions,
  type Consumer,
  type Delivery,
  type Message,
  type QueueInfo,
  type QueueOptions,
  withHeader,
} from '../types.js';
import { entryMessages, type OffsetMessage } from './formats.js';
import type { Partition } from './partition.js';
import { resolveStartOffset } from './start-offset.js';
import { StreamConsumer } from './stream-consumer.js';

/** Consumers attached to one stream queue at a time. */
export const streamQueueConsumersMax = 10_000;
/** Deliveries one consumer gets in one turn before the event loop is given back. */
const deliveriesPerTurnMax = 1024;
/** Log reads one turn may spend on entries that yield no message (unknown formats, skipped offsets). */
const emptyReadsPerTurnMax = 64;
const readEntriesMax = 64;
const readBytesMax = 1024 * 1024;
/** RabbitMQ names the offset of a delivered stream message in this header; clients rely on it. */
const offsetHeader = 'x-stream-offset';

export class StreamQueue implements QueueEngine {
  readonly name: string;
  readonly options: QueueOptions;
  readonly #partition: Partition;
  readonly #exec: Executor;
  readonly #destroyStream: () => Promise<void>;
  readonly #consumers = new Map<string, StreamConsumer>();
  /**
   * Outstanding deliveries by id. Ids come from the vhost's one counter, as every queue's do (not
   * from offsets, which each incarnation of a name and each consumer repeat): an id settled here was
   * given out by this engine, or it is older than the engine and names nothing here.
   */
  readonly #held = new Map<number, StreamConsumer>();
  readonly #nextId: () => number;
  readonly #idBase: number;
  readonly #unsubscribeAppend: () => void;

  constructor(
    name: string,
    options: QueueOptions,
    deps: {
      partition: Partition;
      exec: Executor;
      destroyStream: () => Promise<void>;
      nextId: () => number;
      idBase: number;
    },
  ) {
    this.name = name;
    this.options = options;
    this.#nextId = deps.nextId;
    this.#idBase = deps.idBase;
    this.#partition = deps.partition;
    this.#exec = deps.exec;
    this.#destroyStream = deps.destroyStream;
    this.#unsubscribeAppend = this.#partition.onAppend(() => {
      for (const consumer of this.#consumers.values()) this.#wake(consumer);
    });
  }

  info(): QueueInfo {
    const { startOffset, endOffset } = this.#partition;
    return { name: this.name, messageCount: endOffset - startOffset, consumerCount: this.#consumers.size };
  }

  /** Streams are always durable and never full: retention, not overflow, bounds them. */
  enqueue(message: Message): { accepted: boolean; durable: Promise<void> } {
    const payload = encodeMessage(message);
    const result = this.#partition.append(payload, {
      timestamp: Math.trunc(this.#exec.now()),
      format: entryFormat.message,
    });
    return { accepted: true, durable: result.durable };
  }

  consume(options: ConsumeOptions): Consumer {
    this.#checkConsume(options);
    const start = resolveStartOffset(this.#partition, options.offset ?? 'next');
    const consumer = new StreamConsumer(this.name, options, start, {
      wake: (c) => this.#wake(c),
      cancel: (c) => this.#consumers.delete(c.tag),
    });
    this.#consumers.set(options.tag, consumer);
    this.#wake(consumer);
    return consumer;
  }

  get(_options: { noAck: boolean; owner: string }): Delivery | undefined {
    throw brokerError(ErrorCode.preconditionFailed, `Stream queue '${this.name}' does not support basic.get`);
  }

  ack(id: number): void {
    this.#settle(id);
  }

  /** Requeue or not, the message stays in the stream; only the credit comes back. */
  nack(id: number, _requeue: boolean): void {
    this.#settle(id);
  }

  releaseOwner(owner: string): void {
    for (const consumer of [...this.#consumers.values()]) {
      if (consumer.owner === owner) consumer.cancel();
    }
    for (const [id, holder] of this.#held) {
      if (holder.owner !== owner) continue;
      holder.settle();
      this.#held.delete(id);
    }
  }

  purge(): number {
    throw brokerError(
      ErrorCode.preconditionFailed,
      `Stream queue '${this.name}' cannot be purged; retention trims it`,
    );
  }

  /**
   * Stops at once, as every engine does when deleted: the stream's own deletion waits its turn behind
   * other stream operations, and meanwhile the name may be declared again. A delivery made after this
   * call would carry an id newer than the next incarnation's first, and its ack would reach that one.
   */
  async destroy(): Promise<void> {
    this.detach(`Stream '${this.name}' was deleted`);
    await this.#destroyStream();
  }

  /** The stream failed: its consumers hear why and may consume again once it is back. */
  async abandon(reason: string): Promise<void> {
    for (const consumer of [...this.#consumers.values()]) consumer.cancelByServer(reason);
    this.#consumers.clear();
    this.#held.clear();
  }

  /** Called by the registry when the stream goes away: consumers hear why. */
  detach(reason: string): void {
    for (const consumer of [...this.#consumers.values()]) consumer.cancelByServer(reason);
    this.#consumers.clear();
    this.#held.clear();
    this.#unsubscribeAppend();
  }

  async close(): Promise<void> {
    for (const consumer of this.#consumers.values()) consumer.stopQuietly();
    this.#consumers.clear();
    this.#held.clear();
    this.#unsubscribeAppend();
  }

  #checkConsume(options: ConsumeOptions): void {
    if (this.#partition.closed) {
      throw brokerError(ErrorCode.notFound, `Stream '${this.name}' no longer exists`);
    }
    if (options.noAck === true) {
      throw brokerError(
        ErrorCode.preconditionFailed,
        `Stream queue '${this.name}' needs consumers with manual acks`,
      );
    }
    if (options.prefetch === undefined || options.prefetch <= 0) {
      throw brokerError(
        ErrorCode.preconditionFailed,
        `Consumer prefetch count is not set for stream queue '${this.name}'`,
      );
    }
    if (this.#consumers.has(options.tag)) {
      throw brokerError(
        ErrorCode.invalidState,
        `Consumer tag '${options.tag}' is in use on queue '${this.name}'`,
      );
    }
    const exclusiveTaken = [...this.#consumers.values()].some((c) => c.exclusive);
    if (exclusiveTaken || (options.exclusive === true && this.#consumers.size > 0)) {
      throw brokerError(ErrorCode.resourceLocked, `Queue '${this.name}' has an exclusive consumer`);
    }
    if (this.#consumers.size >= streamQueueConsumersMax) {
      throw brokerError(
        ErrorCode.resourceExhausted,
        `Queue '${this.name}' has ${streamQueueConsumersMax} consumers`,
      );
    }
  }

  #settle(id: number): void {
    // Delivered by an earlier incarnation of the name (deleted and declared again since): a no-op.
    if (id <= this.#idBase) return;
    const consumer = this.#held.get(id);
    if (consumer === undefined) {
      throw brokerError(ErrorCode.invalidState, `Unknown delivery id ${id} on stream queue '${this.name}'`);
    }
    this.#held.delete(id);
    consumer.settle();
    this.#wake(consumer);
  }

  /** Coalesces wake-ups: a burst of appends or acks costs one drain per consumer. */
  #wake(consumer: StreamConsumer): void {
    if (consumer.scheduled || !consumer.active) return;
    consumer.scheduled = true;
    this.#exec.defer(() => {
      consumer.scheduled = false;
      this.#drain(consumer);
    });
  }

  #drain(consumer: StreamConsumer): void {
    try {
      if (this.#deliverTurn(consumer) === 'more') this.#later(consumer);
    } catch (err) {
      // A read that fails its checksum must not take the broker down; this reader cannot go on.
      consumer.cancelByServer(`Stream '${this.name}' could not be read: ${(err as Error).message}`);
      this.#consumers.delete(consumer.tag);
    }
  }

  /** Delivers while credit lasts; 'more' when the turn's budget ran out with messages left. */
  #deliverTurn(consumer: StreamConsumer): 'more' | 'done' {
    for (let delivered = 0; consumer.hasCredit(); delivered++) {
      if (delivered >= deliveriesPerTurnMax) return 'more';
      const next = this.#nextMessage(consumer);
      if (next === 'later') return 'more';
      if (next === undefined) return 'done';
      this.#deliver(consumer, next);
    }
    return 'done';
  }

  /** Yields to I/O before going on, so one fast reader cannot starve every socket. */
  #later(consumer: StreamConsumer): void {
    if (consumer.scheduled) return;
    consumer.scheduled = true;
    this.#exec.soon(() => {
      consumer.scheduled = false;
      if (consumer.active) this.#drain(consumer);
    });
  }

  #deliver(consumer: StreamConsumer, item: OffsetMessage): void {
    const id = this.#nextId();
    this.#held.set(id, consumer);
    const remaining = Math.max(0, this.#partition.endOffset - item.offset - 1);
    consumer.deliver(
      {
        queue: this.name,
        id,
        message: withOffsetHeader(item.message, item.offset),
        redelivered: false,
        deliveryCount: 0,
        remaining,
      },
      item.offset,
    );
  }

  /** The consumer's next message; undefined at the end of the log, 'later' after too many empty reads. */
  #nextMessage(consumer: StreamConsumer): OffsetMessage | 'later' | undefined {
    for (let reads = 0; consumer.pending.length === 0; reads++) {
      // Nothing past the stable offset: an open transaction's entries may yet be aborted.
      if (consumer.readOffset >= this.#partition.stableOffset) return undefined;
      if (reads >= emptyReadsPerTurnMax) return 'later';
      const before = consumer.readOffset;
      this.#readInto(consumer);
      // No progress means nothing readable yet; the next append wakes the consumer again.
      if (consumer.readOffset === before && consumer.pending.length === 0) return undefined;
    }
    return consumer.pending.shift();
  }

  #readInto(consumer: StreamConsumer): void {
    // Read ahead no further than the credit: what is buffered would outlive retention.
    const entries = this.#partition.read(consumer.readOffset, {
      maxEntries: Math.min(readEntriesMax, Math.max(1, consumer.creditLeft())),
      maxBytes: readBytesMax,
      committed: true,
    });
    if (entries.length === 0) {
      // Nothing readable below the end: retention raced us; resume at the new start.
      consumer.readOffset = Math.max(consumer.readOffset, this.#partition.startOffset);
      return;
    }
    for (const entry of entries) {
      const end = entry.offset + entry.count;
      if (end <= consumer.readOffset) continue;
      consumer.readOffset = end;
      for (const item of convert(entry)) {
        if (item.offset >= consumer.floorOffset) consumer.pending.push(item);
      }
    }
  }
}

/** Entries of unknown formats, or that fail to convert, are skipped with all their offsets. */
function convert(entry: Parameters<typeof entryMessages>[0]): OffsetMessage[] {
  try {
    return entryMessages(entry) ?? [];
  } catch {
    return [];
  }
}

/** RabbitMQ's `x-stream-offset` on every stream delivery; a header of that name from the publisher is replaced. */
function withOffsetHeader(message: Message, offset: number): Message {
  const headers = withHeader(message.properties.headers, offsetHeader, offset);
  return { ...message, properties: { ...message.properties, headers } };
}
