/**
 * `MemoryStorage`: the `Storage` contract held in memory, for tests and transient brokers. It answers
 * exactly like `FileStorage` (same validation, read limits, multi-offset entries, time lookups), except
 * that truncation and retention drop single entries instead of whole segments, and nothing is durable:
 * every `durable` promise resolves at once.
 */
import { BrokerError, ErrorCode } from '../shared/errors.js';
import {
  checkLogName,
  closedError,
  type Leased,
  Leases,
  nextIncarnation,
  normaliseAppend,
  quietRejection,
  ReadBudget,
  recordHeaderBytes,
  resolveLimits,
} from './common.js';
import { EntryTable } from './memory-table.js';
import type {
  AppendInput,
  AppendResult,
  Log,
  LogEntry,
  ReadOptions,
  RetentionOptions,
  RewriteChoice,
  RewriteResult,
  Storage,
  StorageLimits,
} from './types.js';

const resolved: Promise<void> = Promise.resolve();
/** Entries one `rewrite` call visits, standing in for a segment. */
export const rewriteEntriesMax = 1024;

/** Index of the first entry in `table` (sorted by offset) that reaches `offset`. */
function firstReaching(table: EntryTable, offset: number): number {
  let lo = 0;
  let hi = table.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (table.endAt(mid) > offset) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The stored state of one incarnation; it outlives `MemoryLog` handles so a reopen finds its entries. */
interface MemoryLogState {
  readonly incarnation: number;
  readonly table: EntryTable;
  /** First offset still stored: moved by truncation and retention, never by a rewrite. */
  startOffset: number;
  endOffset: number;
  sizeBytes: number;
}

/** What a handle asks of its storage when it ends. */
interface MemoryLogOwner {
  release(log: MemoryLog): void;
  /** Forgets the state of `log`'s incarnation. */
  remove(log: MemoryLog): void;
}

export class MemoryLog implements Log, Leased {
  readonly name: string;
  readonly state: MemoryLogState;
  private readonly limits: StorageLimits;
  private readonly owner: MemoryLogOwner;
  private closed = false;
  private deleted = false;

  constructor(name: string, state: MemoryLogState, limits: StorageLimits, owner: MemoryLogOwner) {
    this.name = name;
    this.state = state;
    this.limits = limits;
    this.owner = owner;
  }

  get incarnation(): number {
    return this.state.incarnation;
  }

  /** Both close and delete release at once. */
  get releasing(): Promise<void> | undefined {
    return this.closed ? resolved : undefined;
  }

  get startOffset(): number {
    return this.state.startOffset;
  }

  get sealedOffset(): number {
    return this.state.endOffset;
  }

  get endOffset(): number {
    return this.state.endOffset;
  }

  get sizeBytes(): number {
    return this.state.sizeBytes;
  }

  append(input: AppendInput): AppendResult {
    this.checkOpen();
    const n = normaliseAppend(this.name, input, this.limits);
    const offset = this.state.endOffset;
    // The table copies: the caller may reuse its buffer, and a stored entry must never change.
    // (`owned` allows keeping it, but a view would keep the caller's whole buffer alive for good.)
    this.state.table.push(offset, n);
    n.release?.();
    this.state.endOffset = offset + n.count;
    this.state.sizeBytes += recordHeaderBytes + n.payload.byteLength;
    return { offset, durable: resolved };
  }

  read(offset: number, options?: ReadOptions): LogEntry[] {
    this.checkOpen();
    const table = this.state.table;
    const out: LogEntry[] = [];
    const budget = new ReadBudget(options);
    for (let i = firstReaching(table, offset); i < table.length; i++) {
      if (!budget.take(table.payloadBytesAt(i))) break;
      out.push(table.at(i));
    }
    return out;
  }

  offsetForTimestamp(timestamp: number): number {
    this.checkOpen();
    const table = this.state.table;
    for (let i = 0; i < table.length; i++) {
      if (table.maxTimestampAt(i) >= timestamp) return table.offsetAt(i);
    }
    return this.state.endOffset;
  }

  truncateBefore(offset: number): void {
    this.checkOpen();
    this.dropWhile((i) => this.state.table.endAt(i) <= offset);
  }

  applyRetention(options: RetentionOptions, now: number): number {
    this.checkOpen();
    const { bytesMax, ageMsMax } = options;
    if (bytesMax !== undefined) this.dropWhile(() => this.state.sizeBytes > bytesMax);
    if (ageMsMax !== undefined) this.dropWhile((i) => this.state.table.maxTimestampAt(i) < now - ageMsMax);
    return this.startOffset;
  }

  rewrite(from: number, choose: (entry: LogEntry) => RewriteChoice): Promise<RewriteResult> {
    try {
      this.checkOpen();
      const table = this.state.table;
      const first = firstReaching(table, from);
      const end = Math.min(first + rewriteEntriesMax, table.length);
      // Every choice is made before anything changes, so a `choose` that throws changes nothing.
      const kept: { index: number; payload?: Uint8Array }[] = [];
      let bytesFreed = 0;
      for (let i = first; i < end; i++) {
        const entry = table.at(i);
        const choice = choose(entry);
        if (choice === 'keep') kept.push({ index: i - first });
        else if (choice === 'drop') bytesFreed += recordHeaderBytes + entry.payload.byteLength;
        else {
          bytesFreed += entry.payload.byteLength - choice.byteLength;
          kept.push({ index: i - first, payload: choice });
        }
      }
      const nextOffset = end < table.length ? table.offsetAt(end) : this.state.endOffset;
      table.replace(first, end, kept);
      this.state.sizeBytes -= bytesFreed;
      return Promise.resolve({ nextOffset, bytesFreed });
    } catch (err) {
      return quietRejection(err instanceof Error ? err : new Error(String(err)));
    }
  }

  sync(): Promise<void> {
    return this.closed ? quietRejection(closedError(this.name)) : resolved;
  }

  /** Nothing to write: an append is in memory once it returns. */
  written(): Promise<void> {
    return this.sync();
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.owner.release(this);
    }
    return resolved;
  }

  delete(): Promise<void> {
    if (this.deleted) return resolved;
    if (this.closed) return quietRejection(closedError(this.name));
    this.closed = true;
    this.deleted = true;
    this.owner.remove(this);
    this.owner.release(this);
    return resolved;
  }

  private checkOpen(): void {
    if (this.closed) throw closedError(this.name);
  }

  /** Drops entries from the first while `predicate` holds for the first one left (its index, 0). */
  private dropWhile(predicate: (index: number) => boolean): void {
    const table = this.state.table;
    let n = 0;
    while (n < table.length && predicate(n)) {
      this.state.sizeBytes -= recordHeaderBytes + table.payloadBytesAt(n);
      this.state.startOffset = Math.max(this.state.startOffset, table.endAt(n));
      n++;
    }
    if (n > 0) table.dropFirst(n);
  }
}

