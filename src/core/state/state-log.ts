/**
 * `StateLog`: the durable state of one owned object (the definitions, a consumer group, a session, a
 * vhost's retained set or producer registry) as a storage `Log` of typed entries, applied by the
 * object kind's `apply`. Opening replays the log through `apply`; a commit applies at once (reads see
 * it) and appends, resolving once durable under the fsync policy. A log that refuses fails the
 * owner's executor, as a queue's does.
 *
 * Records (the storage `format` byte tells them apart; docs/storage-format.md):
 *
 *   entry            one entry, applied to the current state
 *   snapshot begin   { kind, vhost, name, entries: n }: the object's identity, then a snapshot run
 *   snapshot entry   n of them: the entries that rebuild the state from `initial()`
 *   snapshot end     { entries: n }
 *
 * A snapshot is a run of ordinary-sized entries, so a state of any size stays within the storage's
 * per-entry bound. On replay a run replaces the state only when it is whole (begin, exactly n
 * entries, end, nothing between): a crash part-way leaves the older state, and the entries after
 * it apply to that. The log is truncated before a run once its end is durable. Every log starts with
 * a run (of the initial state), so its identity is its first record: objects are found at start by
 * listing logs (./discover.ts).
 *
 * `apply` is deterministic — the next state depends on the state and the entry alone, no clock, no
 * I/O — and may update the state in place and return it, so a large state costs O(1) per entry.
 * It must not throw on an entry `decode` accepted: validation happens before commit and in decode.
 */
import { brokerError, ErrorCode, isBrokerError } from '../../shared/errors.js';
import type { AppendResult, Log, Storage } from '../../storage/types.js';
import type { Executor } from '../exec/executor.js';
import { corrupt, decodeJson, encodeJson, Fields, type Json } from './json.js';

/** The storage format byte of each record kind. */
export const recordFormat = { entry: 1, snapshotBegin: 2, snapshotEntry: 3, snapshotEnd: 4 } as const;

/** Which object a log belongs to; written in every snapshot run. */
export interface Identity {
  readonly kind: string;
  /** '' for broker-wide objects (the definitions). */
  readonly vhost: string;
  /** '' for one-per-vhost objects (the retained set, the producer registry). */
  readonly name: string;
}

/** One object kind: its state, its entries and how they apply. */
export interface StateMachine<S, E> {
  readonly kind: string;
  initial(): S;
  apply(state: S, entry: E): S;
  encode(entry: E): Json;
  /** Throws `storage_corrupt` for anything `encode` would not have written. */
  decode(json: unknown): E;
  /** Entries that, applied to `initial()` in order, rebuild `state`. */
  snapshot(state: S): Iterable<E>;
}

export interface CommitOptions {
  /** Nothing waits for the entry's durability soon: it may wait to share the log's next write. */
  readonly lazy?: boolean;
}

/** What a commit needs: the current state to read, and a way to change it. */
export interface StateHolder<S, E> {
  readonly state: S;
  /** Applies `entry` now; the promise resolves once it is durable. Throws when the log refuses. */
  commit(entry: E): Promise<void>;
}

export interface CompactionLimits {
  /**
   * A snapshot is written once the entries appended since the last one reach this many, or as many
   * as that snapshot held, whichever is larger: compaction costs O(1) amortized per entry.
   */
  readonly snapshotEntriesMin: number;
  /** The same in payload bytes. */
  readonly snapshotBytesMin: number;
}

export const compactionDefault: CompactionLimits = {
  snapshotEntriesMin: 1000,
  snapshotBytesMin: 1024 * 1024,
};

/** Bytes read per chunk while replaying. */
const replayReadBytesMax = 4 * 1024 * 1024;
const resolved: Promise<void> = Promise.resolve();

/** The result of reading a log through `apply`. */
export interface Replayed<S> {
  readonly state: S;
  /** From the last whole snapshot run; undefined when the log holds none (new, or a torn creation). */
  readonly identity: Identity | undefined;
  readonly entriesSinceSnapshot: number;
  readonly bytesSinceSnapshot: number;
  readonly snapshotEntries: number;
  readonly snapshotBytes: number;
}

