/**
 * Password hashing off the I/O pool. scrypt (N = 16384, r = 8) takes ~16 MiB and tens of milliseconds
 * of CPU; on libuv's shared pool of four threads a login flood would queue ahead of every file write,
 * and a durable publish would wait seconds for its fsync. Here a few worker threads do nothing else.
 *
 * - Threads start when the first job needs one (none at start-up), and an idle thread is unref'd: the
 *   pool never keeps the process alive once its jobs are answered.
 * - At most `queueMax` jobs wait for a thread; when the queue is full a job is refused at once
 *   (`resource_exhausted`) unless it outranks a waiting one, which is then refused in its place.
 * - A job whose signal aborts leaves the queue and its caller is answered at once. A job already on a
 *   thread runs to its end (scrypt cannot be interrupted); its result is dropped.
 * - Among waiting jobs the lowest `rank()`, read when a thread frees up, runs first, then arrival
 *   order: the login gate ranks clients by their recent failures (./auth.ts).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { PasswordHashJob } from '../core/api.js';
import { assert } from '../shared/assert.js';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { ScryptReply, ScryptRequest } from './scrypt-worker.js';

const workerUrl = new URL('./scrypt-worker.js', import.meta.url);
/** Threads when the setting says 0: half the cores, the other half for the event loop and libuv. */
const autoThreadsMax = 4;

export function autoHashThreads(): number {
  return Math.max(1, Math.min(autoThreadsMax, Math.floor(availableParallelism() / 2)));
}

export interface ScryptPoolOptions {
  readonly threads: number;
  readonly queueMax: number;
}

export interface HashOptions {
  readonly signal?: AbortSignal;
  /** Lower runs first; read each time a thread frees up. */
  readonly rank?: () => number;
}

interface Job {
  readonly request: Omit<ScryptRequest, 'id'>;
  readonly rank: () => number;
  readonly signal: AbortSignal | undefined;
  readonly resolve: (key: Uint8Array) => void;
  readonly reject: (err: unknown) => void;
  /** Answered already (aborted, refused): a late result is dropped. */
  settled: boolean;
}

interface Thread {
  readonly worker: Worker;
  job: Job | undefined;
  jobId: number;
}

const rankNone = () => 0;

export class ScryptPool {
  readonly #options: ScryptPoolOptions;
  readonly #threads: Thread[] = [];
  readonly #queue: Job[] = [];
  #nextId = 1;
  #closed = false;

  constructor(options: ScryptPoolOptions) {
    assert(options.threads >= 1 && options.queueMax >= 0, 'a hashing pool needs a thread');
    this.#options = options;
  }

