/**
 * Decompression of record-batch payloads. Batches are stored compressed as received; the broker
 * only inflates one when it must read its records (another protocol consuming the topic). gzip comes
 * from node:zlib; snappy (raw and xerial-framed) and the LZ4 frame format are small enough to decode
 * here; zstd is decoded by the `fzstd` package (pure JavaScript, which grows its output for frames
 * that do not state their size, as Kafka's Java producer writes them). Compression is in
 * ./compressors.ts.
 */
import { createRequire } from 'node:module';
import { gunzipSync } from 'node:zlib';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import { CompressionCodec } from './codec/index.js';

/** A decompressed batch body larger than this is refused (a hostile 1 KB bomb cannot take the heap). */
const inflatedBytesMax = 256 * 1024 * 1024;

function corrupt(why: string): Error {
  return brokerError(ErrorCode.invalidArgument, `Compressed record batch: ${why}`);
}

export function decompress(codec: number, data: Uint8Array): Uint8Array {
  switch (codec) {
    case CompressionCodec.none:
      return data;
    case CompressionCodec.gzip:
      return gunzipSync(data, { maxOutputLength: inflatedBytesMax });
    case CompressionCodec.snappy:
      return snappyDecompress(data);
    case CompressionCodec.lz4:
      return lz4FrameDecompress(data);
    case CompressionCodec.zstd:
      return zstdDecompress(data);
    default:
      throw corrupt(`unknown codec ${codec}`);
  }
}

// ---- snappy (format_description.txt of google/snappy; xerial framing of snappy-java) ----------

const xerialMagic = [0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0x00];
const xerialHeaderBytes = 16;

function isXerial(data: Uint8Array): boolean {
  return data.length >= xerialHeaderBytes && xerialMagic.every((b, i) => data[i] === b);
}

function snappyDecompress(data: Uint8Array): Uint8Array {
  if (!isXerial(data)) return snappyRaw(data);
  const blocks: Uint8Array[] = [];
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = xerialHeaderBytes;
  let total = 0;
  while (at < data.length) {
    if (at + 4 > data.length) throw corrupt('truncated xerial block');
    const size = view.getInt32(at);
    at += 4;
    if (size < 0 || at + size > data.length) throw corrupt('bad xerial block size');
    const block = snappyRaw(data.subarray(at, at + size));
    total += block.length;
    if (total > inflatedBytesMax) throw corrupt('inflates past the limit');
    blocks.push(block);
    at += size;
  }
  return Buffer.concat(blocks);
}

function readUvarint32(data: Uint8Array, at: number): [number, number] {
  let value = 0;
  for (let shift = 0, i = at; shift < 35; shift += 7, i++) {
    const byte = data[i];
    if (byte === undefined) throw corrupt('truncated varint');
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, i + 1];
  }
  throw corrupt('varint too long');
}

function snappyRaw(data: Uint8Array): Uint8Array {
  const [length, start] = readUvarint32(data, 0);
  if (length > inflatedBytesMax) throw corrupt('inflates past the limit');
  const out = new Uint8Array(length);
  let o = 0;
  let i = start;
  while (i < data.length) {
    const tag = data[i++]!;
    const kind = tag & 3;
    if (kind === 0) {
      let len = (tag >>> 2) + 1;
      if (len > 60) {
        const extra = len - 60;
        len = 1;
        for (let k = 0; k < extra; k++) len += (data[i + k] ?? 0) * 2 ** (8 * k);
        i += extra;
      }
      if (i + len > data.length || o + len > length) throw corrupt('snappy literal overruns');
      out.set(data.subarray(i, i + len), o);
      i += len;
      o += len;
      continue;
    }
    let len: number;
    let distance: number;
    if (kind === 1) {
      len = ((tag >>> 2) & 7) + 4;
      distance = ((tag >>> 5) << 8) | (data[i++] ?? 0);
    } else {
      len = (tag >>> 2) + 1;
      const width = kind === 2 ? 2 : 4;
      distance = 0;
      for (let k = 0; k < width; k++) distance += (data[i + k] ?? 0) * 2 ** (8 * k);
      i += width;
    }
    o = copyMatch(out, o, distance, len, length);
  }
  if (o !== length) throw corrupt(`snappy produced ${o} of ${length} bytes`);
  return out;
}

/** Byte-by-byte so that overlapping matches (distance < length) repeat, as both formats require. */
function copyMatch(out: Uint8Array, o: number, distance: number, len: number, limit: number): number {
  if (distance <= 0 || distance > o || o + len > limit) throw corrupt('bad back-reference');
  for (let k = 0; k < len; k++, o++) out[o] = out[o - distance]!;
  return o;
}

// ---- LZ4 frame (lz4_Frame_format.md, lz4_Block_format.md) --------------------------------------

const lz4Magic = 0x184d2204;

