/**
 * Header and argument values as JSON. Core header values may hold bigints, bytes, dates and typed
 * numbers, none of which `JSON.stringify` takes as they are; a typed number shows as its number.
 */
import { type Headers, type HeaderValue, TypedNumber } from '../core/types.js';

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };

// Deeper nesting than any real header table; stops a pathological value from recursing without end.
const depthMax = 32;

function headerToJson(value: HeaderValue, depth = 0): Json {
  if (depth > depthMax) return '[too deep]';
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? value : String(value);
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (value instanceof Date) return value.toISOString();
  if (value instanceof TypedNumber) return headerToJson(value.valueOf());
  if (Array.isArray(value)) return value.map((item) => headerToJson(item, depth + 1));
  return headersToJson(value, depth + 1);
}

export function headersToJson(headers: Headers | undefined, depth = 0): { [key: string]: Json } {
  const out: { [key: string]: Json } = {};
  for (const [key, value] of Object.entries(headers ?? {})) out[key] = headerToJson(value, depth);
  return out;
}

/** JSON as header values (a client's headers and arguments): objects nest as tables. */
export function jsonToHeaders(json: Json | undefined, depth = 0): Headers {
  const out: Headers = {};
  if (json === null || typeof json !== 'object' || Array.isArray(json)) return out;
  for (const [key, value] of Object.entries(json)) out[key] = jsonToHeader(value, depth);
  return out;
}

function jsonToHeader(value: Json, depth: number): HeaderValue {
  if (depth > depthMax) return null;
  if (Array.isArray(value)) return value.map((item) => jsonToHeader(item, depth + 1));
  if (value !== null && typeof value === 'object') return jsonToHeaders(value, depth + 1);
  return value;
}
