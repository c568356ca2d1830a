/** One re-armable timer of a queue: arming for the time it is already set to is free. */
import type { Executor, Timer } from '../exec/executor.js';

export class QueueTimer {
  readonly #exec: Executor;
  readonly #fire: () => void;
  #due: number | undefined;
  #handle: Timer | undefined;

  constructor(exec: Executor, fire: () => void) {
    this.#exec = exec;
    this.#fire = fire;
  }

  /** Fires at `dueMs` (absolute); undefined disarms. */
  armAt(dueMs: number | undefined): void {
    if (dueMs === this.#due) return;
    this.cancel();
    if (dueMs === undefined) return;
    this.#due = dueMs;
    this.#handle = this.#exec.after(dueMs - this.#exec.now(), () => {
      this.#due = undefined;
      this.#handle = undefined;
      this.#fire();
    });
  }

  cancel(): void {
    this.#handle?.cancel();
    this.#handle = undefined;
    this.#due = undefined;
  }
}
