/**
 * Slows down password guessing per client address, before any hashing:
 *
 * - An address may have `pendingPerAddressMax` logins queued for hashing or being hashed; more are
 *   refused at once, so one address cannot fill the hashing queue.
 * - After `failuresFree` failed logins, an address's attempts are spaced `delayMs` apart, doubling
 *   with each further failure up to `delayMsMax`. An attempt waits for its turn; one whose turn is
 *   further away than `delayMsMax` waits half to all of that (at random) and is then refused, so a
 *   guessing loop holds a connection open instead of spinning. `windowMs` without a failure forgets the address. A success
 *   does not: behind one NAT, a user's login must not hand the attacker next to it fresh guesses (the
 *   user's own repeat logins pass anyway, from core's cache of verified credentials).
 * - At most `addressesMax` addresses are remembered, the least recently failed forgotten first, so a
 *   flood from many addresses costs a bounded table (and each of those addresses starts clean).
 */
import { type Clock, systemClock } from '../shared/clock.js';
import { brokerError, ErrorCode } from '../shared/errors.js';

export interface ThrottleLimits {
  readonly failuresFree: number;
  readonly delayMs: number;
  readonly delayMsMax: number;
  readonly windowMs: number;
  readonly addressesMax: number;
  readonly pendingPerAddressMax: number;
}

interface Failures {
  count: number;
  lastMs: number;
  /** When the next attempt of this address may be hashed. */
  nextTurnMs: number;
}

/** Loopback clients without an address (unit tests) share one entry. */
const unknownAddress = '?';

function sleep(clock: Clock, ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = clock.setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted(): void {
      timer.cancel();
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

export class LoginThrottle {
  readonly #limits: ThrottleLimits;
  readonly #clock: Clock;
  readonly #random: () => number;
  /** Insertion order is failure order: the first entry is the least recently failed. */
  readonly #failures = new Map<string, Failures>();
  readonly #pending = new Map<string, number>();
  /** Attempts waiting for room, per address, in arrival order. */
  readonly #waiting = new Map<string, Array<() => void>>();

  /** Time and chance are inputs, so tests drive them (`ManualClock`, a fixed `random`). */
  constructor(limits: ThrottleLimits, clock: Clock = systemClock, random: () => number = Math.random) {
    this.#limits = limits;
    this.#clock = clock;
    this.#random = random;
  }

  /**
   * Waits for the address's turn and for room among its attempts under way; resolves with the
   * function that ends this attempt (call it when the hash is done). An attempt that gets neither by
   * its deadline — half to all of `delayMsMax` after it came, at random, so that clients turned away
   * together do not all come back together — is refused then with `resource_exhausted`; one whose
   * client goes, with the signal's reason.
   */
  async admit(address: string | undefined, signal?: AbortSignal): Promise<() => void> {
    const key = address ?? unknownAddress;
    const deadline = this.#clock.now() + this.#limits.delayMsMax * (0.5 + this.#random() / 2);
    for (;;) {
      await this.#turn(key, deadline, signal);
      const pending = this.#pending.get(key) ?? 0;
      if (pending < this.#limits.pendingPerAddressMax) {
        this.#pending.set(key, pending + 1);
        return this.#ender(key);
      }
      await this.#room(key, deadline, signal);
    }
  }

  async #turn(key: string, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    const entry = this.#entry(key);
    const delay = entry === undefined ? 0 : this.delayMs(entry.count);
    if (entry === undefined || delay === 0) return;
    const now = this.#clock.now();
    const turn = Math.max(now, entry.nextTurnMs);
    if (turn > deadline) {
      await sleep(this.#clock, deadline - now, signal);
      throw busy('Too many failed logins from this address');
    }
    entry.nextTurnMs = turn + delay;
    if (turn > now) await sleep(this.#clock, turn - now, signal);
  }

  /** Waits until one of the address's attempts ends; refused at `deadline`. */
  #room(key: string, deadline: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiters = this.#waiting.get(key) ?? [];
      const leave = () => {
        timer.cancel();
        signal?.removeEventListener('abort', aborted);
        const at = waiters.indexOf(woken);
        if (at >= 0) waiters.splice(at, 1);
        if (waiters.length === 0 && this.#waiting.get(key) === waiters) this.#waiting.delete(key);
      };
      const woken = () => {
        leave();
        resolve();
      };
      const aborted = () => {
        leave();
        reject(signal?.reason);
      };
      const timer = this.#clock.setTimeout(
        () => {
          leave();
          reject(busy('Too many logins under way from this address'));
        },
        Math.max(0, deadline - this.#clock.now()),
      );
      signal?.addEventListener('abort', aborted, { once: true });
      waiters.push(woken);
      this.#waiting.set(key, waiters);
    });
  }

  /** Ends an attempt once: frees its room and lets the next attempt waiting for room go. */
  #ender(key: string): () => void {
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.#pending.get(key) ?? 1) - 1;
      if (left <= 0) this.#pending.delete(key);
      else this.#pending.set(key, left);
      this.#waiting.get(key)?.[0]?.();
    };
  }

  /** The spacing of attempts after `count` failures. */
  delayMs(count: number): number {
    const over = count - this.#limits.failuresFree;
    if (over < 0) return 0;
    return Math.min(this.#limits.delayMsMax, this.#limits.delayMs * 2 ** Math.min(over, 30));
  }

  /** Recent failures of the address (0 once forgotten). */
  failures(address: string | undefined): number {
    return this.#entry(address ?? unknownAddress)?.count ?? 0;
  }

  failed(address: string | undefined): void {
    const key = address ?? unknownAddress;
    const now = this.#clock.now();
    const entry = this.#entry(key) ?? { count: 0, lastMs: now, nextTurnMs: now };
    entry.count++;
    entry.lastMs = now;
    this.#failures.delete(key);
    while (this.#failures.size >= this.#limits.addressesMax) {
      const oldest = this.#failures.keys().next();
      if (oldest.done === true) break;
      this.#failures.delete(oldest.value);
    }
    if (this.#limits.addressesMax > 0) this.#failures.set(key, entry);
  }

  /** Addresses remembered, addresses with logins under way, attempts waiting for room. */
  stats(): { addresses: number; pendingAddresses: number; waiting: number } {
    let waiting = 0;
    for (const list of this.#waiting.values()) waiting += list.length;
    return { addresses: this.#failures.size, pendingAddresses: this.#pending.size, waiting };
  }

  #entry(key: string): Failures | undefined {
    const entry = this.#failures.get(key);
    if (entry !== undefined && this.#clock.now() - entry.lastMs > this.#limits.windowMs) {
      this.#failures.delete(key);
      return undefined;
    }
    return entry;
  }
}

function busy(message: string): Error {
  return brokerError(ErrorCode.resourceExhausted, message);
}
