/**
 * `EntryTable`: the entries of one in-memory log, kept out of the garbage collector's way.
 *
 * A log in memory holds every entry until retention drops it: hundreds of thousands of them on a busy
 * stream. Kept as one object per entry (with its payload's own `ArrayBuffer` and boxed timestamps),
 * each entry is copied by the young generation's scavenges until promoted, and every full collection
 * marks all of them: on a growing memory stream those pauses reached 50–100 ms. Here an entry is a row
 * of numbers in one growable `Float64Array`, and payload bytes are copied into shared slabs of at most
 * `slabBytesMax`; the heap holds a few objects per slab, not per entry. Readers get `LogEntry` objects
 * made on read, whose payloads are views of a slab (as the file log's are views of its read-ahead
 * chunk), so a reader that keeps a payload keeps its slab.
 */
import { assert } from '../shared/assert.js';
import type { LogEntry } from './types.js';

/** Payloads share slabs up to this size; a larger payload gets a slab of its own, of its size. */
export const slabBytesMax = 64 * 1024;
/** Rows the first append makes room for; the column doubles when full. */
const rowsInitial = 2;
/** The rows of every table before its first append: an empty log costs no column (100,000 empty queues). */
const noRows = new Float64Array(0);

/** Columns of a row, in `rows` at `row * stride + column`. */
const col = {
  offset: 0,
  count: 1,
  timestamp: 2,
  maxTimestamp: 3,
  format: 4,
  slab: 5,
  start: 6,
  bytes: 7,
} as const;
const stride = 8;
/** The slab column of an entry with no payload bytes. */
const noSlab = -1;

interface Slab {
  readonly bytes: Uint8Array;
  /** Bytes written so far. */
  used: number;
  /** Rows whose payload lies here; at 0 (and not the slab being filled) it is forgotten. */
  live: number;
}

/** What a row holds besides its offset (a normalised append has these fields). */
export type EntryFields = Omit<LogEntry, 'offset'>;

/** A payload's place: where `place` copied it. */
interface Place {
  readonly slab: number;
  readonly start: number;
}

export class EntryTable {
  private rows = noRows;
  /** First live row, and one past the last. */
  private head = 0;
  private tail = 0;
  /** Made with the first slab, like the rows: most logs of a broker hold nothing. */
  private slabs: Map<number, Slab> | undefined;
  private nextSlab = 0;
  /** The slab being filled, if any. */
  private current: number = noSlab;
  /** A log's first slab is its first payload's size, and each next one twice the last: a small log holds its bytes. */
  private lastSlabBytes = 0;

  get length(): number {
    return this.tail - this.head;
  }

  /** Bytes of the slabs held: what payloads cost, for tests that retention gives it back. */
  get slabBytesHeld(): number {
    let total = 0;
    for (const slab of this.slabs?.values() ?? []) total += slab.bytes.byteLength;
    return total;
  }

  /** Copies `entry.payload` (the caller may reuse its buffer) and adds a row after the last. */
  push(offset: number, entry: EntryFields): void {
    const place = this.place(entry.payload);
    if (this.tail * stride === this.rows.length) this.makeRoom();
    this.writeRow(this.tail++, offset, entry, place);
  }

  /** Entry `i` (0 is the first kept), its payload a view of its slab. */
  at(i: number): LogEntry {
    const base = (this.head + i) * stride;
    const rows = this.rows;
    const slab = rows[base + col.slab]!;
    const start = rows[base + col.start]!;
    const bytes = rows[base + col.bytes]!;
    return {
      offset: rows[base + col.offset]!,
      count: rows[base + col.count]!,
      timestamp: rows[base + col.timestamp]!,
      maxTimestamp: rows[base + col.maxTimestamp]!,
      format: rows[base + col.format]!,
      payload:
        slab === noSlab ? new Uint8Array(0) : this.slabs!.get(slab)!.bytes.subarray(start, start + bytes),
    };
  }

  offsetAt(i: number): number {
    return this.rows[(this.head + i) * stride + col.offset]!;
  }

  /** One past the last offset entry `i` covers. */
  endAt(i: number): number {
    const base = (this.head + i) * stride;
    return this.rows[base + col.offset]! + this.rows[base + col.count]!;
  }

  maxTimestampAt(i: number): number {
    return this.rows[(this.head + i) * stride + col.maxTimestamp]!;
  }

  payloadBytesAt(i: number): number {
    return this.rows[(this.head + i) * stride + col.bytes]!;
  }