  hash(job: PasswordHashJob, options: HashOptions = {}): Promise<Uint8Array> {
    if (this.#closed)
      return Promise.reject(brokerError(ErrorCode.invalidState, 'Password hashing is closed'));
    options.signal?.throwIfAborted();
    return new Promise((resolve, reject) => {
      const queued: Job = {
        request: { password: job.password, salt: job.salt, cost: job.cost, keyBytes: job.keyBytes },
        rank: options.rank ?? rankNone,
        signal: options.signal,
        resolve,
        reject,
        settled: false,
      };
      const thread = this.#idleThread();
      if (thread !== undefined) this.#run(thread, queued);
      else this.#enqueue(queued);
    });
  }

  /** Threads started, hashes sent to them so far, jobs on them now, jobs waiting. */
  stats(): { threads: number; hashes: number; running: number; queued: number } {
    const running = this.#threads.filter((t) => t.job !== undefined).length;
    return { threads: this.#threads.length, hashes: this.#nextId - 1, running, queued: this.#queue.length };
  }

  async close(): Promise<void> {
    this.#closed = true;
    const closed = brokerError(ErrorCode.invalidState, 'Password hashing is closed');
    for (const job of this.#queue.splice(0)) this.#settle(job, closed);
    const threads = this.#threads.splice(0);
    for (const thread of threads) if (thread.job !== undefined) this.#settle(thread.job, closed);
    await Promise.all(threads.map((t) => t.worker.terminate()));
  }

  #idleThread(): Thread | undefined {
    const idle = this.#threads.find((t) => t.job === undefined);
    if (idle !== undefined || this.#threads.length >= this.#options.threads) return idle;
    return this.#startThread();
  }

  #startThread(): Thread {
    const worker = new Worker(workerUrl);
    const thread: Thread = { worker, job: undefined, jobId: 0 };
    worker.on('message', (reply: ScryptReply) => this.#done(thread, reply));
    worker.on('error', (err) => this.#lost(thread, err));
    worker.on('exit', (code) => this.#lost(thread, new Error(`hashing thread exited with ${code}`)));
    // After the listeners: adding a 'message' listener refs the worker again.
    worker.unref();
    this.#threads.push(thread);
    return thread;
  }

  #run(thread: Thread, job: Job): void {
    thread.job = job;
    thread.jobId = this.#nextId++;
    // Busy, the thread keeps the process alive until the answer is in; idle, it never does.
    thread.worker.ref();
    thread.worker.postMessage({ id: thread.jobId, ...job.request } satisfies ScryptRequest);
    // Answer an abort at once; the thread finishes the hash and its result is dropped.
    job.signal?.addEventListener('abort', () => this.#settle(job, job.signal?.reason), { once: true });
  }

  #enqueue(job: Job): void {
    if (this.#queue.length >= this.#options.queueMax && !this.#makeRoomFor(job)) {
      job.reject(brokerError(ErrorCode.resourceExhausted, 'Too many logins waiting to be checked'));
      return;
    }
    this.#queue.push(job);
    job.signal?.addEventListener(
      'abort',
      () => {
        const at = this.#queue.indexOf(job);
        if (at >= 0) this.#queue.splice(at, 1);
        this.#settle(job, job.signal?.reason);
      },
      { once: true },
    );
  }

  /** Refuses the worst-ranked waiting job (the latest of equals) if `job` outranks it. */
  #makeRoomFor(job: Job): boolean {
    let worst = -1;
    let worstRank = job.rank();
    for (let i = 0; i < this.#queue.length; i++) {
      const rank = this.#queue[i]!.rank();
      if (rank >= worstRank && rank > job.rank()) {
        worst = i;
        worstRank = rank;
      }
    }
    if (worst < 0) return false;
    const [evicted] = this.#queue.splice(worst, 1);
    this.#settle(evicted!, brokerError(ErrorCode.resourceExhausted, 'Too many logins waiting to be checked'));
    return true;
  }

  #done(thread: Thread, reply: ScryptReply): void {
    const job = thread.job;
    if (job === undefined || reply.id !== thread.jobId) return;
    thread.job = undefined;
    thread.worker.unref();
    if ('key' in reply) {
      if (!job.settled) job.resolve(reply.key);
      job.settled = true;
    } else {
      this.#settle(job, brokerError(ErrorCode.internal, `Password hashing failed: ${reply.error}`));
    }
    this.#next(thread);
  }

  /** A thread died: its job fails, and a later job starts a new thread. */
  #lost(thread: Thread, err: Error): void {
    const at = this.#threads.indexOf(thread);
    if (at < 0) return;
    this.#threads.splice(at, 1);
    if (thread.job !== undefined) this.#settle(thread.job, brokerError(ErrorCode.internal, err.message, err));
    thread.job = undefined;
    if (!this.#closed && this.#queue.length > 0) this.#next(this.#startThread());
  }

  #next(thread: Thread): void {
    if (this.#queue.length === 0 || this.#closed) return;
    let best = 0;
    let bestRank = this.#queue[0]!.rank();
    for (let i = 1; i < this.#queue.length && bestRank > 0; i++) {
      const rank = this.#queue[i]!.rank();
      if (rank < bestRank) {
        best = i;
        bestRank = rank;
      }
    }
    const [job] = this.#queue.splice(best, 1);
    this.#run(thread, job!);
  }

  #settle(job: Job, err: unknown): void {
    if (job.settled) return;
    job.settled = true;
    job.reject(err);
  }
}
