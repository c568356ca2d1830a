/**
 * Time as an input. Core (TTLs, expiry, delays, retention) and the protocols' timers (heartbeats,
 * keep-alive, will delay, session and rebalance timeouts) read time and arm timers only through a
 * `Clock`, so tests drive them with `ManualClock` instead of sleeping.
 */
import { assert } from './assert.js';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

/** One Node timer's cancel: an object of one field, where a closure and its context were ~100 bytes. */
class NodeTimer {
  readonly #handle: NodeJS.Timeout;

  constructor(handle: NodeJS.Timeout) {
    this.#handle = handle;
  }

  cancel(): void {
    clearTimeout(this.#handle);
  }
}

/** Node's setTimeout caps at 2^31-1 ms; longer timers are re-armed in steps. */
const timerStepMsMax = 2 ** 31 - 1;

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    // The usual timer is one Node timer: no re-arming, so a short one (flow control polls every
    // millisecond) fires after its wait and not a timer turn later.
    if (!(ms > timerStepMsMax)) {
      const handle = setTimeout(fn, Math.max(0, ms));
      // A timer must never keep a process alive on its own.
      handle.unref();
      return new NodeTimer(handle);
    }
    const due = Date.now() + Math.max(0, ms);
    let handle: NodeJS.Timeout | undefined;
    const arm = (): void => {
      const wait = Math.min(timerStepMsMax, Math.max(0, due - Date.now()));
      handle = setTimeout(() => (Date.now() >= due ? fn() : arm()), wait);
      // A timer must never keep a process alive on its own.
      handle.unref();
    };
    arm();
    return { cancel: () => clearTimeout(handle) };
  },
};

interface ManualTimer {
  readonly due: number;
  readonly seq: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** Firing more timers than this in one `advance` means a timer keeps re-arming itself at zero delay. */
const advanceFiresMax = 1_000_000;

/**
 * A clock that moves only when told. `advance(ms)` fires every timer due within the step in due order
 * (ties in creation order), moving `now()` to each timer's due time before calling it, so timers set
 * from inside a callback fire in the same step when they fall within it.
 */
export class ManualClock implements Clock {
  #now: number;
  #seq = 0;
  #timers: ManualTimer[] = [];

  constructor(startMs = 1_700_000_000_000) {
    this.#now = startMs;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): { cancel(): void } {
    const timer: ManualTimer = { due: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false };
    this.#timers.push(timer);
    return {
      cancel: () => {
        timer.cancelled = true;
      },
    };
  }

  /** Timers not yet fired nor cancelled. */
  get pending(): number {
    return this.#timers.filter((t) => !t.cancelled).length;
  }

  advance(ms: number): void {
    assert(ms >= 0, 'ManualClock cannot go back in time');
    const target = this.#now + ms;
    for (let fired = 0; ; fired++) {
      assert(fired < advanceFiresMax, 'ManualClock: runaway timers');
      const next = this.#takeNext(target);
      if (next === undefined) break;
      this.#now = Math.max(this.#now, next.due);
      next.fn();
    }
    this.#now = target;
  }

  #takeNext(target: number): ManualTimer | undefined {
    this.#timers = this.#timers.filter((t) => !t.cancelled);
    let best: ManualTimer | undefined;
    for (const t of this.#timers) {
      if (t.due > target) continue;
      if (best === undefined || t.due < best.due || (t.due === best.due && t.seq < best.seq)) best = t;
    }
    if (best !== undefined) best.cancelled = true;
    return best;
  }
}
