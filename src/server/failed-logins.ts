/**
 * The log of refused logins: each one with its user, source address and reason, so an operator sees
 * who is guessing from where; at most `linesPerSecondMax` a second, so a flood of wrong passwords
 * cannot flood the log (or the disk under it). What is left out is counted and said in one line when
 * the next second begins.
 */
import type { Logger } from '../shared/logger.js';

/** Refused logins logged one by one per second; beyond that they are counted. */
export const failedLoginLinesPerSecondMax = 10;
const windowMs = 1000;

export interface FailedLogin {
  readonly user: string;
  readonly address: string | undefined;
  /** The login gate's reason: `credentials`, `loopback_only`, `anonymous`, `busy`. */
  readonly reason: string;
}

export class FailedLoginLog {
  readonly #logger: Logger | undefined;
  readonly #now: () => number;
  readonly #linesPerSecondMax: number;
  #windowStartMs = Number.NEGATIVE_INFINITY;
  #logged = 0;
  #suppressed = 0;

  constructor(
    logger: Logger | undefined,
    now: () => number = Date.now,
    linesPerSecondMax = failedLoginLinesPerSecondMax,
  ) {
    this.#logger = logger;
    this.#now = now;
    this.#linesPerSecondMax = linesPerSecondMax;
  }

  refused(login: FailedLogin): void {
    if (this.#logger === undefined) return;
    const now = this.#now();
    if (now - this.#windowStartMs >= windowMs) this.#nextWindow(now);
    if (this.#logged >= this.#linesPerSecondMax) {
      this.#suppressed++;
      return;
    }
    this.#logged++;
    this.#logger.warn({ user: login.user, address: login.address, reason: login.reason }, 'login refused');
  }

  #nextWindow(now: number): void {
    if (this.#suppressed > 0) {
      this.#logger?.warn(
        {
          suppressed: this.#suppressed,
          seconds: Math.max(1, Math.round((now - this.#windowStartMs) / windowMs)),
        },
        'more logins refused than logged one by one',
      );
    }
    this.#windowStartMs = now;
    this.#logged = 0;
    this.#suppressed = 0;
  }
}
