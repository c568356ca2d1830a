/**
 * One reader of a stream queue: its position, the messages it has read but not yet delivered, and
 * its credit. Acks never remove messages from a stream; they only give credit back.
 */
import { brokerError, ErrorCode } from '../../shared/errors.js';
import type { ConsumeOptions, Consumer, CreditLimit, Delivery } from '../types.js';
import type { OffsetMessage } from './formats.js';

/** Unacked deliveries one consumer may hold, whatever prefetch it asks for (0 included). */
export const consumerUnackedMax = 65_535;

export class StreamConsumer implements Consumer {
  readonly tag: string;
  readonly queue: string;
  readonly owner: string;
  readonly exclusive: boolean;
  readonly limits: readonly CreditLimit[];
  /** The next offset the log is read from. */
  readOffset: number;
  /** Messages below this offset were delivered already (or lie before the requested start). */
  floorOffset: number;
  /** Read from the log, not yet delivered; offsets ascending and >= floorOffset. */
  readonly pending: OffsetMessage[] = [];
  unacked = 0;
  active = true;
  /** A drain is queued or running; appends and acks meanwhile only mark `again`. */
  scheduled = false;
  readonly #options: ConsumeOptions;
  #prefetch: number;
  readonly #unsubscribe: Array<() => void> = [];
  readonly #onCancel: (consumer: StreamConsumer) => void;
  readonly #wake: (consumer: StreamConsumer) => void;

  constructor(
    queue: string,
    options: ConsumeOptions,
    startOffset: number,
    hooks: { wake(consumer: StreamConsumer): void; cancel(consumer: StreamConsumer): void },
  ) {
    this.tag = options.tag;
    this.queue = queue;
    this.owner = options.owner;
    this.exclusive = options.exclusive === true;
    this.limits = options.limits ?? [];
    this.#options = options;
    this.#prefetch = clampPrefetch(options.prefetch ?? 0);
    this.readOffset = startOffset;
    this.floorOffset = startOffset;
    this.#onCancel = hooks.cancel;
    this.#wake = hooks.wake;
    for (const limit of this.limits) this.#unsubscribe.push(limit.onRoom(() => this.#wake(this)));
    if (options.sendRoom !== undefined)
      this.#unsubscribe.push(options.sendRoom.onRoom(() => this.#wake(this)));
  }

  hasCredit(): boolean {
    return (
      this.active &&
      this.unacked < this.#prefetch &&
      this.limits.every((limit) => limit.hasRoom()) &&
      this.#options.sendRoom?.hasRoom() !== false
    );
  }

  /** Deliveries its own prefetch still allows; shared limits may allow fewer. */
  creditLeft(): number {
    return Math.max(0, this.#prefetch - this.unacked);
  }

  /** `offset` is the message's place in the log (the delivery's id is not). */
  deliver(delivery: Delivery, offset: number): void {
    this.unacked++;
    for (const limit of this.limits) limit.take();
    this.floorOffset = offset + 1;
    this.#options.deliver(delivery);
  }

  /** One delivery ended (ack, nack or release): its credit comes back. */
  settle(): void {
    this.unacked--;
    for (const limit of this.limits) limit.release(1);
  }

  setPrefetch(prefetch: number): void {
    if (!Number.isSafeInteger(prefetch) || prefetch < 0) {
      throw brokerError(
        ErrorCode.invalidArgument,
        `Prefetch must be a non-negative integer, got ${prefetch}`,
      );
    }
    this.#prefetch = clampPrefetch(prefetch);
    this.#wake(this);
  }

  cancel(): void {
    if (!this.active) return;
    this.#stop();
    this.#onCancel(this);
  }

  /** The server ends the consumer (stream deleted); it hears about it through `cancelled`. */
  cancelByServer(reason: string): void {
    if (!this.active) return;
    this.#stop();
    this.#options.cancelled?.(reason);
  }

  /** Stops delivering without telling anyone (broker close, owner released). */
  stopQuietly(): void {
    if (this.active) this.#stop();
  }

  #stop(): void {
    this.active = false;
    this.pending.length = 0;
    for (const unsubscribe of this.#unsubscribe.splice(0)) unsubscribe();
  }
}

/** 0 means "no limit of its own" in ConsumeOptions; a stream consumer still gets the hard cap. */
function clampPrefetch(prefetch: number): number {
  return prefetch === 0 ? consumerUnackedMax : Math.min(prefetch, consumerUnackedMax);
}
