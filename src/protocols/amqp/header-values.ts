/**
 * Field-table values ↔ core header values. Core keeps a number's width in a protocol-neutral
 * `TypedNumber`; here each field tag maps onto one of its types and back, so a header published
 * as `s` (int16) is delivered as `s`, from memory, from disk or from a stream (RabbitMQ keeps tags
 * end to end). Values whose tag is the one a plain JS value gets (`I`, `d`, `l` beyond int32, `S`,
 * `T`, …) stay plain, as before typed numbers existed.
 *
 *   b int8   B uint8   s int16   u uint16   I int32   i uint32   l int64   f float32   d float64
 *   D decimal (unscaled value + scale)
 *
 * Two tags remain plain in core: `S` holding bytes that are not UTF-8 (bytes, sent back as `x`) and
 * `T` beyond the Date range (a bigint, sent back as `l`).
 */
import { type Headers, type HeaderValue, TypedNumber, type TypedNumberType } from '../../core/types.js';
import { type FieldTable, type FieldValue, plainFieldValue, Tagged, type TaggedTag } from './codec/index.js';

const typeOfTag: { readonly [tag: string]: TypedNumberType } = {
  b: 'int8',
  B: 'uint8',
  s: 'int16',
  u: 'uint16',
  I: 'int32',
  i: 'uint32',
  l: 'int64',
  f: 'float32',
  d: 'float64',
  D: 'decimal',
};

const tagOfType: { readonly [type in TypedNumberType]: TaggedTag } = {
  int8: 'b',
  uint8: 'B',
  int16: 's',
  uint16: 'u',
  int32: 'I',
  uint32: 'i',
  int64: 'l',
  float32: 'f',
  float64: 'd',
  decimal: 'D',
};

/** An AMQP decimal's unscaled value is a uint32 (RabbitMQ errata). */
const decimalUnscaledMax = 2 ** 32 - 1;

/** A field table as core headers: wire tags other than the defaults become typed numbers. */
export function toHeaders(table: FieldTable): Headers {
  const out: Headers = {};
  for (const key of Object.keys(table)) setKey(out, key, toHeaderValue(table[key] as FieldValue));
  return out;
}

function toHeaderValue(value: FieldValue): HeaderValue {
  if (value instanceof Tagged) return fromTagged(value);
  if (Array.isArray(value)) return value.map(toHeaderValue);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Date) {
    return value;
  }
  return toHeaders(value);
}

function fromTagged(tagged: Tagged): HeaderValue {
  const type = typeOfTag[tagged.tag];
  const { value } = tagged;
  if (type === undefined || value instanceof Uint8Array) return plainFieldValue(tagged) as HeaderValue;
  return new TypedNumber(type, value, tagged.scale);
}

/** Assigning `__proto__` would replace the object's prototype instead of adding a key. */
function setKey<T>(table: { [key: string]: T }, key: string, value: T): void {
  Object.defineProperty(table, key, { value, enumerable: true, writable: true, configurable: true });
}

/**
 * Core headers as a field table. Most headers hold no typed number; those are returned as they are
 * (core values are field values), so a delivery pays one scan, not a copy.
 */
export function toFieldTable(headers: Headers): FieldTable {
  return hasTyped(headers) ? (toFieldValue(headers) as FieldTable) : (headers as FieldTable);
}

function hasTyped(value: HeaderValue): boolean {
  if (value instanceof TypedNumber) return true;
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Date) {
    return false;
  }
  if (Array.isArray(value)) return value.some(hasTyped);
  for (const key in value) if (hasTyped(value[key]!)) return true;
  return false;
}

function toFieldValue(value: HeaderValue): FieldValue {
  if (value instanceof TypedNumber) return toTagged(value);
  if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof Date) {
    return value;
  }
  if (Array.isArray(value)) return value.map(toFieldValue);
  const out: FieldTable = {};
  for (const key of Object.keys(value)) setKey(out, key, toFieldValue(value[key]!));
  return out;
}

function toTagged(typed: TypedNumber): FieldValue {
  const { type, value } = typed;
  if (type === 'int64') return new Tagged('l', BigInt(value));
  if (type === 'decimal') {
    const fits = (value as number) >= 0 && (value as number) <= decimalUnscaledMax;
    // Only non-AMQP producers can build a decimal AMQP cannot carry; its plain value still can.
    return fits ? new Tagged('D', value as number, typed.scale) : (typed.valueOf() as number);
  }
  return new Tagged(tagOfType[type], value as number);
}