interface Candidate<S> {
  readonly identity: Identity;
  readonly expected: number;
  state: S;
  seen: number;
  bytes: number;
}

/** Replays records in log order; pure apart from `apply`. */
export class Replayer<S, E> {
  readonly #machine: StateMachine<S, E>;
  #state: S;
  #identity: Identity | undefined;
  #candidate: Candidate<S> | undefined;
  #since = { entries: 0, bytes: 0 };
  #snapshot = { entries: 0, bytes: 0 };

  constructor(machine: StateMachine<S, E>) {
    this.#machine = machine;
    this.#state = machine.initial();
  }

  push(format: number, payload: Uint8Array): void {
    const machine = this.#machine;
    switch (format) {
      case recordFormat.entry:
        // Nothing comes between the records of a run, so an entry here means the run was cut short.
        this.#candidate = undefined;
        this.#state = machine.apply(this.#state, machine.decode(decodeJson(payload)));
        this.#since.entries++;
        this.#since.bytes += payload.length;
        return;
      case recordFormat.snapshotBegin: {
        const { identity, entries } = decodeBegin(payload);
        if (identity.kind !== machine.kind)
          throw corrupt(`a ${identity.kind} snapshot in a ${machine.kind} log`);
        this.#candidate = { identity, expected: entries, state: machine.initial(), seen: 0, bytes: 0 };
        return;
      }
      case recordFormat.snapshotEntry:
        this.#pushSnapshotEntry(payload);
        return;
      case recordFormat.snapshotEnd:
        this.#end(decodeEnd(payload));
        return;
      default:
        throw corrupt(`record format ${format} in a ${machine.kind} log`);
    }
  }

  result(): Replayed<S> {
    return {
      state: this.#state,
      identity: this.#identity,
      entriesSinceSnapshot: this.#since.entries,
      bytesSinceSnapshot: this.#since.bytes,
      snapshotEntries: this.#snapshot.entries,
      snapshotBytes: this.#snapshot.bytes,
    };
  }

  #pushSnapshotEntry(payload: Uint8Array): void {
    const candidate = this.#candidate;
    if (candidate === undefined) return; // the rest of a run whose begin was never whole
    candidate.state = this.#machine.apply(candidate.state, this.#machine.decode(decodeJson(payload)));
    candidate.seen++;
    candidate.bytes += payload.length;
  }

  #end(entries: number): void {
    const candidate = this.#candidate;
    this.#candidate = undefined;
    if (candidate === undefined || candidate.seen !== candidate.expected || entries !== candidate.expected)
      return;
    this.#state = candidate.state;
    this.#identity = candidate.identity;
    this.#since = { entries: 0, bytes: 0 };
    this.#snapshot = { entries: candidate.seen, bytes: candidate.bytes };
  }
}

function decodeBegin(payload: Uint8Array): { identity: Identity; entries: number } {
  const fields = new Fields(decodeJson(payload), 'snapshot begin');
  const identity = { kind: fields.str('kind'), vhost: fields.str('vhost'), name: fields.str('name') };
  return { identity, entries: fields.int('entries') };
}

function decodeEnd(payload: Uint8Array): number {
  return new Fields(decodeJson(payload), 'snapshot end').int('entries');
}

/** Reads every record of `log` through the machine. */
export function replayLog<S, E>(log: Log, machine: StateMachine<S, E>): Replayed<S> {
  const replayer = new Replayer(machine);
  for (let offset = log.startOffset; offset < log.endOffset; ) {
    const entries = log.read(offset, { maxBytes: replayReadBytesMax });
    if (entries.length === 0) break;
    for (const entry of entries) replayer.push(entry.format, entry.payload);
    const last = entries[entries.length - 1]!;
    offset = last.offset + last.count;
  }
  return replayer.result();
}

/** A log opened and replayed, not yet owned by anyone (./discover.ts hands these out). */
export interface OpenedLog<S> {
  readonly log: Log;
  readonly replayed: Replayed<S>;
}

export async function openReplayed<S, E>(
  storage: Storage,
  name: string,
  machine: StateMachine<S, E>,
): Promise<OpenedLog<S>> {
  const log = await storage.openLog(name);
  try {
    return { log, replayed: replayLog(log, machine) };
  } catch (err) {
    await log.close().catch(() => undefined);
    throw err;
  }
}