function lz4FrameDecompress(data: Uint8Array): Uint8Array {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (data.length < 7 || view.getUint32(0, true) !== lz4Magic) throw corrupt('not an LZ4 frame');
  const flags = data[4]!;
  const blockChecksum = (flags & 0x10) !== 0;
  const contentSize = (flags & 0x08) !== 0;
  const contentChecksum = (flags & 0x04) !== 0;
  const dictId = (flags & 0x01) !== 0;
  let at = 6 + (contentSize ? 8 : 0) + (dictId ? 4 : 0) + 1;
  const out = new GrowableBytes();
  for (;;) {
    if (at + 4 > data.length) throw corrupt('truncated LZ4 frame');
    const word = view.getUint32(at, true);
    at += 4;
    if (word === 0) break;
    const size = word & 0x7fffffff;
    if (at + size > data.length) throw corrupt('LZ4 block overruns');
    const block = data.subarray(at, at + size);
    if ((word & 0x80000000) !== 0) out.append(block);
    else lz4Block(block, out);
    at += size + (blockChecksum ? 4 : 0);
  }
  if (contentChecksum) at += 4;
  return out.finish();
}

class GrowableBytes {
  bytes = new Uint8Array(1024);
  length = 0;

  reserve(n: number): void {
    const need = this.length + n;
    if (need > inflatedBytesMax) throw corrupt('inflates past the limit');
    if (need <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(need, this.bytes.length * 2));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  append(chunk: Uint8Array): void {
    this.reserve(chunk.length);
    this.bytes.set(chunk, this.length);
    this.length += chunk.length;
  }

  finish(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

function lz4Length(block: Uint8Array, at: number, base: number): [number, number] {
  let len = base;
  if (base !== 15) return [len, at];
  for (;;) {
    const byte = block[at++];
    if (byte === undefined) throw corrupt('truncated LZ4 length');
    len += byte;
    if (byte !== 255) return [len, at];
  }
}

function lz4Block(block: Uint8Array, out: GrowableBytes): void {
  let i = 0;
  while (i < block.length) {
    const token = block[i++]!;
    let literals: number;
    [literals, i] = lz4Length(block, i, token >>> 4);
    if (i + literals > block.length) throw corrupt('LZ4 literal overruns');
    out.append(block.subarray(i, i + literals));
    i += literals;
    if (i >= block.length) break;
    if (i + 2 > block.length) throw corrupt('truncated LZ4 offset');
    const distance = block[i]! | (block[i + 1]! << 8);
    i += 2;
    let matchLength: number;
    [matchLength, i] = lz4Length(block, i, token & 0x0f);
    matchLength += 4;
    out.reserve(matchLength);
    out.length = copyMatch(out.bytes, out.length, distance, matchLength, out.bytes.length);
  }
}

// ---- zstd (RFC 8878) --------------------------------------------------------------------------

type ZstdDecompress = (data: Uint8Array) => Uint8Array;
let zstd: ZstdDecompress | null | undefined;
const zstdMagic = 0xfd2fb528;

/**
 * What the frame header says the frame needs at most: its content size when written, else its window
 * (RFC 8878 3.1.1.1); the decoder allocates that much, so a larger claim is refused before it does.
 */
function zstdFrameBytes(data: Uint8Array): number {
  if (data.length < 6) throw corrupt('truncated zstd frame header');
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  if (view.getUint32(0, true) !== zstdMagic) throw corrupt('not a zstd frame');
  const descriptor = data[4]!;
  const singleSegment = (descriptor & 0x20) !== 0;
  let at = 5;
  let window = 0;
  if (!singleSegment) {
    const w = data[at++]!;
    const base = 2 ** (10 + (w >> 3));
    window = base + (base / 8) * (w & 7);
  }
  at += [0, 1, 2, 4][descriptor & 3]!;
  const fcsBytes = [singleSegment ? 1 : 0, 2, 4, 8][descriptor >> 6]!;
  if (at + fcsBytes > data.length) throw corrupt('truncated zstd frame header');
  const size =
    fcsBytes === 0
      ? 0
      : fcsBytes === 1
        ? data[at]!
        : fcsBytes === 2
          ? view.getUint16(at, true) + 256
          : fcsBytes === 4
            ? view.getUint32(at, true)
            : Number(view.getBigUint64(at, true));
  return Math.max(window, size);
}

function zstdDecompress(data: Uint8Array): Uint8Array {
  if (zstd === undefined) {
    try {
      const mod = createRequire(import.meta.url)('fzstd') as { decompress: ZstdDecompress };
      zstd = mod.decompress;
    } catch {
      zstd = null;
    }
  }
  if (zstd === null) throw brokerError(ErrorCode.notImplemented, 'zstd needs the fzstd package');
  // Kafka's producers write one frame per batch; its header bounds what decoding it allocates.
  if (zstdFrameBytes(data) > inflatedBytesMax) throw corrupt('inflates past the limit');
  let out: Uint8Array;
  try {
    out = zstd(data);
  } catch (err) {
    throw corrupt(`zstd: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (out.length > inflatedBytesMax) throw corrupt('inflates past the limit');
  return out;
}
