/**
 * The resource alarm hub: which alarms are active and who wants to know. No I/O and no timers; the
 * server's monitor (src/server/alarms.ts) measures memory and disk and calls `set`.
 */
import { brokerError, ErrorCode } from '../shared/errors.js';
import type { AlarmKind, AlarmListener, Alarms } from './api.js';

/** Subscribers at once; adapters subscribe once per listener, so this is far above real use. */
export const alarmListenersMax = 10_000;

export class AlarmHub implements Alarms {
  /** Replaced, never changed, on every change: `active()` is asked on every publish and must not allocate. */
  #active: readonly AlarmKind[] = Object.freeze([]);
  readonly #listeners = new Set<AlarmListener>();

  set(kind: AlarmKind, active: boolean): void {
    if (active === this.#active.includes(kind)) return;
    const next = active ? [...this.#active, kind] : this.#active.filter((k) => k !== kind);
    this.#active = Object.freeze(next);
    this.#notify();
  }

  active(): readonly AlarmKind[] {
    return this.#active;
  }

  subscribe(listener: AlarmListener): () => void {
    if (this.#listeners.size >= alarmListenersMax) {
      throw brokerError(ErrorCode.resourceExhausted, `More than ${alarmListenersMax} alarm listeners`);
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Every listener hears the change even when an earlier one throws; the first failure is rethrown. */
  #notify(): void {
    const active = this.#active;
    let failure: { error: unknown } | undefined;
    for (const listener of [...this.#listeners]) {
      try {
        listener(active);
      } catch (error) {
        failure ??= { error };
      }
    }
    if (failure !== undefined) throw failure.error;
  }
}
