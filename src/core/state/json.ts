/**
 * The encoding of state-log entries: one version byte, then UTF-8 JSON. Bytes travel as base64 and
 * header tables in a tagged form, so bytes, bigints, dates and typed numbers (an AMQP `s` argument
 * stays an int16) come back as they went in. Decoding checks every field it reads: a record that is
 * not what this version writes is `storage_corrupt`, never a half-typed object.
 */
import { Buffer } from 'node:buffer';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import {
  type Headers,
  type HeaderValue,
  TypedNumber,
  type TypedNumberType,
  typedNumberTypes,
} from '../types.js';

/** Written first in every payload; a reader refuses versions it does not know. */
export const stateEncodingVersion = 1;

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function corrupt(what: string): Error {
  return brokerError(ErrorCode.storageCorrupt, `State record is unreadable: ${what}`);
}

export function encodeJson(value: Json): Uint8Array {
  const text = JSON.stringify(value);
  // Written once into a buffer that, when small as most entries are, is a slice of Node's shared
  // pool: an ArrayBuffer of its own per entry (and a second for the UTF-8 bytes) cost the garbage
  // collector more than the encoding did (a transaction writes four entries).
  const out = Buffer.allocUnsafe(Buffer.byteLength(text, 'utf8') + 1);
  out[0] = stateEncodingVersion;
  out.write(text, 1, 'utf8');
  return out;
}

export function decodeJson(bytes: Uint8Array): unknown {
  if (bytes[0] !== stateEncodingVersion) throw corrupt(`encoding version ${String(bytes[0])}`);
  try {
    return JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 1, bytes.length - 1).toString('utf8'));
  } catch (err) {
    throw brokerError(ErrorCode.storageCorrupt, 'State record is not JSON', err);
  }
}

export const bytesToJson = (bytes: Uint8Array): string => Buffer.from(bytes).toString('base64');

/** Typed field access on a decoded record; every miss names the record and the field. */
export class Fields {
  readonly #record: Record<string, unknown>;
  readonly #what: string;

  constructor(value: unknown, what: string) {
    if (value === null || typeof value !== 'object' || Array.isArray(value))
      throw corrupt(`${what} is not an object`);
    this.#record = value as Record<string, unknown>;
    this.#what = what;
  }

  str(key: string): string {
    return this.#typed(key, (v): v is string => typeof v === 'string', 'a string');
  }

