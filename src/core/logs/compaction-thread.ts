/**
 * The compaction thread, seen from the broker's thread: one worker thread (./compaction-worker.ts) that
 * does the CPU work of compaction — reading every record of the sealed segments twice, mapping keys,
 * encoding the records that stay — so that none of it runs on the event loop that serves producers
 * (docs/performance.md, "Kafka compaction"). Runs take it one at a time, in the order they ask.
 *
 * The worker starts with the first run and is unref'd while idle, so it never keeps a process alive.
 * Should it die (an uncaught error, a `terminate`), every request in flight rejects with
 * `CompactionThreadExit` and the next run starts a new one.
 */
import { Worker } from 'node:worker_threads';
import type { CompactionReply, CompactionRequest } from './compaction-worker.js';

const workerUrl = new URL('./compaction-worker.js', import.meta.url);

/**
 * The thread's nice value (on Linux a thread's own), above the event loop's: when the cores are busy,
 * the thread that serves producers and readers gets them first and compaction waits
 * (docs/performance.md, "Kafka compaction").
 */
export const compactionThreadNice = 10;

/**
 * Whether the thread also asks for Linux's `SCHED_IDLE` policy, so that a waking event loop or pool
 * thread takes its core at once instead of after the rest of the thread's slice (docs/performance.md,
 * "Kafka compaction", "5 December, afternoon").
 */
export const compactionThreadIdle = true;

/** The compaction thread stopped before it answered. */
export class CompactionThreadExit extends Error {}

interface Pending {
  readonly resolve: (reply: CompactionReply) => void;
  readonly reject: (err: Error) => void;
}

export class CompactionThread {
  #worker: Worker | undefined;
  readonly #pending: Pending[] = [];
  /** The run holding the thread; the next waits for it. */
  #turn: Promise<void> = Promise.resolve();

  /** Runs `work` with the thread to itself. */
  async exclusive<T>(work: () => Promise<T>): Promise<T> {
    const previous = this.#turn;
    let release!: () => void;
    this.#turn = new Promise((resolve) => {
      release = resolve;
    });
    await previous;
    try {
      return await work();
    } finally {
      release();
    }
  }

  /** Sends one request; resolves with its reply, none for `end`. */
  call(request: CompactionRequest): Promise<CompactionReply> | undefined {
    if (request.kind === 'end') {
      // A thread that died holds nothing to end.
      this.#worker?.postMessage(request);
      return undefined;
    }
    const worker = this.#started();
    worker.postMessage(request);
    worker.ref();
    return new Promise((resolve, reject) => this.#pending.push({ resolve, reject }));
  }

  /** Stops the worker (tests, and a process that winds down); a later request starts another. */
  async terminate(): Promise<void> {
    await this.#worker?.terminate();
  }

  #started(): Worker {
    if (this.#worker !== undefined) return this.#worker;
    const worker = new Worker(workerUrl, {
      workerData: { nice: compactionThreadNice, idle: compactionThreadIdle },
    });
    worker.unref();
    worker.on('message', (reply: CompactionReply) => {
      this.#pending.shift()?.resolve(reply);
      if (this.#pending.length === 0) worker.unref();
    });
    // An uncaught error in the worker is followed by its exit, which rejects what was waiting.
    worker.on('error', () => undefined);
    worker.on('exit', (code) => {
      if (this.#worker === worker) this.#worker = undefined;
      const exit = new CompactionThreadExit(`The compaction thread exited (code ${code})`);
      for (const pending of this.#pending.splice(0)) pending.reject(exit);
    });
    this.#worker = worker;
    return worker;
  }
}

let shared: CompactionThread | undefined;

/** The process's compaction thread, made on first use. */
export function sharedCompactionThread(): CompactionThread {
  shared ??= new CompactionThread();
  return shared;
}
