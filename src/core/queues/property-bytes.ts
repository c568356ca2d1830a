/**
 * A cheap measure of a message's properties, for queues that bound them with the body
 * (`QueueOptions.countsPropertyBytes`): the bytes of their text and binary values, names included,
 * 8 for a number or other scalar. Not the size of any encoding: a close figure, found without one.
 */
import { Buffer } from 'node:buffer';
import { type HeaderValue, type MessageProperties, TypedNumber } from '../types.js';

/** Bytes a scalar property or header value counts; its exact width does not matter for a bound. */
const scalarBytes = 8;

export function propertyBytes(properties: MessageProperties): number {
  let bytes = 0;
  for (const name in properties) {
    const value = (properties as Record<string, unknown>)[name];
    if (value === undefined) continue;
    if (name === 'headers') {
      for (const [key, header] of properties.headers ?? []) bytes += key.length + valueBytes(header);
    } else bytes += valueBytes(value as HeaderValue);
  }
  return bytes;
}

function valueBytes(value: HeaderValue): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) return value.reduce((sum: number, item) => sum + valueBytes(item), 0);
  if (
    value !== null &&
    typeof value === 'object' &&
    !(value instanceof Date || value instanceof TypedNumber)
  ) {
    let sum = 0;
    for (const key in value) sum += key.length + valueBytes(value[key]!);
    return sum;
  }
  return scalarBytes;
}
