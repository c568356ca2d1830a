/**
 * Compression of record-batch payloads, for topics whose compression.type asks the broker to
 * recompress: gzip from node:zlib, and the LZ4 frame format (lz4_Frame_format.md, with its xxHash32
 * header checksum) and snappy in the xerial framing Kafka's Java clients write, both over one greedy
 * LZ4-style match finder. zstd comes from `@hpcc-js/wasm-zstd` (the zstd library built to WebAssembly;
 * node 20's zlib has no zstd), loaded the first time a topic asks for it (`zstdReady`).
 */
import { gzipSync } from 'node:zlib';
import type { Zstd } from '@hpcc-js/wasm-zstd';
import { brokerError, ErrorCode } from '../../shared/errors.js';
import { CompressionCodec } from './codec/index.js';

/** Codecs the broker can compress into, by compression.type value. */
export const compressibleCodecs: ReadonlyMap<string, number> = new Map([
  ['uncompressed', CompressionCodec.none],
  ['gzip', CompressionCodec.gzip],
  ['snappy', CompressionCodec.snappy],
  ['lz4', CompressionCodec.lz4],
  ['zstd', CompressionCodec.zstd],
]);

/** Levels from the topic's configs: compression.gzip.level (-1 is zlib's default), compression.zstd.level. */
export interface CompressionLevels {
  readonly gzipLevel: number;
  readonly zstdLevel: number;
}

/** `data` encoded with `codec` (one of `compressibleCodecs`). */
export function compress(codec: number, data: Uint8Array, levels: CompressionLevels): Uint8Array {
  const { gzipLevel } = levels;
  switch (codec) {
    case CompressionCodec.none:
      return data;
    case CompressionCodec.gzip:
      return gzipSync(data, gzipLevel === -1 ? {} : { level: gzipLevel });
    case CompressionCodec.snappy:
      return snappyXerial(data);
    case CompressionCodec.lz4:
      return lz4Frame(data);
    case CompressionCodec.zstd:
      return zstdFrame(data, levels.zstdLevel);
    default:
      throw brokerError(ErrorCode.invalidArgument, `Switchyard does not compress with codec ${codec}`);
  }
}

// ---- the match finder ---------------------------------------------------------------------------

/** A run of literals [from, to) followed, unless it ends the input, by a match `length` bytes long. */
interface Sequence {
  readonly from: number;
  readonly to: number;
  readonly distance: number;
  readonly length: number;
}

const hashBits = 14;
const distanceMax = 0xffff;
/** LZ4 needs the last 5 bytes to be literals and no match to start within the last 12. */
const tailLiterals = 5;
const matchStartTail = 12;

function read32(src: Uint8Array, at: number): number {
  return (src[at]! | (src[at + 1]! << 8) | (src[at + 2]! << 16) | (src[at + 3]! << 24)) >>> 0;
}

/** Greedy matches of at least 4 bytes within 64 KiB, found through a hash of the next 4 bytes. */
function* sequences(src: Uint8Array): Generator<Sequence> {
  const table = new Int32Array(1 << hashBits).fill(-1);
  const startLimit = src.length - matchStartTail;
  const endLimit = src.length - tailLiterals;
  let anchor = 0;
  let at = 0;
  while (at < startLimit) {
    const word = read32(src, at);
    const slot = Math.imul(word, 2654435761) >>> (32 - hashBits);
    const candidate = table[slot]!;
    table[slot] = at;
    if (candidate < 0 || at - candidate > distanceMax || read32(src, candidate) !== word) {
      at++;
      continue;
    }
    let length = 4;
    while (at + length < endLimit && src[candidate + length] === src[at + length]) length++;
    yield { from: anchor, to: at, distance: at - candidate, length };
    at += length;
    anchor = at;
  }
  yield { from: anchor, to: src.length, distance: 0, length: 0 };
}

// ---- LZ4 ----------------------------------------------------------------------------------------

const lz4Magic = 0x184d2204;
/** Version 01, independent blocks, no checksums or content size; blocks of at most 4 MiB. */
const lz4Flags = 0x60;
const lz4BlockDescriptor = 0x70;
const lz4BlockBytesMax = 4 * 1024 * 1024;
const lz4Uncompressed = 0x80000000;

function writeLz4Length(out: Uint8Array, at: number, extra: number): number {
  let rest = extra;
  while (rest >= 255) {
    out[at++] = 255;
    rest -= 255;
  }
  out[at++] = rest;
  return at;
}

function lz4Block(src: Uint8Array): Uint8Array {
  const out = new Uint8Array(src.length + Math.ceil(src.length / 255) + 16);
  let at = 0;
  for (const s of sequences(src)) {
    const literals = s.to - s.from;
    const match = s.length - 4;
    const token = at++;
    out[token] = (Math.min(literals, 15) << 4) | (s.length === 0 ? 0 : Math.min(match, 15));
    if (literals >= 15) at = writeLz4Length(out, at, literals - 15);
    out.set(src.subarray(s.from, s.to), at);
    at += literals;
    if (s.length === 0) break;
    out[at++] = s.distance & 0xff;
    out[at++] = s.distance >>> 8;
    if (match >= 15) at = writeLz4Length(out, at, match - 15);
  }
  return out.subarray(0, at);
}

