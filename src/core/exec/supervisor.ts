/**
 * The supervisor of core's owned objects, as an Erlang supervisor is of its processes: it hands each
 * object its executor (./executor.ts), and when one fails it logs the error with its stack, counts it,
 * and tells the object to stop serving (its consumers and publishers get their protocol's error). An
 * object may then be restarted from what its log holds, a bounded number of times within a window
 * (restart intensity); past that it stays failed until it is declared or opened again.
 * Nothing an object does can end the process.
 */
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import { Executor, type FaultSink } from './executor.js';

/** What an owned object does when it fails. Must not throw; if it does, that is logged and ignored. */
export interface Supervised {
  onFault(err: unknown): void;
}

export interface FaultRecord {
  readonly kind: string;
  readonly name: string;
  readonly message: string;
  readonly atMs: number;
}

export interface SupervisorOptions {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Restarts allowed per object within `restartWindowMs` (Erlang's MaxR / MaxT). */
  readonly restartsMax?: number;
  readonly restartWindowMs?: number;
}

const restartsMaxDefault = 3;
const restartWindowMsDefault = 60_000;
/** Faults kept for the admin API; older ones are counted only. */
const recentFaultsMax = 100;

export class Supervisor implements FaultSink {
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #restartsMax: number;
  readonly #restartWindowMs: number;
  readonly #owners = new WeakMap<Executor, Supervised>();
  /** Restart times per object name, only for objects that failed within the window. */
  readonly #restarts = new Map<string, number[]>();
  readonly #recent: FaultRecord[] = [];
  /** Faults per object kind since start. */
  readonly faults = new Map<string, number>();

  constructor(options: SupervisorOptions) {
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#restartsMax = options.restartsMax ?? restartsMaxDefault;
    this.#restartWindowMs = options.restartWindowMs ?? restartWindowMsDefault;
  }

  /** A new executor for the object `kind` `name`, whose failures `owner` hears of. */
  executor(kind: string, name: string, owner: Supervised): Executor {
    const executor = new Executor(kind, name, this.#clock, this);
    this.#owners.set(executor, owner);
    return executor;
  }

  fault(executor: Executor, err: unknown): void {
    this.faults.set(executor.kind, (this.faults.get(executor.kind) ?? 0) + 1);
    const message = err instanceof Error ? err.message : String(err);
    this.#recent.push({ kind: executor.kind, name: executor.name, message, atMs: this.#clock.now() });
    if (this.#recent.length > recentFaultsMax) this.#recent.shift();
    this.#logger.error(
      { err, object: executor.name, kind: executor.kind },
      `${executor.kind} failed; it stops serving`,
    );
    try {
      this.#owners.get(executor)?.onFault(err);
    } catch (reactionErr) {
      this.#logger.error({ err: reactionErr, object: executor.name }, 'failure handling failed');
    }
  }

  /** Whether `name` may restart now; a yes counts as one restart within the window. */
  mayRestart(name: string): boolean {
    const now = this.#clock.now();
    const recent = (this.#restarts.get(name) ?? []).filter((at) => at > now - this.#restartWindowMs);
    if (recent.length >= this.#restartsMax) {
      this.#restarts.set(name, recent);
      return false;
    }
    recent.push(now);
    this.#restarts.set(name, recent);
    this.#forgetOld(now);
    return true;
  }

  get faultCount(): number {
    let total = 0;
    for (const count of this.faults.values()) total += count;
    return total;
  }

  recentFaults(): readonly FaultRecord[] {
    return this.#recent;
  }

  #forgetOld(now: number): void {
    for (const [name, times] of this.#restarts) {
      if (times.every((at) => at <= now - this.#restartWindowMs)) this.#restarts.delete(name);
    }
  }
}
