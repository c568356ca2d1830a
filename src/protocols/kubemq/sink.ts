/**
 * Where a subscription's items go: a gRPC server stream or a WebSocket. Writing never blocks; a sink
 * that is `congested` (its peer reads slower than we write) asks the writer to hold further items
 * until `onDrain`, which is how a slow subscriber's backlog stays in the core queue and its bound.
 */
import { KubemqFailure } from './errors.js';

/** An item already in a sink's wire form (protobuf bytes, JSON text), to write to many sinks of one kind. */
export class Encoded {
  readonly wire: Buffer | string;

  constructor(wire: Buffer | string) {
    this.wire = wire;
  }
}

export interface Sink<T> {
  write(item: T | Encoded): void;
  /**
   * The item in this sink's wire form. Sinks of one kind share one `encode` function, so a fan-out
   * encodes a message once for all of them (./feed.ts).
   */
  readonly encode: (item: T) => Encoded;
  congested(): boolean;
  onDrain(listener: () => void): void;
  /** Resolves at the next drain, or when the stream ends. */
  drained(): Promise<void>;
  /** Ends the stream: normally, or with `error` (a gRPC status; on a WebSocket, an error frame then close). */
  end(error?: KubemqFailure): void;
  /** Called once when the stream ends, from either side. */
  onClose(listener: () => void): void;
  readonly closed: boolean;
}

/** The listener bookkeeping every sink shares. */
export class SinkEvents {
  readonly #drain: Array<() => void> = [];
  readonly #waiters: Array<() => void> = [];
  readonly #close: Array<() => void> = [];
  #closed = false;

  get closed(): boolean {
    return this.#closed;
  }

  onDrain(listener: () => void): void {
    this.#drain.push(listener);
  }

  onClose(listener: () => void): void {
    if (this.#closed) listener();
    else this.#close.push(listener);
  }

  whenDrained(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** The transport can take more: listeners run, waiters wake. */
  drain(): void {
    for (const listener of [...this.#drain]) listener();
    for (const wake of this.#waiters.splice(0)) wake();
  }

  /** Runs the close listeners once; later calls do nothing. */
  markClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#drain.length = 0;
    for (const wake of this.#waiters.splice(0)) wake();
    for (const listener of this.#close.splice(0)) listener();
  }
}

/**
 * The requests of one bidirectional stream, handled one at a time and in order. A client may send
 * `queuedMax` ahead of the one being handled; one more ends the stream with an error, so a client that
 * never waits for answers cannot queue without bound. Requests still queued when the stream ends are
 * dropped; `failed` answers a request whose handling threw.
 */
export class SerialRequests<R> {
  readonly #sink: Pick<Sink<unknown>, 'closed' | 'end'>;
  readonly #queuedMax: number;
  readonly #handle: (request: R) => Promise<void>;
  readonly #failed: (request: R, err: unknown) => void;
  #queued = 0;
  #chain: Promise<void> = Promise.resolve();

  constructor(
    sink: Pick<Sink<unknown>, 'closed' | 'end'>,
    queuedMax: number,
    handle: (request: R) => Promise<void>,
    failed: (request: R, err: unknown) => void,
  ) {
    this.#sink = sink;
    this.#queuedMax = queuedMax;
    this.#handle = handle;
    this.#failed = failed;
  }

  /** Resolves once every request so far is handled. */
  idle(): Promise<void> {
    return this.#chain;
  }

  push(request: R): void {
    if (this.#queued >= this.#queuedMax) {
      this.#sink.end(new KubemqFailure(`more than ${this.#queuedMax} requests waiting`));
      return;
    }
    this.#queued++;
    this.#chain = this.#chain.then(async () => {
      this.#queued--;
      if (this.#sink.closed) return;
      try {
        await this.#handle(request);
      } catch (err) {
        this.#failed(request, err);
      }
    });
  }
}
