/**
 * KubeMQ's JSON (REST bodies and WebSocket frames): the proto messages as Go's `encoding/json` writes
 * them — PascalCase keys, zero values left out (`omitempty`), `bytes` as standard base64, int64 as bare
 * numbers, enums as numbers — and read back as it reads them: keys match case-insensitively, missing
 * fields take their defaults. Both directions walk the message descriptors of kubemq.proto, so the
 * shapes cannot drift from the service definition.
 */
import { Buffer } from 'node:buffer';
import { fail } from './errors.js';
import { messageType, type ProtoField } from './proto.js';
// The protobuf reader's bounds serve REST and WebSocket bodies too: one limit, whatever the encoding.
import { repeatedItemsMax, requestTagsMax } from './protobuf.js';

/** Nesting deeper than the proto has (QueuesInfoResponse → Info → Queues) is malformed input. */
const depthMax = 8;

const int64Kinds = new Set(['int64', 'uint64']);
const intKinds = new Set(['int32', 'enum']);

// ---- reading

function defaultOf(field: ProtoField): unknown {
  if (field.kind === 'map') return {};
  if (field.repeated === true) return [];
  if (field.kind === 'message') return null;
  if (field.kind === 'string') return '';
  if (field.kind === 'bool') return false;
  if (field.kind === 'bytes') return Buffer.alloc(0);
  if (int64Kinds.has(field.kind)) return '0';
  return 0;
}

function scalarFrom(field: ProtoField, value: unknown): unknown {
  const name = field.name;
  switch (true) {
    case field.kind === 'string':
      if (typeof value !== 'string') fail(`field ${name} must be a string`);
      return value;
    case field.kind === 'bool':
      if (typeof value !== 'boolean') fail(`field ${name} must be true or false`);
      return value;
    case field.kind === 'bytes':
      if (typeof value !== 'string') fail(`field ${name} must be a base64 string`);
      return Buffer.from(value, 'base64');
    case int64Kinds.has(field.kind):
      if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
      if (typeof value === 'string' && /^-?\d{1,20}$/.test(value)) return value;
      return fail(`field ${name} must be an integer`);
    case intKinds.has(field.kind):
      if (typeof value !== 'number' || !Number.isInteger(value) || Math.abs(value) > 2 ** 31) {
        fail(`field ${name} must be a 32-bit integer`);
      }
      return value;
    default:
      return fail(`field ${name} has an unsupported type`);
  }
}

/** What one body has read so far, against the bounds that hold for the whole request. */
interface BodyRead {
  tags: number;
}

function mapFrom(field: ProtoField, value: unknown, read: BodyRead): Record<string, string> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    fail(`field ${field.name} must be an object`);
  const entries = Object.entries(value);
  // Counted before the entries are read: each one costs the one event loop, in every message of the body.
  read.tags += entries.length;
  if (read.tags > requestTagsMax)
    fail(`field ${field.name} has more than ${requestTagsMax} entries, over the request`);
  const out: Record<string, string> = {};
  for (const [key, item] of entries) {
    if (typeof item !== 'string') fail(`field ${field.name} must map strings to strings`);
    out[key] = item;
  }
  return out;
}

function valueFrom(field: ProtoField, value: unknown, depth: number, read: BodyRead): unknown {
  if (value === null || value === undefined) return defaultOf(field);
  if (field.kind === 'map') return mapFrom(field, value, read);
  const one = (item: unknown) =>
    field.kind === 'message' ? messageFrom(field.message!, item, depth + 1, read) : scalarFrom(field, item);
  if (field.repeated !== true) return one(value);
  if (!Array.isArray(value)) fail(`field ${field.name} must be an array`);
  // Refused before each item is read: reading 100,000 batch messages alone held the loop ~0.6 s.
  if (value.length > repeatedItemsMax) fail(`field ${field.name} has more than ${repeatedItemsMax} items`);
  return (value as unknown[]).map(one);
}

