/**
 * `OwnedLog`: a state log with its own executor, as one owned object (a consumer group, a session,
 * a vhost's retained set or producer registry) holds it. A failure its executor catches — a write the
 * disk refused, a failed assertion in its deferred work — abandons the log; within the supervisor's
 * restart intensity the log is reopened and its state rebuilt from what it holds, as a queue is.
 * Meanwhile, and for good past the intensity, commits refuse with `storage_failed` and reads see the
 * state as it was.
 */
import type { Storage } from '../../storage/types.js';
import type { Executor } from '../exec/executor.js';
import type { Supervisor } from '../exec/supervisor.js';
import { type StatePrefix, stateLogName } from './names.js';
import {
  type CommitOptions,
  type CompactionLimits,
  describe,
  type Identity,
  type OpenedLog,
  type StateHolder,
  StateLog,
  type StateLogOptions,
  type StateMachine,
} from './state-log.js';

export interface OwnedLogOptions<S, E> {
  readonly storage: Storage;
  readonly supervisor: Supervisor;
  readonly machine: StateMachine<S, E>;
  readonly identity: Identity;
  readonly logName: string;
  readonly limits?: CompactionLimits;
  /** The object failed: stop what it runs (its timers); its state stays readable. */
  readonly onFailed?: (err: unknown) => void;
  /** The log was reopened after a failure: the state is what the log holds. */
  readonly onRestarted?: () => void;
}

/** How the log is reached: opened (or created) by name, freshly created, or adopted from discovery. */
export type OwnedLogSource<S> = 'open' | 'create' | { readonly adopt: OpenedLog<S> };

/** What the owned objects of a vhost are opened with. */
export interface VhostObjectDeps {
  readonly vhost: string;
  readonly storage: Storage;
  readonly supervisor: Supervisor;
  readonly limits?: CompactionLimits;
}

/**
 * The options of object `name` of kind `prefix` in `deps.vhost` (a one-per-vhost object has no
 * name): its identity and log name follow from those.
 */
export function vhostObjectOptions<S, E>(
  deps: VhostObjectDeps,
  machine: StateMachine<S, E>,
  prefix: StatePrefix,
  name?: string,
): OwnedLogOptions<S, E> {
  const { vhost, storage, supervisor, limits } = deps;
  return {
    storage,
    supervisor,
    machine,
    identity: { kind: machine.kind, vhost, name: name ?? '' },
    logName: stateLogName(prefix, vhost, name),
    ...(limits === undefined ? {} : { limits }),
  };
}

/** A found log is adopted; a one-per-vhost object found nowhere is new. */
export function sourceOf<S>(found: OpenedLog<S> | undefined): OwnedLogSource<S> {
  return found === undefined ? 'create' : { adopt: found };
}

export class OwnedLog<S, E> implements StateHolder<S, E> {
  readonly exec: Executor;
  readonly #options: OwnedLogOptions<S, E>;
  #log!: StateLog<S, E>;
  #restarting: Promise<void> | undefined;
  #closed = false;

  private constructor(options: OwnedLogOptions<S, E>) {
    this.#options = options;
    const { kind, vhost, name } = options.identity;
    const where = [vhost, name].filter((part) => part !== '').join('/');
    this.exec = options.supervisor.executor(kind, where, { onFault: (err) => this.#failed(err) });
  }

  static async open<S, E>(
    options: OwnedLogOptions<S, E>,
    source: OwnedLogSource<S>,
  ): Promise<OwnedLog<S, E>> {
    const owned = new OwnedLog(options);
    const logOptions = owned.#logOptions();
    try {
      if (source === 'open') owned.#log = await StateLog.open(logOptions, options.logName);
      else if (source === 'create') owned.#log = await StateLog.create(logOptions, options.logName);
      else owned.#log = StateLog.adopt(logOptions, source.adopt);
    } catch (err) {
      owned.exec.stop();
      if (typeof source === 'object') await source.adopt.log.close().catch(() => undefined);
      throw err;
    }
    return owned;
  }

  get state(): S {
    return this.#log.state;
  }

  get identity(): Identity {
    return this.#options.identity;
  }

  get failed(): boolean {
    return this.exec.failed;
  }

  commit(entry: E, options?: CommitOptions): Promise<void> {
    return this.#log.commit(entry, options);
  }

  /** `StateLog.applyCarried`. */
  applyCarried(entry: E): void {
    this.#log.applyCarried(entry);
  }

  settled(): Promise<void> {
    return this.#log.settled();
  }

  /** Stops the executor and closes the log (a restart under way finishes first); the data stays. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.exec.stop();
    await this.#restarting;
    await (this.exec.failed ? this.#log.abandon() : this.#log.close());
  }

  /** The object is deleted: its executor stops and its log goes. */
  async destroy(): Promise<void> {
    this.#closed = true;
    this.exec.stop();
    await this.#restarting;
    await this.#log.destroy();
  }

  #logOptions(): StateLogOptions<S, E> {
    const { storage, machine, identity, limits } = this.#options;
    return { storage, machine, exec: this.exec, identity, ...(limits === undefined ? {} : { limits }) };
  }

  #failed(err: unknown): void {
    if (this.#closed) return;
    this.#options.onFailed?.(err);
    const abandoned = this.#log.abandon();
    const { supervisor, identity, logName } = this.#options;
    if (!supervisor.mayRestart(describe(identity))) return;
    this.#restarting = abandoned
      .then(() => StateLog.open(this.#logOptions(), logName))
      .then(
        async (log) => {
          if (this.#closed) return log.close();
          this.#log = log;
          this.exec.restart();
          this.#options.onRestarted?.();
        },
        () => undefined, // the log would not reopen: the object stays failed until the broker restarts
      );
  }
}