function lz4Frame(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [];
  const header = Buffer.alloc(7);
  header.writeUInt32LE(lz4Magic, 0);
  header[4] = lz4Flags;
  header[5] = lz4BlockDescriptor;
  header[6] = (xxh32(header.subarray(4, 6)) >>> 8) & 0xff;
  parts.push(header);
  for (let at = 0; at < data.length; at += lz4BlockBytesMax) {
    const chunk = data.subarray(at, at + lz4BlockBytesMax);
    const packed = lz4Block(chunk);
    const stored = packed.length >= chunk.length;
    const size = Buffer.alloc(4);
    size.writeUInt32LE(stored ? (chunk.length | lz4Uncompressed) >>> 0 : packed.length);
    parts.push(size, stored ? chunk : packed);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

const prime1 = 2654435761;
const prime2 = 2246822519;
const prime3 = 3266489917;
const prime4 = 668265263;
const prime5 = 374761393;

function rotl(x: number, r: number): number {
  return ((x << r) | (x >>> (32 - r))) >>> 0;
}

function xxhRound(acc: number, input: number): number {
  return Math.imul(rotl((acc + Math.imul(input, prime2)) >>> 0, 13), prime1) >>> 0;
}

/** xxHash32 with seed 0 (xxhash_spec.md), for the LZ4 frame's header checksum. */
export function xxh32(data: Uint8Array): number {
  let at = 0;
  let h: number;
  if (data.length >= 16) {
    const v = [(prime1 + prime2) >>> 0, prime2, 0, (0 - prime1) >>> 0];
    for (; at + 16 <= data.length; at += 16)
      for (let lane = 0; lane < 4; lane++) v[lane] = xxhRound(v[lane]!, read32(data, at + 4 * lane));
    h = (rotl(v[0]!, 1) + rotl(v[1]!, 7) + rotl(v[2]!, 12) + rotl(v[3]!, 18)) >>> 0;
  } else h = prime5;
  h = (h + data.length) >>> 0;
  for (; at + 4 <= data.length; at += 4)
    h = Math.imul(rotl((h + Math.imul(read32(data, at), prime3)) >>> 0, 17), prime4) >>> 0;
  for (; at < data.length; at++)
    h = Math.imul(rotl((h + Math.imul(data[at]!, prime5)) >>> 0, 11), prime1) >>> 0;
  h = Math.imul(h ^ (h >>> 15), prime2) >>> 0;
  h = Math.imul(h ^ (h >>> 13), prime3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

// ---- snappy -------------------------------------------------------------------------------------

/** snappy-java's stream header: magic, version 1, compatible version 1; blocks of 32 KiB as it writes. */
const xerialHeader = Uint8Array.from([0x82, 0x53, 0x4e, 0x41, 0x50, 0x50, 0x59, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
const xerialBlockBytes = 32 * 1024;
/** A snappy copy element with a 2-byte offset carries 1 to 64 bytes. */
const snappyCopyMax = 64;

function snappyLiteral(out: number[], src: Uint8Array, from: number, to: number): void {
  const n = to - from - 1;
  if (n < 60) out.push(n << 2);
  else if (n < 0x100) out.push(60 << 2, n);
  else out.push(61 << 2, n & 0xff, n >>> 8);
  for (let i = from; i < to; i++) out.push(src[i]!);
}

/** One raw snappy block (format_description.txt): the length as a varint, then literals and copies. */
function snappyBlock(src: Uint8Array): Uint8Array {
  const out: number[] = [];
  for (let n = src.length; ; n >>>= 7) {
    if (n < 0x80) {
      out.push(n);
      break;
    }
    out.push((n & 0x7f) | 0x80);
  }
  for (const s of sequences(src)) {
    if (s.to > s.from) snappyLiteral(out, src, s.from, s.to);
    for (let left = s.length; left > 0; ) {
      // Never leave a copy shorter than 4 behind, which would then need its own element anyway.
      const take =
        left > snappyCopyMax && left - snappyCopyMax < 4 ? snappyCopyMax - 4 : Math.min(left, snappyCopyMax);
      out.push(((take - 1) << 2) | 2, s.distance & 0xff, s.distance >>> 8);
      left -= take;
    }
  }
  return Uint8Array.from(out);
}

function snappyXerial(data: Uint8Array): Uint8Array {
  const parts: Uint8Array[] = [xerialHeader];
  for (let at = 0; at < data.length; at += xerialBlockBytes) {
    const block = snappyBlock(data.subarray(at, at + xerialBlockBytes));
    const size = Buffer.alloc(4);
    size.writeInt32BE(block.length);
    parts.push(size, block);
  }
  return Buffer.concat(parts);
}

// ---- zstd ---------------------------------------------------------------------------------------

let zstdCodec: Zstd | undefined;
let zstdLoading: Promise<void> | undefined;
let zstdFailure: unknown;

/**
 * Undefined once the zstd compressor is loaded, else the promise of its loading (compiling the
 * WebAssembly takes a few hundred milliseconds, so it is not done at start for every broker).
 */
export function zstdReady(): Promise<void> | undefined {
  if (zstdCodec !== undefined || zstdFailure !== undefined) return undefined;
  zstdLoading ??= import('@hpcc-js/wasm-zstd')
    .then((mod) => mod.Zstd.load())
    .then(
      (codec) => {
        zstdCodec = codec;
      },
      (err: unknown) => {
        zstdFailure = err;
      },
    );
  return zstdLoading;
}

function zstdFrame(data: Uint8Array, level: number): Uint8Array {
  if (zstdCodec === undefined)
    throw brokerError(ErrorCode.notImplemented, `the zstd compressor is not loaded: ${String(zstdFailure)}`);
  const out = zstdCodec.compress(data, level);
  // The library reports a failure on the console only; a frame starts with its magic number.
  if (out.length < 4 || out[0] !== 0x28 || out[1] !== 0xb5 || out[2] !== 0x2f || out[3] !== 0xfd)
    throw brokerError(ErrorCode.internal, 'zstd compression failed');
  return out;
}
