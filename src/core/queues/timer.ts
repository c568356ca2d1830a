/** One re-armable timer on a `Clock`: arming for the time it is already set to is free. */
import type { Clock } from '../api.js';

export class QueueTimer {
  readonly #clock: Clock;
  readonly #fire: () => void;
  #due: number | undefined;
  #handle: { cancel(): void } | undefined;

  constructor(clock: Clock, fire: () => void) {
    this.#clock = clock;
    this.#fire = fire;
  }

  /** Fires at `dueMs` (absolute); undefined disarms. */
  armAt(dueMs: number | undefined): void {
    if (dueMs === this.#due) return;
    this.cancel();
    if (dueMs === undefined) return;
    this.#due = dueMs;
    this.#handle = this.#clock.setTimeout(() => {
      this.#due = undefined;
      this.#handle = undefined;
      this.#fire();
    }, dueMs - this.#clock.now());
  }

  cancel(): void {
    this.#handle?.cancel();
    this.#handle = undefined;
    this.#due = undefined;
  }
}