export class MemoryStorage implements Storage {
  private readonly limits: StorageLimits;
  private readonly states = new Map<string, MemoryLogState>();
  private readonly leases = new Leases<MemoryLog>();
  private lastIncarnation = 0;
  private closed = false;
  private readonly owner: MemoryLogOwner = {
    release: (log) => this.leases.release(log.name, log),
    remove: (log) => {
      if (this.states.get(log.name) === log.state) this.states.delete(log.name);
    },
  };

  constructor(limits?: Partial<StorageLimits>) {
    this.limits = resolveLimits(limits);
  }

  static create(limits?: Partial<StorageLimits>): MemoryStorage {
    return new MemoryStorage(limits);
  }

  async openLog(name: string): Promise<Log> {
    this.checkOpen();
    checkLogName(name);
    return this.leases.take(name, () => new MemoryLog(name, this.stateOf(name), this.limits, this.owner));
  }

  async removeLog(name: string): Promise<void> {
    this.checkOpen();
    checkLogName(name);
    await this.leases.whenFree(name, () => this.states.delete(name));
  }

  listLogs(): Promise<string[]> {
    this.checkOpen();
    return Promise.resolve([...this.states.keys()].sort());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const log of this.leases.holders()) await log.close();
    this.closed = true;
  }

  private stateOf(name: string): MemoryLogState {
    let state = this.states.get(name);
    if (state === undefined) {
      this.lastIncarnation = nextIncarnation(this.lastIncarnation, Date.now());
      state = {
        incarnation: this.lastIncarnation,
        table: new EntryTable(),
        startOffset: 0,
        endOffset: 0,
        sizeBytes: 0,
      };
      this.states.set(name, state);
    }
    return state;
  }

  private checkOpen(): void {
    if (this.closed) throw new BrokerError(ErrorCode.invalidState, 'Storage is closed');
  }
}
