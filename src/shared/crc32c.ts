/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka record batch v2. Every
 * produced batch is checked, so this runs over every byte a producer sends: with the optional package
 * @node-rs/crc32 installed (prebuilt native code) a long input goes to it, 3–4× faster on the project's
 * machine than the JavaScript below, which remains for short inputs (where the native call costs more
 * than it saves) and for machines without the package.
 *
 * The JavaScript is slicing-by-16: sixteen table lookups per sixteen input bytes instead of one per
 * byte, the input read four bytes at a time (little-endian, as the reflected CRC consumes it).
 */
import { createRequire } from 'node:module';

type NativeCrc32c = (input: Uint8Array, initialState?: number) => number;

/** Inputs at least this long go to the native code when it is there. */
export const nativeBytesMin = 512;

function loadNative(): NativeCrc32c | undefined {
  try {
    const mod = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown };
    return typeof mod.crc32c === 'function' ? (mod.crc32c as NativeCrc32c) : undefined;
  } catch {
    return undefined;
  }
}

const native = loadNative();

/** Whether long inputs go to native code (for benchmarks and the logs). */
export const crc32cNative = native !== undefined;

const polynomial = 0x82f63b78;
const slices = 16;
const tables = buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(slices * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ polynomial : c >>> 1;
    t[i] = c;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < slices; k++) {
      const prev = t[(k - 1) * 256 + i]!;
      t[k * 256 + i] = (prev >>> 8) ^ t[prev & 0xff]!;
    }
  }
  return t;
}

/** CRC-32C of `bytes[start, end)`; pass a previous result as `crc` to continue a running checksum. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  if (native !== undefined && end - start >= nativeBytesMin) {
    return native(bytes.subarray(start, end), crc) >>> 0;
  }
  return crc32cJs(bytes, start, end, crc);
}

/** The JavaScript CRC-32C, whatever is installed (tests compare the two). */
export function crc32cJs(bytes: Uint8Array, start = 0, end = bytes.length, crc = 0): number {
  const t = tables;
  let c = ~crc >>> 0;
  let i = start;
  if (end - start >= 16) {
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (; i + 16 <= end; i += 16) {
      const a = c ^ view.getUint32(i, true);
      const b = view.getUint32(i + 4, true);
      const d = view.getUint32(i + 8, true);
      const e = view.getUint32(i + 12, true);
      c =
        t[15 * 256 + (a & 0xff)]! ^
        t[14 * 256 + ((a >>> 8) & 0xff)]! ^
        t[13 * 256 + ((a >>> 16) & 0xff)]! ^
        t[12 * 256 + (a >>> 24)]! ^
        t[11 * 256 + (b & 0xff)]! ^
        t[10 * 256 + ((b >>> 8) & 0xff)]! ^
        t[9 * 256 + ((b >>> 16) & 0xff)]! ^
        t[8 * 256 + (b >>> 24)]! ^
        t[7 * 256 + (d & 0xff)]! ^
        t[6 * 256 + ((d >>> 8) & 0xff)]! ^
        t[5 * 256 + ((d >>> 16) & 0xff)]! ^
        t[4 * 256 + (d >>> 24)]! ^
        t[3 * 256 + (e & 0xff)]! ^
        t[2 * 256 + ((e >>> 8) & 0xff)]! ^
        t[256 + ((e >>> 16) & 0xff)]! ^
        t[e >>> 24]!;
    }
  }
  for (; i < end; i++) c = (c >>> 8) ^ t[(c ^ bytes[i]!) & 0xff]!;
  return ~c >>> 0;
}
