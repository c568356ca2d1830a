/**
 * Run-time interpreter of the generated schema tables (see README.md for why tables and not
 * straight-line code). Semantics follow the Kafka message-generator rules: fields outside their
 * `versions` take defaults on read and must be default (or `ignorable`) on write; in flexible
 * versions (KIP-482) strings, bytes and arrays are compact, every struct ends with a tagged-field
 * section, tagged fields are written only when not default, and unknown tags are kept.
 */
import { KafkaCodecError, KafkaCodecReason } from './errors.js';
import { type KafkaReader, KafkaWriter, RecordChunks, zeroUuid } from './primitives.js';
import type { FieldSchema, MessageSchema, UnknownTaggedField } from './schema.js';
import { inRange } from './schema.js';

type Obj = Record<string, unknown>;

const unknownKey = 'unknownTaggedFields';

export function isFlexible(schema: MessageSchema, version: number): boolean {
  return inRange(schema.flexibleVersions, version);
}

export function checkVersion(schema: MessageSchema, version: number): void {
  if (!Number.isInteger(version) || !inRange(schema.validVersions, version)) {
    const [lo, hi] = schema.validVersions;
    throw new KafkaCodecError(
      KafkaCodecReason.unsupportedVersion,
      `${schema.name} version ${version} is outside ${lo}-${hi}`,
    );
  }
}

export function encodeMessage(schema: MessageSchema, msg: object, version: number): Uint8Array {
  const w = new KafkaWriter();
  writeMessage(w, schema, msg, version);
  return w.finish();
}

const noTaggedFields: readonly FieldSchema[] = [];

/**
 * `pruned`: fields the version does not have are left out whatever their value, and so are unknown
 * tagged fields, as if `msg` held only what the version defines (a response built once for every
 * version; without it such a field with a value other than its default is an error).
 */
export function writeMessage(
  w: KafkaWriter,
  schema: MessageSchema,
  msg: object,
  version: number,
  pruned = false,
): void {
  checkVersion(schema, version);
  writeStruct(w, schema.fields, msg as Obj, version, isFlexible(schema, version), schema.name, pruned);
}

export function decodeMessage(schema: MessageSchema, r: KafkaReader, version: number): Obj {
  checkVersion(schema, version);
  return readStruct(r, schema.fields, version, isFlexible(schema, version));
}

// ---- defaults -------------------------------------------------------------------------------

export function defaultOf(f: FieldSchema): unknown {
  if (f.array) return f.default === null ? null : [];
  if (f.default !== undefined) return f.default;
  switch (f.type) {
    case 'bool':
      return false;
    case 'int64':
      return 0n;
    case 'uuid':
      return zeroUuid;
    case 'string':
      return '';
    case 'bytes':
    case 'records':
      return new Uint8Array(0);
    case 'struct':
      return defaultStruct(f.fields ?? []);
    default:
      return 0;
  }
}

function defaultStruct(fields: readonly FieldSchema[]): Obj {
  const obj: Obj = {};
  for (const f of fields) obj[f.name] = defaultOf(f);
  return obj;
}

function isDefault(f: FieldSchema, value: unknown): boolean {
  if (value === undefined) return true;
  if (value === null) return f.default === null;
  if (f.default === null) return false;
  if (f.array) return Array.isArray(value) && value.length === 0;
  if (f.type === 'bytes' || f.type === 'records')
    return (value instanceof Uint8Array || value instanceof RecordChunks) && value.length === 0;
  if (f.type === 'struct') {
    const obj = value as Obj;
    return (f.fields ?? []).every((sub) => isDefault(sub, obj[sub.name]));
  }
  return value === defaultOf(f);
}

function nullableAt(f: FieldSchema, version: number): boolean {
  return inRange(f.nullableVersions, version);
}

function compactAt(f: FieldSchema, version: number, flexible: boolean): boolean {
  return flexible && (f.flexibleVersions === undefined || inRange(f.flexibleVersions, version));
}

function taggedAt(f: FieldSchema, version: number, flexible: boolean): boolean {
  return flexible && f.tag !== undefined && inRange(f.taggedVersions, version);
}

// ---- write ----------------------------------------------------------------------------------

function invalid(path: string, why: string): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecReason.invalidValue, `${path}: ${why}`);
}

/**
 * A field's path in error messages. Fields are written given their struct's path and make their own
 * only to fail or to descend into a struct: one string per field written cost every response a
 * dozen allocations.
 */