/** A message of type `typeName` from parsed JSON; throws a KubemqFailure on a malformed value. */
export function messageFrom(
  typeName: string,
  json: unknown,
  depth = 0,
  read: BodyRead = { tags: 0 },
): Record<string, unknown> {
  if (depth > depthMax) fail('JSON nested too deeply');
  if (typeof json !== 'object' || json === null || Array.isArray(json)) fail(`${typeName} must be an object`);
  const descriptor = messageType(typeName);
  const byLowerName = new Map<string, unknown>();
  for (const [key, value] of Object.entries(json as object)) byLowerName.set(key.toLowerCase(), value);
  const out: Record<string, unknown> = {};
  for (const field of descriptor.fields) {
    out[field.name] = valueFrom(field, byLowerName.get(field.name.toLowerCase()), depth, read);
  }
  return out;
}

/**
 * Object members and array items one body may hold: a batch of `batchMessagesMax` messages with every
 * field set (about 26 each, nested ones counted) and `requestTagsMax` tags is under 40,000. Counted
 * before `JSON.parse`, which built a body's every member first: 1,000,000 tags (11 MB) held the
 * event loop 1.0–3.7 s before the tags could be counted, and 5,000,000 nested empty arrays (10 MB,
 * no colon or comma among them) 4.5 s.
 */
export const jsonValuesMax = 65_536;

const quote = 0x22;
const backslash = 0x5c;
const colon = 0x3a;
const comma = 0x2c;
const bracketOpen = 0x5b;
const braceOpen = 0x7b;

/** Where the string opened just before `from` ends: its closing quote, one no odd run of backslashes escapes. */
function stringEnd(text: string, from: number): number {
  let at = text.indexOf('"', from);
  while (at !== -1) {
    let slashes = 0;
    while (text.charCodeAt(at - 1 - slashes) === backslash) slashes++;
    if (slashes % 2 === 0) return at;
    at = text.indexOf('"', at + 1);
  }
  return text.length;
}

/**
 * Colons, commas and opening brackets outside strings: at least the members, items, objects and arrays
 * JSON.parse would build, less the scalars that open an array. An array's first item follows no comma,
 * so nested arrays and objects are counted by their brackets. Strings are skipped by `indexOf`, so a
 * 100 MiB base64 body costs a native search, not a loop.
 */
function valuesOf(text: string): number {
  let count = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === quote) i = stringEnd(text, i + 1);
    else if (c === colon || c === comma || c === bracketOpen || c === braceOpen) count++;
  }
  return count;
}

/** Parses `text` as JSON and reads a message of type `typeName` from it. */
export function parseMessage<T>(typeName: string, text: string): T {
  if (valuesOf(text) > jsonValuesMax) fail(`JSON holds more than ${jsonValuesMax} members and items`);
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    fail('invalid JSON');
  }
  return messageFrom(typeName, json) as T;
}

// ---- writing

function isZero(value: unknown): boolean {
  if (value === undefined || value === null || value === '' || value === 0 || value === false) return true;
  if (value === '0') return true;
  if (value instanceof Uint8Array) return value.length === 0;
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object') return Object.keys(value).length === 0;
  return false;
}

function scalarJson(field: ProtoField, value: unknown): string {
  if (field.kind === 'bytes') return JSON.stringify(Buffer.from(value as Uint8Array).toString('base64'));
  if (int64Kinds.has(field.kind)) return String(value);
  return JSON.stringify(value);
}

function valueJson(field: ProtoField, value: unknown): string {
  if (field.kind === 'map') return JSON.stringify(value);
  const one = (item: unknown) =>
    field.kind === 'message' ? messageJson(field.message!, item) : scalarJson(field, item);
  if (field.repeated !== true) return one(value);
  return `[${(value as unknown[]).map(one).join(',')}]`;
}

/** A message as Go's encoding/json writes it (`null` for none). */
export function messageJson(typeName: string, message: unknown): string {
  if (message === null || message === undefined) return 'null';
  const descriptor = messageType(typeName);
  const parts: string[] = [];
  const record = message as Record<string, unknown>;
  for (const field of descriptor.fields) {
    const value = record[field.name];
    if (isZero(value)) continue;
    parts.push(`${JSON.stringify(field.name)}:${valueJson(field, value)}`);
  }
  return `{${parts.join(',')}}`;
}
