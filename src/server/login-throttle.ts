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

function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(done, ms);
    function done(): void {
      signal?.removeEventListener('abort', aborted);
      resolve();
    }
    function aborted(): void {
      clearTimeout(timer);
      reject(signal?.reason);
    }
    signal?.addEventListener('abort', aborted, { once: true });
  });
}

export class LoginThrottle {
  readonly #limits: ThrottleLimits;
  readonly #now: () => number;
  /** Insertion order is failure order: the first entry is the least recently failed. */
  readonly #failures = new Map<string, Failures>();
  readonly #pending = new Map<string, number>();

  constructor(limits: ThrottleLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /**
   * Waits for the address's turn; resolves with the function that ends this attempt's pending slot
   * (call it when the hash is done).
   * Rejects with `resource_exhausted` when the address has too many attempts under way or its turn
   * is too far away, and with the signal's reason when the client goes.
   */
  async admit(address: string | undefined, signal?: AbortSignal): Promise<() => void> {
    const key = address ?? unknownAddress;
    await this.#turn(key, signal);
    const pending = this.#pending.get(key) ?? 0;
    if (pending >= this.#limits.pendingPerAddressMax)
      throw busy('Too many logins under way from this address');
    this.#pending.set(key, pending + 1);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      const left = (this.#pending.get(key) ?? 1) - 1;
      if (left <= 0) this.#pending.delete(key);
      else this.#pending.set(key, left);
    };
  }

  async #turn(key: string, signal: AbortSignal | undefined): Promise<void> {
    const entry = this.#entry(key);
    const delay = entry === undefined ? 0 : this.delayMs(entry.count);
    if (entry === undefined || delay === 0) return;
    const now = this.#now();
    const turn = Math.max(now, entry.nextTurnMs);
    if (turn - now > this.#limits.delayMsMax) {
      // Spread out, so that clients refused together do not all come back in one burst.
      await sleep(this.#limits.delayMsMax * (0.5 + Math.random() / 2), signal);
      throw busy('Too many failed logins from this address');
    }
    entry.nextTurnMs = turn + delay;
    if (turn > now) await sleep(turn - now, signal);
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
    const now = this.#now();
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

  /** Addresses remembered, and addresses with logins under way. */
  stats(): { addresses: number; pendingAddresses: number } {
    return { addresses: this.#failures.size, pendingAddresses: this.#pending.size };
  }

  #entry(key: string): Failures | undefined {
    const entry = this.#failures.get(key);
    if (entry !== undefined && this.#now() - entry.lastMs > this.#limits.windowMs) {
      this.#failures.delete(key);
      return undefined;
    }
    return entry;
  }
}

function busy(message: string): Error {
  return brokerError(ErrorCode.resourceExhausted, message);
}