function pathOf(parent: string, f: FieldSchema): string {
  return `${parent}.${f.name}`;
}

function writeStruct(
  w: KafkaWriter,
  fields: readonly FieldSchema[],
  obj: Obj,
  version: number,
  flexible: boolean,
  path: string,
  pruned: boolean,
): void {
  if (typeof obj !== 'object' || obj === null) throw invalid(path, 'expected an object');
  // Made for the first tagged field only: most structs of most messages have none.
  let tagged: FieldSchema[] | undefined;
  for (const f of fields) {
    const value = obj[f.name];
    if (!inRange(f.versions, version)) {
      if (!pruned && !f.ignorable && !isDefault(f, value)) {
        throw new KafkaCodecError(
          KafkaCodecReason.unsupportedVersion,
          `${path}.${f.name} has a non-default value but does not exist at version ${version}`,
        );
      }
    } else if (taggedAt(f, version, flexible)) {
      tagged ??= [];
      tagged.push(f);
    } else {
      writeField(w, f, value === undefined ? defaultOf(f) : value, version, flexible, path, pruned);
    }
  }
  if (flexible) writeTaggedFields(w, tagged ?? noTaggedFields, obj, version, path, pruned);
}

function writeTaggedFields(
  w: KafkaWriter,
  tagged: readonly FieldSchema[],
  obj: Obj,
  version: number,
  path: string,
  pruned: boolean,
): void {
  const entries: UnknownTaggedField[] = [];
  for (const f of tagged) {
    const value = obj[f.name];
    if (isDefault(f, value)) continue;
    const sub = new KafkaWriter(64);
    writeField(sub, f, value, version, true, path, pruned);
    entries.push({ tag: f.tag ?? 0, data: sub.finish() });
  }
  const unknown = pruned ? undefined : obj[unknownKey];
  if (Array.isArray(unknown)) {
    for (const u of unknown as UnknownTaggedField[]) {
      if (!entries.some((e) => e.tag === u.tag)) entries.push(u);
    }
  }
  entries.sort((a, b) => a.tag - b.tag);
  w.writeUvarint(entries.length);
  for (const e of entries) {
    w.writeUvarint(e.tag);
    w.writeUvarint(e.data.length);
    w.writeRaw(e.data);
  }
}

function writeField(
  w: KafkaWriter,
  f: FieldSchema,
  value: unknown,
  version: number,
  flexible: boolean,
  parent: string,
  pruned: boolean,
): void {
  if (!f.array) {
    writeValue(w, f, value, version, flexible, parent, true, pruned);
    return;
  }
  const compact = compactAt(f, version, flexible);
  if (value === null) {
    if (!nullableAt(f, version))
      throw invalid(pathOf(parent, f), `null is not allowed at version ${version}`);
    w.writeArrayLength(-1, compact);
    return;
  }
  if (!Array.isArray(value)) throw invalid(pathOf(parent, f), 'expected an array');
  w.writeArrayLength(value.length, compact);
  for (const item of value) writeValue(w, f, item, version, flexible, parent, false, pruned);
}

function writeValue(
  w: KafkaWriter,
  f: FieldSchema,
  value: unknown,
  version: number,
  flexible: boolean,
  parent: string,
  mayBeNull: boolean,
  pruned: boolean,
): void {
  const nullable = mayBeNull && nullableAt(f, version);
  if (value === null && !nullable)
    throw invalid(pathOf(parent, f), `null is not allowed at version ${version}`);
  const compact = compactAt(f, version, flexible);
  switch (f.type) {
    case 'string':
      if (value !== null && typeof value !== 'string') throw invalid(pathOf(parent, f), 'expected a string');
      w.writeString(value, compact);
      return;
    case 'bytes':
    case 'records':
      if (f.type === 'records' && value instanceof RecordChunks) {
        w.writeRecordChunks(value, compact);
        return;
      }
      if (value !== null && !(value instanceof Uint8Array))
        throw invalid(pathOf(parent, f), 'expected a Uint8Array');
      w.writeBytes(value, compact);
      return;
    case 'struct':
      // A nullable struct is preceded by a presence byte: -1 null, 1 present.
      if (nullable) w.writeInt8(value === null ? -1 : 1);
      if (value === null) return;
      writeStruct(w, f.fields ?? [], value as Obj, version, flexible, pathOf(parent, f), pruned);
      return;
    default:
      writeScalar(w, f, value, parent);
      return;
  }
}

