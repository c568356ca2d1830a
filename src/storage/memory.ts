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
  entryReaches,
  JsonMetaStore,
  normaliseAppend,
  ReadBudget,
  recordHeaderBytes,
  resolveLimits,
} from './common.js';
import type {
  AppendInput,
  AppendResult,
  Log,
  LogEntry,
  ReadOptions,
  RetentionOptions,
  Storage,
  StorageLimits,
} from './types.js';

const resolved: Promise<void> = Promise.resolve();

/** Index of the first entry in `entries` (sorted by offset) that reaches `offset`. */
function firstReaching(entries: readonly LogEntry[], offset: number): number {
  let lo = 0;
  let hi = entries.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (entryReaches(entries[mid]!, offset)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** The stored state of one log; it outlives `MemoryLog` handles so a reopen finds its entries. */
interface MemoryLogState {
  entries: LogEntry[];
  endOffset: number;
  sizeBytes: number;
}

export class MemoryLog implements Log {
  readonly name: string;
  private readonly state: MemoryLogState;
  private readonly limits: StorageLimits;
  private readonly onClose: () => void;
  private closed = false;

  constructor(name: string, state: MemoryLogState, limits: StorageLimits, onClose: () => void) {
    this.name = name;
    this.state = state;
    this.limits = limits;
    this.onClose = onClose;
  }

  get startOffset(): number {
    return this.state.entries[0]?.offset ?? this.state.endOffset;
  }

  get endOffset(): number {
    return this.state.endOffset;
  }

  get sizeBytes(): number {
    return this.state.sizeBytes;
  }

  append(input: AppendInput): AppendResult {
    if (this.closed) throw closedError(this.name);
    const n = normaliseAppend(this.name, input, this.limits);
    const offset = this.state.endOffset;
    // Copy: the caller may reuse its buffer, and a stored entry must never change.
    const payload = new Uint8Array(n.payload);
    this.state.entries.push({ ...n, offset, payload });
    this.state.endOffset = offset + n.count;
    this.state.sizeBytes += recordHeaderBytes + payload.byteLength;
    return { offset, durable: resolved };
  }

  read(offset: number, options?: ReadOptions): LogEntry[] {
    if (this.closed) throw closedError(this.name);
    const entries = this.state.entries;
    const out: LogEntry[] = [];
    const budget = new ReadBudget(options);
    for (let i = firstReaching(entries, offset); i < entries.length; i++) {
      const entry = entries[i]!;
      if (!budget.take(entry.payload.byteLength)) break;
      out.push(entry);
    }
    return out;
  }

  offsetForTimestamp(timestamp: number): number {
    for (const entry of this.state.entries) {
      if (entry.maxTimestamp >= timestamp) return entry.offset;
    }
    return this.state.endOffset;
  }

  truncateBefore(offset: number): void {
    this.dropWhile((entry) => entry.offset + entry.count <= offset);
  }

  applyRetention(options: RetentionOptions, now: number): number {
    const { bytesMax, ageMsMax } = options;
    if (bytesMax !== undefined) this.dropWhile(() => this.state.sizeBytes > bytesMax);
    if (ageMsMax !== undefined) this.dropWhile((entry) => entry.maxTimestamp < now - ageMsMax);
    return this.startOffset;
  }

  sync(): Promise<void> {
    return resolved;
  }

  close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.onClose();
    }
    return resolved;
  }

  private dropWhile(predicate: (entry: LogEntry) => boolean): void {
    const entries = this.state.entries;
    let n = 0;
    while (n < entries.length && predicate(entries[n]!)) {
      this.state.sizeBytes -= recordHeaderBytes + entries[n]!.payload.byteLength;
      n++;
    }
    if (n > 0) entries.splice(0, n);
  }
}

export class MemoryMetaStore extends JsonMetaStore {
  protected override persist(): Promise<void> {
    return resolved;
  }
}

export class MemoryStorage implements Storage {
  readonly meta = new MemoryMetaStore();
  private readonly limits: StorageLimits;
  private readonly states = new Map<string, MemoryLogState>();
  private readonly open = new Map<string, MemoryLog>();
  private closed = false;

  constructor(limits?: Partial<StorageLimits>) {
    this.limits = resolveLimits(limits);
  }

  static create(limits?: Partial<StorageLimits>): MemoryStorage {
    return new MemoryStorage(limits);
  }

  openLog(name: string): Promise<Log> {
    this.checkOpen();
    checkLogName(name);
    const existing = this.open.get(name);
    if (existing) return Promise.resolve(existing);
    let state = this.states.get(name);
    if (!state) {
      state = { entries: [], endOffset: 0, sizeBytes: 0 };
      this.states.set(name, state);
    }
    const log = new MemoryLog(name, state, this.limits, () => this.open.delete(name));
    this.open.set(name, log);
    return Promise.resolve(log);
  }

  async deleteLog(name: string): Promise<void> {
    this.checkOpen();
    checkLogName(name);
    await this.open.get(name)?.close();
    this.states.delete(name);
  }

  listLogs(): Promise<string[]> {
    this.checkOpen();
    return Promise.resolve([...this.states.keys()].sort());
  }

  async close(): Promise<void> {
    if (this.closed) return;
    for (const log of [...this.open.values()]) await log.close();
    this.closed = true;
  }

  private checkOpen(): void {
    if (this.closed) throw new BrokerError(ErrorCode.invalidState, 'Storage is closed');
  }
}
