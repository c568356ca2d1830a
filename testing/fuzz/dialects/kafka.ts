/**
 * Kafka for the fuzzer: requests are an int32 size and the rest. The request header and body are
 * walked with the codec's own schema tables, so every string, bytes and array length (classic and
 * compact) and every tagged-field section is a known field; record batches (magic 2) inside `records`
 * are walked too, and `repair` recomputes their CRC-32C so a mutation of a record reaches the record
 * parser instead of stopping at CORRUPT_MESSAGE.
 */
import {
  crc32c,
  type FieldSchema,
  inRange,
  kafkaApiByKey,
  requestHeaderVersion,
} from '../../../src/protocols/kafka/codec/index.js';
import { type Dialect, FieldWalker, type FieldWalker as Walker, walked } from '../dialect.js';

const sizeBytes = 4;
const batchCrcAt = 17;
const batchCrcStart = 21;
const batchLengthEnd = 12;
const batchHeaderBytes = 61;

/** Where record batches sit in a request, found while walking it. */
type Batches = Array<{ at: number; end: number }>;

function split(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = 0;
  while (at < bytes.byteLength) {
    const size =
      bytes.byteLength - at >= sizeBytes
        ? sizeBytes + new DataView(bytes.buffer, bytes.byteOffset + at).getInt32(0)
        : Infinity;
    const end = Math.min(at + Math.max(size, sizeBytes), bytes.byteLength);
    frames.push(bytes.slice(at, end));
    at = end;
  }
  return frames;
}

function length(w: Walker, compact: boolean, width: 'i16' | 'i32', role: 'length' | 'count'): number {
  return compact ? w.varint('uvarint', role) - 1 : w.fixed(width, role);
}

function taggedFields(w: Walker): void {
  const count = w.varint('uvarint', 'count');
  for (let i = 0; i < count; i++) {
    w.varint('uvarint', 'value');
    w.skip(w.varint('uvarint', 'length'));
  }
}

function batch(w: Walker, end: number, batches: Batches): void {
  const at = w.at;
  w.skip(8); // base offset
  const batchLength = w.fixed('i32', 'length');
  w.skip(4); // leader epoch
  if (w.fixed('u8', 'value') !== 2) return; // only magic 2 is walked further
  w.fixed('u32', 'value'); // crc
  const attributes = w.fixed('i16', 'value');
  w.skip(batchHeaderBytes - 23 - 4); // offsets, timestamps, producer, sequence
  const count = w.fixed('i32', 'count');
  batches.push({ at, end: Math.min(end, at + batchLengthEnd + batchLength) });
  if ((attributes & 0x07) !== 0) return; // compressed records are opaque here
  for (let i = 0; i < count && w.at < end; i++) {
    w.varint('varint', 'length');
    w.skip(1); // attributes
    w.varint('uvarint', 'value'); // timestamp delta (a varlong; the walker only marks it)
    w.varint('varint', 'value'); // offset delta
    w.skip(Math.max(0, w.varint('varint', 'length'))); // key
    w.skip(Math.max(0, w.varint('varint', 'length'))); // value
    const headers = w.varint('varint', 'count');
    for (let h = 0; h < headers; h++) {
      w.skip(Math.max(0, w.varint('varint', 'length')));
      w.skip(Math.max(0, w.varint('varint', 'length')));
    }
  }
}

function value(w: Walker, f: FieldSchema, version: number, flexible: boolean, batches: Batches): void {
  const compact = flexible && (f.flexibleVersions === undefined || inRange(f.flexibleVersions, version));
  switch (f.type) {
    case 'bool':
    case 'int8':
      return void w.fixed('u8', 'value');
    case 'int16':
    case 'uint16':
      return void w.fixed('i16', 'value');
    case 'int32':
      return void w.fixed('i32', 'value');
    case 'int64':
    case 'float64':
      return void w.fixed('u64', 'value');
    case 'uuid':
      w.skip(16);
      return;
    case 'string':
      w.skip(Math.max(0, length(w, compact, 'i16', 'length')));
      return;
    case 'bytes':
      w.skip(Math.max(0, length(w, compact, 'i32', 'length')));
      return;
    case 'records': {
      const end = w.at + Math.max(0, length(w, compact, 'i32', 'length'));
      while (w.at + batchHeaderBytes <= end) batch(w, end, batches);
      w.at = Math.max(w.at, Math.min(end, w.end));
      return;
    }
    case 'struct':
      struct(w, f.fields ?? [], version, flexible, batches);
      return;
  }
}

function struct(
  w: Walker,
  fields: readonly FieldSchema[],
  version: number,
  flexible: boolean,
  batches: Batches,
): void {
  for (const f of fields) {
    if (!inRange(f.versions, version)) continue;
    if (flexible && f.tag !== undefined && inRange(f.taggedVersions, version)) continue;
    if (!f.array) {
      value(w, f, version, flexible, batches);
      continue;
    }
    const compact = flexible && (f.flexibleVersions === undefined || inRange(f.flexibleVersions, version));
    const n = length(w, compact, 'i32', 'count');
    for (let i = 0; i < n && w.remaining > 0; i++) value(w, f, version, flexible, batches);
  }
  if (flexible) taggedFields(w);
}

function walk(frame: Uint8Array, batches: Batches) {
  return walked(new FieldWalker(frame), (w) => {
    w.fixed('i32', 'length');
    const apiKey = w.fixed('i16', 'value');
    const version = w.fixed('i16', 'value');
    w.fixed('i32', 'value'); // correlation id
    const headerVersion = requestHeaderVersion(apiKey, version);
    if (headerVersion >= 1) w.skip(Math.max(0, w.fixed('i16', 'length')));
    if (headerVersion >= 2) taggedFields(w);
    const schema = kafkaApiByKey.get(apiKey)?.request;
    if (schema === undefined || !inRange(schema.validVersions, version)) return;
    struct(w, schema.fields, version, inRange(schema.flexibleVersions, version), batches);
  });
}

export const kafkaDialect: Dialect = {
  name: 'kafka',
  split,
  context: () => undefined,
  fields: (frame) => walk(frame, []),
  repair(frame) {
    if (frame.byteLength < sizeBytes) return frame;
    const out = frame.slice();
    const view = new DataView(out.buffer);
    view.setInt32(0, out.byteLength - sizeBytes);
    const batches: Batches = [];
    walk(out, batches);
    for (const b of batches) {
      // A mutated batch length can claim more than the frame holds: checksum what is there.
      const end = Math.min(b.end, out.byteLength);
      if (end - b.at >= batchHeaderBytes)
        view.setUint32(b.at + batchCrcAt, crc32c(out, b.at + batchCrcStart, end));
    }
    return out;
  },
  opening: () => 0,
};
