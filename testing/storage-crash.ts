/** Shared by the crash tests and their children: the payload every offset must hold, and the limits. */
import type { StorageLimits } from '../src/storage/types.js';
import { payloadFor } from './storage-fixtures.js';

/** Small segments, so a crash test rolls often. */
export const crashLimits: Partial<StorageLimits> = { segmentBytesMax: 64 * 1024 };

/** Sizes vary with the offset (1 B to ~3 KiB) so records straddle pages and segment rolls. */
export function crashPayload(offset: number): Uint8Array {
  return payloadFor(offset, 1 + ((offset * 7919) % 3000));
}

/** Keys of the rewrite crash test: an entry's key is its offset modulo this. */
export const crashKeys = 50;

export function crashKeyOf(offset: number): number {
  return offset % crashKeys;
}