  /** Drops the first `n` entries. */
  dropFirst(n: number): void {
    assert(n >= 0 && n <= this.length, 'dropFirst: count out of range');
    for (let i = 0; i < n; i++) this.unref(this.head + i);
    this.head += n;
    if (this.head === this.tail) this.head = this.tail = 0;
    // A table retention emptied gives its room back rather than keep its largest size for good.
    const capacity = this.rows.length / stride;
    if (capacity > rowsInitial * 4 && this.length * 4 <= capacity)
      this.resize(Math.max(rowsInitial, this.length * 2));
  }

  /**
   * Replaces entries `from` up to `to` with `kept`: each either an entry of that range unchanged
   * (`index`) or one of them with a new payload. Later entries move up. The payloads kept are copied
   * too, as a file rewrite copies its segment: left in place, a few kept entries would hold every slab
   * of a compacted range. A range where nothing changes is left as it is.
   */
  replace(
    from: number,
    to: number,
    kept: readonly { readonly index: number; readonly payload?: Uint8Array }[],
  ): void {
    assert(0 <= from && from <= to && to <= this.length && kept.length <= to - from, 'replace: bad range');
    if (kept.length === to - from && kept.every((k) => k.payload === undefined)) return;
    const first = this.head + from;
    const end = this.head + to;
    // Everything kept is placed before any row of the range lets go of its slab.
    const moved = kept.map((k) => {
      const base = (first + k.index) * stride;
      const copy = this.rows.slice(base, base + stride);
      const payload = k.payload ?? this.at(from + k.index).payload;
      const place = this.place(payload);
      copy[col.slab] = place.slab;
      copy[col.start] = place.start;
      copy[col.bytes] = payload.byteLength;
      return copy;
    });
    for (let row = first; row < end; row++) this.unref(row);
    for (const [i, copy] of moved.entries()) this.rows.set(copy, (first + i) * stride);
    const newEnd = first + moved.length;
    this.rows.copyWithin(newEnd * stride, end * stride, this.tail * stride);
    this.tail -= end - newEnd;
  }

  private writeRow(row: number, offset: number, entry: EntryFields, place: Place): void {
    const base = row * stride;
    const rows = this.rows;
    rows[base + col.offset] = offset;
    rows[base + col.count] = entry.count;
    rows[base + col.timestamp] = entry.timestamp;
    rows[base + col.maxTimestamp] = entry.maxTimestamp;
    rows[base + col.format] = entry.format;
    rows[base + col.slab] = place.slab;
    rows[base + col.start] = place.start;
    rows[base + col.bytes] = entry.payload.byteLength;
  }

  /** Copies `payload` into the slab being filled, or into a new one when it does not fit. */
  private place(payload: Uint8Array): Place {
    const bytes = payload.byteLength;
    if (bytes === 0) return { slab: noSlab, start: 0 };
    this.slabs ??= new Map();
    let slab = this.slabs.get(this.current);
    if (slab === undefined || slab.bytes.byteLength - slab.used < bytes) {
      this.retireCurrent();
      const size = Math.max(bytes, Math.min(slabBytesMax, this.lastSlabBytes * 2));
      this.lastSlabBytes = Math.min(size, slabBytesMax);
      slab = { bytes: new Uint8Array(size), used: 0, live: 0 };
      this.current = this.nextSlab++;
      this.slabs.set(this.current, slab);
    }
    const start = slab.used;
    slab.bytes.set(payload, start);
    slab.used += bytes;
    slab.live++;
    return { slab: this.current, start };
  }

  /** The slab being filled is no longer: forgotten now if nothing lies in it. */
  private retireCurrent(): void {
    const slab = this.slabs?.get(this.current);
    if (slab !== undefined && slab.live === 0) this.slabs?.delete(this.current);
    this.current = noSlab;
  }

  /** Row `row` leaves: its slab is forgotten once nothing lies in it and it is not being filled. */
  private unref(row: number): void {
    const id = this.rows[row * stride + col.slab]!;
    if (id === noSlab) return;
    const slab = this.slabs?.get(id);
    assert(slab !== undefined && slab.live > 0, 'unref: row without its slab');
    slab.live--;
    if (slab.live === 0 && id !== this.current) this.slabs?.delete(id);
  }

  /** Room for one more row: the live rows moved to the front when that frees half, else twice the room. */
  private makeRoom(): void {
    const live = this.length;
    if (this.head > 0 && live * stride <= this.rows.length / 2) {
      this.rows.copyWithin(0, this.head * stride, this.tail * stride);
      this.head = 0;
      this.tail = live;
    } else {
      this.resize(Math.max(rowsInitial, live * 2));
    }
  }

  /** The live rows moved to the front of a column of `capacity` rows. */
  private resize(capacity: number): void {
    const live = this.length;
    const rows = new Float64Array(capacity * stride);
    rows.set(this.rows.subarray(this.head * stride, this.tail * stride));
    this.rows = rows;
    this.head = 0;
    this.tail = live;
  }
}