export interface StateLogOptions<S, E> {
  readonly storage: Storage;
  readonly machine: StateMachine<S, E>;
  readonly exec: Executor;
  readonly identity: Identity;
  readonly limits?: CompactionLimits;
}

export class StateLog<S, E> implements StateHolder<S, E> {
  readonly identity: Identity;
  readonly #storage: Storage;
  readonly #machine: StateMachine<S, E>;
  readonly #exec: Executor;
  readonly #limits: CompactionLimits;
  readonly #log: Log;
  #state: S;
  #since: { entries: number; bytes: number };
  #snapshot: { entries: number; bytes: number };
  #compactScheduled = false;
  /** The durability promise this log watches (one per storage batch). */
  #watched: Promise<void> | undefined;
  #last: Promise<void> = resolved;
  /** Set once the lease is let go (closed or abandoned). */
  #released: Promise<void> | undefined;

  private constructor(options: StateLogOptions<S, E>, opened: OpenedLog<S>) {
    this.identity = options.identity;
    this.#storage = options.storage;
    this.#machine = options.machine;
    this.#exec = options.exec;
    this.#limits = options.limits ?? compactionDefault;
    this.#log = opened.log;
    const { replayed } = opened;
    this.#state = replayed.state;
    this.#since = { entries: replayed.entriesSinceSnapshot, bytes: replayed.bytesSinceSnapshot };
    this.#snapshot = { entries: replayed.snapshotEntries, bytes: replayed.snapshotBytes };
  }

  /**
   * Owns a log already opened and replayed. One that holds no whole snapshot (new, or its creation
   * was torn) starts from the initial state and gets its first run now. An identity other than the
   * expected one is `storage_corrupt`.
   */
  static adopt<S, E>(options: StateLogOptions<S, E>, opened: OpenedLog<S>): StateLog<S, E> {
    const found = opened.replayed.identity;
    if (found !== undefined && !sameIdentity(found, options.identity)) {
      throw corrupt(
        `log ${opened.log.name} belongs to ${describe(found)}, not ${describe(options.identity)}`,
      );
    }
    const stateLog = new StateLog(options, opened);
    if (found === undefined) stateLog.#writeSnapshot();
    else stateLog.#maybeCompact();
    return stateLog;
  }

  /** Opens (replaying) or creates the log `name`. */
  static async open<S, E>(options: StateLogOptions<S, E>, name: string): Promise<StateLog<S, E>> {
    const opened = await openReplayed(options.storage, name, options.machine);
    try {
      return StateLog.adopt(options, opened);
    } catch (err) {
      await opened.log.close().catch(() => undefined);
      throw err;
    }
  }

  /**
   * A new object: whatever a log of that name still holds is a leftover of one whose deletion was
   * cut short (live objects' logs were all adopted at start), so it is removed first.
   */
  static async create<S, E>(options: StateLogOptions<S, E>, name: string): Promise<StateLog<S, E>> {
    let log = await options.storage.openLog(name);
    if (log.endOffset > log.startOffset) {
      await log.delete();
      log = await options.storage.openLog(name);
    }
    return StateLog.adopt(options, { log, replayed: new Replayer(options.machine).result() });
  }

  get state(): S {
    return this.#state;
  }

  get name(): string {
    return this.#log.name;
  }

