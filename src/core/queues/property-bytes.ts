/**
 * A cheap measure of a message's properties, for queues that bound them with the body
 * (`QueueOptions.countsPropertyBytes`): the UTF-16 length of their text, the bytes of their binary
 * values, header names included, 8 for a number or other scalar in a header. Not the size of any
 * encoding: a close figure, found without one, on every enqueue of such a queue. Fixed-size fields
 * (numbers, flags) are left out; the text ones an MQTT 5 PUBLISH can fill are all counted.
 */
import type { HeaderValue, MessageProperties } from '../types.js';

/** What a scalar header value counts; its exact width does not matter for a bound. */
const scalarBytes = 8;

export function propertyBytes(p: MessageProperties): number {
  let bytes =
    textBytes(p.contentType) +
    textBytes(p.contentEncoding) +
    textBytes(p.correlationId) +
    textBytes(p.replyTo) +
    textBytes(p.messageId) +
    textBytes(p.type) +
    textBytes(p.userId) +
    textBytes(p.appId) +
    textBytes(p.publisherId) +
    (p.correlationData?.byteLength ?? 0) +
    (p.key?.byteLength ?? 0);
  const headers = p.headers;
  if (headers !== undefined) for (const [name, value] of headers) bytes += name.length + valueBytes(value);
  return bytes;
}

function textBytes(text: string | undefined): number {
  return text === undefined ? 0 : text.length;
}

function valueBytes(value: HeaderValue): number {
  if (typeof value === 'string') return value.length;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + valueBytes(item), 0);
  if (value === null || typeof value !== 'object' || value instanceof Date) return scalarBytes;
  if (!isTable(value)) return scalarBytes;
  let sum = 0;
  for (const name in value) sum += name.length + valueBytes(value[name]!);
  return sum;
}

/** A nested field table, not a typed number or date. */
function isTable(value: object): value is { [key: string]: HeaderValue } {
  return Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null;
}
