/**
 * Password hashing off the I/O pool and out of the broker's process. scrypt (N = 16384, r = 8) takes
 * ~16 MiB and tens of milliseconds of CPU; on libuv's shared pool of four threads a login flood would
 * queue ahead of every file write, and a durable publish would wait seconds for its fsync. Here a few
 * child processes do nothing else. Processes, not worker threads: freeing scrypt's 16 MiB block in the
 * broker's own process made glibc raise its mmap threshold to 16 MiB and its trim threshold to 32 MiB for
 * the rest of the broker's life, so every later block under 16 MiB came from a heap that is rarely given
 * back (docs/performance.md, "What raises glibc's mmap threshold"); a child's allocator is its own.
 *
 * - A process starts when the first job needs one (none at start-up); an idle one is unref'd, so the
 *   pool never keeps the broker alive once its jobs are answered, and ends after `idleMs` without work.
 * - A process whose parent dies sees its IPC channel close and exits.
 * - At most `queueMax` jobs wait for a thread; when the queue is full a job is refused at once
 *   (`resource_exhausted`) unless it outranks a waiting one, which is then refused in its place.
 * - A job whose signal aborts leaves the queue and its caller is answered at once. A job already on a
 *   thread runs to its end (scrypt cannot be interrupted); its result is dropped.
 * - Among waiting jobs the lowest `rank()`, read when a thread frees up, runs first, then arrival
 *   order: the login gate ranks clients by their recent failures (./auth.ts).
 */
import { type ChildProcess, fork } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import type { PasswordHashJob } from '../core/api.js';
import { assert } from '../shared/assert.js';
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { ScryptReply, ScryptRequest } from './scrypt-worker.js';

const workerPath = fileURLToPath(new URL('./scrypt-worker.js', import.meta.url));
/** Processes when the setting says 0: half the cores, the other half for the event loop and libuv. */
const autoThreadsMax = 4;
/** An idle hashing process ends after this long; the next login starts one again (~50 ms). */
const idleMsDefault = 30_000;

export function autoHashThreads(): number {
  return Math.max(1, Math.min(autoThreadsMax, Math.floor(availableParallelism() / 2)));
}

export interface ScryptPoolOptions {
  /** Hashing processes at most (the setting keeps its name from when they were threads). */
  readonly threads: number;
  readonly queueMax: number;
  /** How long an idle process is kept; `idleMsDefault` unless given. */
  readonly idleMs?: number;
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
  readonly worker: ChildProcess;
  job: Job | undefined;
  jobId: number;
  /** Ends the idle process; undefined while it works. */
  idleTimer: NodeJS.Timeout | undefined;
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
    await Promise.all(threads.map((t) => this.#end(t)));
  }

  #idleThread(): Thread | undefined {
    const idle = this.#threads.find((t) => t.job === undefined);
    if (idle !== undefined || this.#threads.length >= this.#options.threads) return idle;
    return this.#startThread();
  }

  #startThread(): Thread {
    // Neither the broker's NODE_OPTIONS (a profiler, heap flags) nor its output are the child's.
    const worker = fork(workerPath, [], {
      serialization: 'advanced',
      stdio: ['ignore', 'ignore', 'ignore', 'ipc'],
      execArgv: [],
      env: { ...process.env, NODE_OPTIONS: '' },
    });
    const thread: Thread = { worker, job: undefined, jobId: 0, idleTimer: undefined };
    worker.on('message', (reply: ScryptReply) => this.#done(thread, reply));
    worker.on('error', (err) => this.#lost(thread, err));
    worker.on('exit', (code) => this.#lost(thread, new Error(`hashing process exited with ${code}`)));
    this.#threads.push(thread);
    return thread;
  }

  /** Busy, a process keeps the broker alive until the answer is in; idle, it never does. */
  #hold(thread: Thread, busy: boolean): void {
    clearTimeout(thread.idleTimer);
    thread.idleTimer = undefined;
    const channel = thread.worker.channel as { ref(): void; unref(): void } | null | undefined;
    if (busy) {
      thread.worker.ref();
      channel?.ref();
      return;
    }
    thread.worker.unref();
    channel?.unref();
    thread.idleTimer = setTimeout(() => this.#retire(thread), this.#options.idleMs ?? idleMsDefault);
    thread.idleTimer.unref();
  }

  /** An idle process ends; the pool forgets it first, so its exit is no loss. */
  #retire(thread: Thread): void {
    const at = this.#threads.indexOf(thread);
    if (at < 0 || thread.job !== undefined) return;
    this.#threads.splice(at, 1);
    void this.#end(thread);
  }

  #end(thread: Thread): Promise<void> {
    clearTimeout(thread.idleTimer);
    const { worker } = thread;
    if (worker.exitCode !== null || worker.signalCode !== null) return Promise.resolve();
    const exited = new Promise<void>((resolve) => worker.once('exit', () => resolve()));
    // Referenced until it has gone, so whoever awaits the end is not left behind an empty event loop.
    worker.ref();
    worker.kill();
    return exited;
  }

  #run(thread: Thread, job: Job): void {
    thread.job = job;
    thread.jobId = this.#nextId++;
    this.#hold(thread, true);
    thread.worker.send({ id: thread.jobId, ...job.request } satisfies ScryptRequest);
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
    this.#hold(thread, false);
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
    clearTimeout(thread.idleTimer);
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
