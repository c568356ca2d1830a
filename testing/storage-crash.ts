/** Shared by the crash test and its child: the payload every offset must hold. */
import { payloadFor } from './storage-fixtures.js';

/** Sizes vary with the offset (1 B to ~3 KiB) so records straddle pages and segment rolls. */
export function crashPayload(offset: number): Uint8Array {
  return payloadFor(offset, 1 + ((offset * 7919) % 3000));
}