function writeScalar(w: KafkaWriter, f: FieldSchema, value: unknown, parent: string): void {
  if (f.type === 'int64') {
    if (typeof value !== 'bigint') throw invalid(pathOf(parent, f), 'expected a bigint');
    w.writeInt64(value);
    return;
  }
  if (f.type === 'bool') {
    if (typeof value !== 'boolean') throw invalid(pathOf(parent, f), 'expected a boolean');
    w.writeBool(value);
    return;
  }
  if (f.type === 'uuid') {
    if (typeof value !== 'string') throw invalid(pathOf(parent, f), 'expected a UUID string');
    w.writeUuid(value);
    return;
  }
  if (typeof value !== 'number') throw invalid(pathOf(parent, f), 'expected a number');
  switch (f.type) {
    case 'int8':
      w.writeInt8(value);
      return;
    case 'int16':
      w.writeInt16(value);
      return;
    case 'uint16':
      w.writeUint16(value);
      return;
    case 'int32':
      w.writeInt32(value);
      return;
    case 'float64':
      w.writeFloat64(value);
      return;
    default:
      throw invalid(pathOf(parent, f), `unknown type ${f.type}`);
  }
}

// ---- read -----------------------------------------------------------------------------------

function malformed(why: string): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecReason.malformed, why);
}

function readStruct(r: KafkaReader, fields: readonly FieldSchema[], version: number, flexible: boolean): Obj {
  const obj: Obj = {};
  for (const f of fields) {
    obj[f.name] =
      !inRange(f.versions, version) || taggedAt(f, version, flexible)
        ? defaultOf(f)
        : readField(r, f, version, flexible);
  }
  if (flexible) readTaggedFields(r, fields, obj, version);
  return obj;
}

function readTaggedFields(r: KafkaReader, fields: readonly FieldSchema[], obj: Obj, version: number): void {
  const count = r.readUvarint();
  if (count > r.remaining) throw malformed(`${count} tagged fields, ${r.remaining} bytes remain`);
  let unknown: UnknownTaggedField[] | undefined;
  for (let i = 0; i < count; i++) {
    const tag = r.readUvarint();
    const sub = r.sub(r.readUvarint());
    const f = fields.find((x) => x.tag === tag && taggedAt(x, version, true));
    if (f === undefined) {
      unknown ??= [];
      unknown.push({ tag, data: sub.readRaw(sub.remaining) });
      continue;
    }
    obj[f.name] = readField(sub, f, version, true);
    if (sub.remaining !== 0) throw malformed(`Tagged field ${f.name} has ${sub.remaining} extra bytes`);
  }
  if (unknown !== undefined) obj[unknownKey] = unknown;
}

function readField(r: KafkaReader, f: FieldSchema, version: number, flexible: boolean): unknown {
  if (!f.array) return readValue(r, f, version, flexible, true);
  const n = r.readArrayLength(compactAt(f, version, flexible));
  if (n === -1) {
    if (!nullableAt(f, version)) throw malformed(`Field ${f.name} is null but not nullable`);
    return null;
  }
  const items: unknown[] = new Array(n);
  for (let i = 0; i < n; i++) items[i] = readValue(r, f, version, flexible, false);
  return items;
}

function readValue(
  r: KafkaReader,
  f: FieldSchema,
  version: number,
  flexible: boolean,
  mayBeNull: boolean,
): unknown {
  const nullable = mayBeNull && nullableAt(f, version);
  const compact = compactAt(f, version, flexible);
  let value: unknown;
  switch (f.type) {
    case 'string':
      value = r.readString(compact);
      break;
    case 'bytes':
    case 'records':
      value = r.readBytes(compact);
      break;
    case 'struct':
      if (nullable && r.readInt8() < 0) return null;
      return readStruct(r, f.fields ?? [], version, flexible);
    default:
      return readScalar(r, f);
  }
  if (value === null && !nullable) throw malformed(`Field ${f.name} is null but not nullable`);
  return value;
}

function readScalar(r: KafkaReader, f: FieldSchema): unknown {
  switch (f.type) {
    case 'bool':
      return r.readBool();
    case 'int8':
      return r.readInt8();
    case 'int16':
      return r.readInt16();
    case 'uint16':
      return r.readUint16();
    case 'int32':
      return r.readInt32();
    case 'int64':
      return r.readInt64();
    case 'float64':
      return r.readFloat64();
    case 'uuid':
      return r.readUuid();
    default:
      throw malformed(`Unknown field type ${f.type}`);
  }
}