  /**
   * Applies `entry` and appends it; throws (and fails the owner) when the log refuses. A `lazy` entry
   * nobody waits for soon shares the log's next write (`AppendInput.lazy`).
   */
  commit(entry: E, options?: CommitOptions): Promise<void> {
    this.#checkWritable();
    const payload = encodeJson(this.#machine.encode(entry));
    const { durable } = this.#append(recordFormat.entry, payload, options?.lazy === true);
    this.#state = this.#machine.apply(this.#state, entry);
    this.#since.entries++;
    this.#since.bytes += payload.length;
    this.#maybeCompact();
    return durable;
  }

  /**
   * Applies an entry whose durability another log carries (it is never written here): a snapshot
   * still holds its effect. Whoever carries it hands it back at start (`ProducerRegistry.adopt`).
   */
  applyCarried(entry: E): void {
    this.#checkWritable();
    this.#state = this.#machine.apply(this.#state, entry);
  }

  /** Resolves once everything committed so far is durable; rejects if a write failed. */
  settled(): Promise<void> {
    return this.#last;
  }

  /** Waits for what was committed, then releases the log; the data stays. */
  close(): Promise<void> {
    this.#released ??= this.#last.catch(() => undefined).then(() => this.#log.close());
    return this.#released;
  }

  /** The owner failed: the log is released without writing anything more. Never throws. */
  abandon(): Promise<void> {
    this.#released ??= this.#log.close();
    return this.#released.catch(() => undefined);
  }

  /**
   * The object is deleted: so is its log (the name is free at once). A log already let go (its owner
   * failed) is removed by name, since nobody holds it any more.
   */
  async destroy(): Promise<void> {
    if (this.#released === undefined) {
      this.#released = this.#log.delete();
      return this.#released;
    }
    await this.#released.catch(() => undefined);
    await this.#storage.removeLog(this.#log.name);
  }

  get #closed(): boolean {
    return this.#released !== undefined;
  }

  #checkWritable(): void {
    if (this.#exec.failed) {
      throw brokerError(
        ErrorCode.storageFailed,
        `The log of ${describe(this.identity)} failed`,
        this.#exec.failure,
      );
    }
    if (this.#closed)
      throw brokerError(ErrorCode.invalidState, `The log of ${describe(this.identity)} is closed`);
  }

  /**
   * An entry the log refuses as too large was never written: the caller hears of it and the object
   * carries on. Any other refusal means the log failed, and so does its owner.
   */
  #append(format: number, payload: Uint8Array, lazy = false): AppendResult {
    let appended: AppendResult;
    try {
      appended = this.#log.append({ payload, timestamp: this.#exec.now(), format, lazy });
    } catch (err) {
      if (!isBrokerError(err, ErrorCode.invalidArgument)) this.#exec.defer(() => this.#exec.fail(err));
      throw err;
    }
    if (appended.durable !== this.#watched) {
      this.#watched = appended.durable;
      this.#exec.follow(appended.durable);
    }
    this.#last = appended.durable;
    return appended;
  }

  #maybeCompact(): void {
    if (this.#compactScheduled || this.#closed) return;
    const entriesDue = Math.max(this.#limits.snapshotEntriesMin, this.#snapshot.entries);
    const bytesDue = Math.max(this.#limits.snapshotBytesMin, this.#snapshot.bytes);
    if (this.#since.entries < entriesDue && this.#since.bytes < bytesDue) return;
    this.#compactScheduled = true;
    this.#exec.defer(() => {
      this.#compactScheduled = false;
      if (!this.#closed) this.#writeSnapshot();
    });
  }

  /** Appends a whole run; once its end is durable, everything before it goes. */
  #writeSnapshot(): void {
    const entries = [...this.#machine.snapshot(this.#state)];
    const begin = this.#append(
      recordFormat.snapshotBegin,
      encodeJson({ ...this.identity, entries: entries.length }),
    );
    let bytes = 0;
    for (const entry of entries) {
      const payload = encodeJson(this.#machine.encode(entry));
      this.#append(recordFormat.snapshotEntry, payload);
      bytes += payload.length;
    }
    const end = this.#append(recordFormat.snapshotEnd, encodeJson({ entries: entries.length }));
    this.#since = { entries: 0, bytes: 0 };
    this.#snapshot = { entries: entries.length, bytes };
    this.#exec.follow(end.durable, () => {
      if (!this.#closed) this.#log.truncateBefore(begin.offset);
    });
  }
}

function sameIdentity(a: Identity, b: Identity): boolean {
  return a.kind === b.kind && a.vhost === b.vhost && a.name === b.name;
}

export function describe(identity: Identity): string {
  const where = identity.vhost === '' ? '' : ` in vhost '${identity.vhost}'`;
  const name = identity.name === '' ? '' : ` '${identity.name}'`;
  return `${identity.kind}${name}${where}`;
}
