/**
 * What makes a password check cheap to repeat, for `Users.verify`:
 *
 * - `VerifiedCache`: a credential verified a moment ago is not hashed again. Entries are keyed by an
 *   HMAC of user and password under a key drawn at random per cache, so the cache never holds a
 *   password nor anything that could be checked against one without that key. An entry also keeps
 *   the stored hash it was verified against: once the password changes (new salt, new hash) or the
 *   user is deleted, the entry no longer matches and is dropped. Entries live `ttlMs` from the
 *   verification (a hit does not extend them) and at most `entriesMax` are kept, oldest evicted.
 * - `SharedFlights`: checks of the same key that overlap share one hash. 2,000 clients connecting
 *   at once with one credential cost one scrypt, not 2,000. The hash is abandoned only when every
 *   caller waiting for it has gone (their abort signals).
 */
import { Buffer } from 'node:buffer';
import { createHmac, randomBytes } from 'node:crypto';
import { assert } from '../shared/assert.js';

const hmacKeyBytes = 32;

/** One password hash to compute: scrypt with N = `cost`, r = 8, p = 1. */
export interface PasswordHashJob {
  readonly password: string;
  readonly salt: Uint8Array;
  readonly cost: number;
  readonly keyBytes: number;
}

/**
 * Computes a password hash. The server passes one that runs in its hashing processes behind a bounded
 * queue; it rejects (resource_exhausted) when the queue is full and stops early once `signal` aborts.
 */
export type PasswordDerive = (job: PasswordHashJob, signal: AbortSignal) => Promise<Uint8Array>;

export interface VerifyOptions {
  /** Default: scrypt on libuv's thread pool. */
  readonly derive?: PasswordDerive;
  /** The caller has gone (its connection closed): stop waiting, and stop the hash if nobody else waits. */
  readonly signal?: AbortSignal;
}

export interface VerifiedCacheLimits {
  readonly ttlMs: number;
  readonly entriesMax: number;
}

interface Verified {
  readonly atMs: number;
  /** The stored hash (base64) the password was checked against. */
  readonly hash: string;
}

export class VerifiedCache {
  readonly #key = randomBytes(hmacKeyBytes);
  readonly #entries = new Map<string, Verified>();
  readonly #limits: VerifiedCacheLimits;
  readonly #now: () => number;

  constructor(limits: VerifiedCacheLimits, now: () => number = Date.now) {
    assert(limits.ttlMs >= 0 && limits.entriesMax >= 0, 'cache limits must not be negative');
    this.#limits = limits;
    this.#now = now;
  }

  /** The cache key of a credential; the user's length goes first, so no two pairs run together. */
  keyOf(user: string, password: string): string {
    const hmac = createHmac('sha256', this.#key);
    return hmac
      .update(`${Buffer.byteLength(user)}:${user}`)
      .update(password)
      .digest('base64');
  }

  /** True when `key` was verified against `storedHash` less than `ttlMs` ago. */
  has(key: string, storedHash: string): boolean {
    const entry = this.#entries.get(key);
    if (entry === undefined) return false;
    if (entry.hash === storedHash && this.#now() - entry.atMs < this.#limits.ttlMs) return true;
    this.#entries.delete(key);
    return false;
  }

  add(key: string, storedHash: string): void {
    if (this.#limits.entriesMax === 0 || this.#limits.ttlMs === 0) return;
    this.#entries.delete(key);
    while (this.#entries.size >= this.#limits.entriesMax) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, { atMs: this.#now(), hash: storedHash });
  }

  get size(): number {
    return this.#entries.size;
  }
}

interface Flight<T> {
  readonly result: Promise<T>;
  readonly controller: AbortController;
  waiting: number;
}

export class SharedFlights<T> {
  readonly #flights = new Map<string, Flight<T>>();

  /**
   * Joins the flight of `key`, or starts one with `run`. The caller's promise settles with the
   * flight, or rejects with its signal's reason as soon as that signal aborts. `run` gets a signal
   * that aborts when every caller has left.
   */
  join(key: string, signal: AbortSignal | undefined, run: (signal: AbortSignal) => Promise<T>): Promise<T> {
    signal?.throwIfAborted();
    let flight = this.#flights.get(key);
    if (flight === undefined) {
      const controller = new AbortController();
      const result = run(controller.signal);
      const started: Flight<T> = { result, controller, waiting: 0 };
      flight = started;
      this.#flights.set(key, started);
      const forget = () => {
        if (this.#flights.get(key) === started) this.#flights.delete(key);
      };
      result.then(forget, forget);
    }
    return this.#wait(key, flight, signal);
  }

  #wait(key: string, flight: Flight<T>, signal: AbortSignal | undefined): Promise<T> {
    flight.waiting++;
    if (signal === undefined) return flight.result;
    return new Promise<T>((resolve, reject) => {
      const leave = () => {
        flight.waiting--;
        if (flight.waiting === 0) {
          // Abandoned: a later caller with the same key starts afresh rather than join a dying flight.
          if (this.#flights.get(key) === flight) this.#flights.delete(key);
          flight.controller.abort(signal.reason);
        }
        reject(signal.reason);
      };
      signal.addEventListener('abort', leave, { once: true });
      flight.result.then(
        (value) => {
          signal.removeEventListener('abort', leave);
          resolve(value);
        },
        (err: unknown) => {
          signal.removeEventListener('abort', leave);
          reject(err);
        },
      );
    });
  }

  get size(): number {
    return this.#flights.size;
  }
}
