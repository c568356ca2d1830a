/**
 * The fault boundary of one owned object (a queue, a stream, a session, a group, the definitions).
 * Every piece of deferred work the object does — a microtask, a timer, the continuation of an I/O
 * promise — runs through its executor. An error thrown there, an operating error or a failed
 * assertion alike, never reaches the event loop: it fails this object (the supervisor logs it, counts
 * it and tells the object to stop serving), and every other object and connection carries on.
 *
 * Raw `queueMicrotask` / `setTimeout` / `setInterval` / `setImmediate` are banned in src/core by lint;
 * this file and the clock are the only places that arm them.
 */
import type { Clock } from '../../shared/clock.js';
import { BrokerError, ErrorCode } from '../../shared/errors.js';

export interface Timer {
  /** Idempotent; a timer that already fired or whose executor stopped ignores it. */
  cancel(): void;
}

/** What the executor reports to: the supervisor (./supervisor.ts). */
export interface FaultSink {
  fault(executor: Executor, err: unknown): void;
}

export class Executor {
  /** `<kind> <vhost>/<name>`: how logs and metrics name the object. */
  readonly name: string;
  readonly kind: string;
  readonly #clock: Clock;
  readonly #sink: FaultSink;
  #failure: unknown;
  #stopped = false;

  constructor(kind: string, name: string, clock: Clock, sink: FaultSink) {
    this.kind = kind;
    this.name = name;
    this.#clock = clock;
    this.#sink = sink;
  }

  now(): number {
    return this.#clock.now();
  }

  /** The error that failed this object, if one did. */
  get failure(): unknown {
    return this.#failure;
  }

  get failed(): boolean {
    return this.#failure !== undefined;
  }

  /** Runs `fn` once the current job is done (a microtask). */
  defer(fn: () => void): void {
    queueMicrotask(() => this.run(fn));
  }

  /** Runs `fn` at the end of this event-loop turn, after I/O callbacks already due (gathers writes). */
  soon(fn: () => void): Timer {
    let cancelled = false;
    const handle = setImmediate(() => {
      if (!cancelled) this.run(fn);
    });
    return {
      cancel: () => {
        cancelled = true;
        clearImmediate(handle);
      },
    };
  }

  /**
   * Resolves at the end of this event-loop turn, as `soon` runs; rejects when the object stopped or
   * failed meanwhile. For long work in bounded steps (compaction): each step awaits a turn, and the
   * work always settles, so nothing waiting for it (a log's close) waits forever.
   */
  turn(): Promise<void> {
    return new Promise((resolve, reject) => {
      setImmediate(() => {
        if (!this.#stopped && this.#failure === undefined) resolve();
        else reject(new BrokerError(ErrorCode.invalidState, `${this.kind} ${this.name} stopped`));
      });
    });
  }

  /** Runs `fn` after `ms` on the clock. */
  after(ms: number, fn: () => void): Timer {
    return this.#clock.setTimeout(() => this.run(fn), ms);
  }

  /**
   * Runs `fn` every `ms` on the clock until the timer returned is cancelled; the next run is armed
   * before this one, so a run that throws (and fails the object) does not end the schedule by itself.
   */
  every(ms: number, fn: () => void): Timer {
    let next: Timer;
    const tick = () => {
      next = this.after(ms, tick);
      fn();
    };
    next = this.after(ms, tick);
    return { cancel: () => next.cancel() };
  }

  /**
   * Continues when `promise` settles. A rejection goes to `onError` when given; otherwise it fails
   * the object, since nobody else will hear of it.
   */
  follow<T>(promise: Promise<T>, onValue?: (value: T) => void, onError?: (err: unknown) => void): void {
    promise.then(
      (value) => {
        if (onValue !== undefined) this.run(() => onValue(value));
      },
      (err: unknown) => this.run(() => (onError === undefined ? this.fail(err) : onError(err))),
    );
  }

  /**
   * Runs `fn` now, inside the boundary: an error fails the object and does not propagate. Work of a
   * stopped or failed object is skipped.
   */
  run(fn: () => void): void {
    if (this.#stopped || this.#failure !== undefined) return;
    try {
      fn();
    } catch (err) {
      this.fail(err);
    }
  }

  /** Fails the object now (once): the supervisor logs and counts it and the owner stops serving. */
  fail(err: unknown): void {
    if (this.#failure !== undefined || this.#stopped) return;
    this.#failure = err ?? new Error('unknown failure');
    this.#sink.fault(this, this.#failure);
  }

  /**
   * The supervisor restarted the object in place (its state rebuilt from its log): work runs again.
   * Work scheduled before the failure may still come due; owners clear what they keep on failure.
   */
  restart(): void {
    if (!this.#stopped) this.#failure = undefined;
  }

  /** The object closed or was deleted: anything still scheduled is dropped. */
  stop(): void {
    this.#stopped = true;
  }

  get stopped(): boolean {
    return this.#stopped;
  }
}