  strOrNull(key: string): string | null {
    return this.#typed(
      key,
      (v): v is string | null => v === null || typeof v === 'string',
      'a string or null',
    );
  }

  num(key: string): number {
    return this.#typed(key, (v): v is number => typeof v === 'number' && Number.isFinite(v), 'a number');
  }

  /** A safe integer, `min` or above. */
  int(key: string, min = 0): number {
    const value = this.num(key);
    if (!Number.isSafeInteger(value) || value < min) throw this.#bad(key, `an integer >= ${min}`);
    return value;
  }

  intOrNull(key: string, min = 0): number | null {
    return this.#record[key] === null ? null : this.int(key, min);
  }

  bool(key: string): boolean {
    return this.#typed(key, (v): v is boolean => typeof v === 'boolean', 'a boolean');
  }

  bytes(key: string): Uint8Array {
    return new Uint8Array(Buffer.from(this.str(key), 'base64'));
  }

  headers(key: string): Headers {
    return headersFromJson(this.#typed(key, isObject, 'a table'));
  }

  array(key: string): unknown[] {
    return this.#typed(key, Array.isArray, 'an array');
  }

  strings(key: string): string[] {
    const list = this.array(key);
    if (!list.every((v) => typeof v === 'string')) throw this.#bad(key, 'a list of strings');
    return list as string[];
  }

  /** A nested record, as `Fields`. */
  fields(key: string): Fields {
    return new Fields(this.#record[key], `${this.#what}.${key}`);
  }

  /** A nested record, or null. */
  fieldsOrNull(key: string): Fields | null {
    return this.#record[key] === null ? null : this.fields(key);
  }

  /** A nested value as decoded, for a decoder of its own (which checks it). */
  raw(key: string): unknown {
    return this.#record[key];
  }

  has(key: string): boolean {
    return this.#record[key] !== undefined;
  }

  /** The record's own keys. */
  keys(): string[] {
    return Object.keys(this.#record);
  }

  #typed<T>(key: string, test: (value: unknown) => value is T, kind: string): T {
    const value = this.#record[key];
    if (!test(value)) throw this.#bad(key, kind);
    return value;
  }

  #bad(key: string, kind: string): Error {
    return corrupt(`${this.#what}.${key} is not ${kind}`);
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

// ---- header tables

export function headersToJson(headers: Headers): JsonObject {
  const out: JsonObject = {};
  for (const [key, value] of Object.entries(headers)) out[key] = valueToJson(value);
  return out;
}

function valueToJson(value: HeaderValue): Json {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : { $num: String(value) };
  if (typeof value === 'bigint') return { $big: value.toString() };
  if (value instanceof Uint8Array) return { $bytes: bytesToJson(value) };
  if (value instanceof Date) return { $date: value.getTime() };
  if (value instanceof TypedNumber) return typedToJson(value);
  if (Array.isArray(value)) return value.map(valueToJson);
  return { $table: headersToJson(value) };
}

export function headersFromJson(json: unknown): Headers {
  if (json === null || typeof json !== 'object') return {};
  const out: Headers = {};
  for (const [key, value] of Object.entries(json as Record<string, Json>)) out[key] = valueFromJson(value);
  return out;
}

function valueFromJson(json: Json): HeaderValue {
  if (json === null || typeof json !== 'object') return json;
  if (Array.isArray(json)) return json.map(valueFromJson);
  if ('$num' in json) return Number(json['$num']);
  if ('$big' in json) return BigInt(json['$big'] as string);
  if ('$bytes' in json) return new Uint8Array(Buffer.from(json['$bytes'] as string, 'base64'));
  if ('$date' in json) return new Date(json['$date'] as number);
  if ('$typed' in json) return typedFromJson(json);
  return headersFromJson(json['$table']);
}

/** The value as text, so int64 beyond 2^53, NaN and -0 survive JSON. */
function typedToJson(value: TypedNumber): Json {
  const text = Object.is(value.value, -0) ? '-0' : value.value.toString();
  return value.type === 'decimal'
    ? { $typed: value.type, value: text, scale: value.scale }
    : { $typed: value.type, value: text };
}

function typedFromJson(json: { [key: string]: Json }): HeaderValue {
  const type = json['$typed'] as TypedNumberType;
  const text = String(json['value']);
  if (!typedNumberTypes.includes(type)) {
    throw brokerError(ErrorCode.storageCorrupt, `Stored header has unknown number type ${String(type)}`);
  }
  const value = type === 'int64' && /^-?\d+$/.test(text) ? BigInt(text) : Number(text);
  const scale = typeof json['scale'] === 'number' ? json['scale'] : 0;
  return new TypedNumber(type, value, scale);
}

// ---- records of optional fields (options, properties)

/** How one optional field is stored: its JSON type, or the words it may hold. */
export type FieldKind = 'bool' | 'int' | 'num' | 'str' | 'headers' | readonly string[];
export type FieldSpec = ReadonlyArray<readonly [key: string, kind: FieldKind]>;

/** The fields of `value` named in `spec` that are set, in `spec` order (so encoding is deterministic). */
export function optionalToJson(value: object, spec: FieldSpec): JsonObject {
  const record = value as Record<string, unknown>;
  const out: JsonObject = {};
  for (const [key, kind] of spec) {
    const field = record[key];
    if (field === undefined) continue;
    out[key] = kind === 'headers' ? headersToJson(field as Headers) : (field as Json);
  }
  return out;
}

/** The inverse of `optionalToJson`; a field of the wrong type is `storage_corrupt`. */
export function optionalFromJson<T extends object>(fields: Fields, spec: FieldSpec): T {
  const out: Record<string, unknown> = {};
  for (const [key, kind] of spec) {
    if (!fields.has(key)) continue;
    out[key] = readField(fields, key, kind);
  }
  return out as T;
}

function readField(fields: Fields, key: string, kind: FieldKind): unknown {
  switch (kind) {
    case 'bool':
      return fields.bool(key);
    case 'int':
      return fields.int(key, Number.MIN_SAFE_INTEGER);
    case 'num':
      return fields.num(key);
    case 'str':
      return fields.str(key);
    case 'headers':
      return fields.headers(key);
    default: {
      const word = fields.str(key);
      if (!kind.includes(word)) throw corrupt(`${key} '${word}' is not one of ${kind.join(', ')}`);
      return word;
    }
  }
}
