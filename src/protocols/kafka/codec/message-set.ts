/**
 * Legacy MessageSet v0/v1 (magic 0 and 1), the format before record batches (Kafka docs
 * "implementation" §5.3.3, KIP-32 for the v1 timestamp, KIP-31 for relative inner offsets):
 *
 *   0 offset i64 | 8 messageSize i32 | 12 crc u32 | 16 magic i8 | 17 attributes i8
 *  [18 timestamp i64, magic 1 only] | key bytes (i32 length, -1 null) | value bytes (likewise)
 *
 * The CRC-32 (IEEE, zlib's) covers magic to the end of the message. A set is a plain run of such
 * entries with no count. Attribute bits 0-2 name a codec; a compressed message is a wrapper whose
 * value is a whole inner message set, compressed. Inner offsets are absolute under a magic-0 wrapper
 * and relative (0..n-1, the wrapper carrying the last absolute one) under a magic-1 wrapper. Bit 3 of
 * a magic-1 message means LogAppendTime, whose wrapper timestamp then stands for every inner one.
 * The magic byte sits at offset 16 as in a record batch, so one byte tells the formats apart.
 */
import { crc32 } from 'node:zlib';
import { isKafkaCodecError, KafkaCodecError, KafkaCodecReason } from './errors.js';
import { KafkaReader, KafkaWriter } from './primitives.js';

export const MessageSetMagic = { v0: 0, v1: 1 } as const;
export type MessageSetMagic = (typeof MessageSetMagic)[keyof typeof MessageSetMagic];

/** Attribute bits of a legacy message: 0-2 codec (same numbers as record batches), 3 LogAppendTime. */
export const MessageAttribute = { compressionMask: 0x07, logAppendTime: 0x08 } as const;

/** offset + messageSize, before the CRC. */
export const messageLogOverheadBytes = 12;
/** The byte that tells a legacy message (0, 1) from a record batch (2). */
export const magicByteOffset = 16;
/** crc, magic, attributes, key length, value length: the smallest magic-0 message body. */
const bodyBytesMinV0 = 14;
/** Magic 1 adds the 8-byte timestamp. */
const timestampBytes = 8;
export const noTimestamp = -1n;

export interface LegacyMessage {
  /** Absolute for plain messages and for inner messages after wrapper offsets are resolved. */
  offset: bigint;
  magic: MessageSetMagic;
  attributes: number;
  /** -1 for magic 0; for inner messages of a LogAppendTime wrapper, the wrapper's timestamp. */
  timestamp: bigint;
  key: Uint8Array | null;
  value: Uint8Array | null;
}

/** Inflates a wrapper's value; given by the caller so that this codec stays free of compression code. */
export type Inflate = (codec: number, data: Uint8Array) => Uint8Array;

export interface DecodeMessageSetOptions {
  /** Messages returned at most, inner messages counted; more is refused as malformed. */
  messagesMax: number;
  /** Without it, a compressed wrapper is refused with `invalid_value`. */
  inflate?: Inflate;
  /** Checks every CRC-32 (default true). */
  verifyCrc?: boolean;
}

function malformed(why: string): KafkaCodecError {
  return new KafkaCodecError(KafkaCodecReason.malformed, why);
}

/** Bytes of one message entry (offset and size included) for the given key and value lengths. */
export function legacyMessageBytes(magic: MessageSetMagic, keyBytes: number, valueBytes: number): number {
  const body = bodyBytesMinV0 + (magic === MessageSetMagic.v1 ? timestampBytes : 0);
  return messageLogOverheadBytes + body + keyBytes + valueBytes;
}

/** The magic of the first entry in `records`, or null when fewer than 17 bytes are there. */
export function recordsMagic(records: Uint8Array): number | null {
  const magic = records[magicByteOffset];
  return magic === undefined ? null : (magic << 24) >> 24;
}

function readSizedBytes(r: KafkaReader): Uint8Array | null {
  const n = r.readInt32();
  if (n < -1) throw malformed(`Negative length ${n}`);
  return n === -1 ? null : r.readRaw(n);
}

/** Reads one entry's message from `r`, already bounded to exactly messageSize bytes. */
function readMessageBody(r: KafkaReader, offset: bigint, verifyCrc: boolean): LegacyMessage {
  const crc = r.readUint32();
  if (verifyCrc && crc32(r.bytes.subarray(r.offset, r.end)) !== crc)
    throw malformed('Message CRC-32 mismatch');
  const magic = r.readInt8();
  if (magic !== MessageSetMagic.v0 && magic !== MessageSetMagic.v1)
    throw malformed(`Message magic ${magic} inside a legacy message set`);
  const attributes = r.readInt8() & 0xff;
  const timestamp = magic === MessageSetMagic.v1 ? r.readInt64() : noTimestamp;
  const key = readSizedBytes(r);
  const value = readSizedBytes(r);
  if (r.remaining !== 0) throw malformed(`${r.remaining} bytes after a message's value`);
  return { offset, magic, attributes, timestamp, key, value };
}

/** Splits a set into its messages without inflating; a trailing partial entry is reported, not read. */
function readEntries(
  bytes: Uint8Array,
  entriesMax: number,
  verifyCrc: boolean,
): { messages: LegacyMessage[]; partialBytes: number } {
  const messages: LegacyMessage[] = [];
  const r = new KafkaReader(bytes);
  while (r.remaining >= messageLogOverheadBytes) {
    const start = r.offset;
    const offset = r.readInt64();
    const size = r.readInt32();
    if (size < bodyBytesMinV0) throw malformed(`Message size ${size} is below the minimum`);
    if (size > r.remaining) {
      r.offset = start;
      break;
    }
    if (messages.length === entriesMax) throw malformed(`More than ${entriesMax} messages`);
    messages.push(readMessageBody(r.sub(size), offset, verifyCrc));
  }
  return { messages, partialBytes: r.remaining };
}

/** The inner messages of a wrapper, with absolute offsets and the wrapper's LogAppendTime applied. */
function unwrap(wrapper: LegacyMessage, inner: LegacyMessage[]): LegacyMessage[] {
  const last = inner[inner.length - 1];
  if (last === undefined) throw malformed('Compressed message with an empty inner set');
  const shift = wrapper.magic === MessageSetMagic.v1 ? wrapper.offset - last.offset : 0n;
  const appendTime = (wrapper.attributes & MessageAttribute.logAppendTime) !== 0;
  return inner.map((m) => {
    if (m.magic !== wrapper.magic) throw malformed('Inner message magic differs from its wrapper');
    if ((m.attributes & MessageAttribute.compressionMask) !== 0) throw malformed('Nested compressed message');
    return { ...m, offset: m.offset + shift, timestamp: appendTime ? wrapper.timestamp : m.timestamp };
  });
}

/** Whatever the inflater throws (zlib, a codec's own errors) surfaces as a malformed-input error. */
function inflateOrThrow(inflate: Inflate, codec: number, data: Uint8Array): Uint8Array {
  try {
    return inflate(codec, data);
  } catch (err) {
    if (isKafkaCodecError(err)) throw err;
    throw new KafkaCodecError(KafkaCodecReason.malformed, `Cannot inflate codec ${codec}`, { cause: err });
  }
}

/**
 * Decodes a message set, expanding compressed wrappers into their inner messages. A trailing
 * partial entry (legal at the end of a Fetch response) is left out and counted in `partialBytes`.
 */
export function decodeMessageSet(
  bytes: Uint8Array,
  options: DecodeMessageSetOptions,
): { messages: LegacyMessage[]; partialBytes: number } {
  const verifyCrc = options.verifyCrc ?? true;
  const outer = readEntries(bytes, options.messagesMax, verifyCrc);
  const messages: LegacyMessage[] = [];
  for (const m of outer.messages) {
    const codec = m.attributes & MessageAttribute.compressionMask;
    if (codec === 0) {
      messages.push(m);
    } else {
      if (options.inflate === undefined)
        throw new KafkaCodecError(KafkaCodecReason.invalidValue, `Compressed message (codec ${codec})`);
      if (m.value === null) throw malformed('Compressed message without a value');
      const inner = readEntries(
        inflateOrThrow(options.inflate, codec, m.value),
        options.messagesMax,
        verifyCrc,
      );
      if (inner.partialBytes !== 0) throw malformed('Partial message inside a compressed message');
      messages.push(...unwrap(m, inner.messages));
    }
    if (messages.length > options.messagesMax) throw malformed(`More than ${options.messagesMax} messages`);
  }
  return { messages, partialBytes: outer.partialBytes };
}

export interface LegacyMessageInput {
  offset: bigint;
  /** Codec bits and, for magic 1, the LogAppendTime bit; written as given. */
  attributes?: number;
  /** Written for magic 1 only; defaults to -1. */
  timestamp?: bigint;
  key?: Uint8Array | null;
  value: Uint8Array | null;
}

function writeSizedBytes(w: KafkaWriter, bytes: Uint8Array | null): void {
  if (bytes === null) {
    w.writeInt32(-1);
    return;
  }
  w.writeInt32(bytes.length);
  w.writeRaw(bytes);
}

function writeMessage(w: KafkaWriter, magic: MessageSetMagic, m: LegacyMessageInput): void {
  const start = w.byteLength;
  w.writeInt64(m.offset);
  w.writeInt32(0);
  w.writeUint32(0);
  w.writeInt8(magic);
  w.writeInt8(((m.attributes ?? 0) << 24) >> 24);
  if (magic === MessageSetMagic.v1) w.writeInt64(m.timestamp ?? noTimestamp);
  writeSizedBytes(w, m.key ?? null);
  writeSizedBytes(w, m.value);
  w.setInt32At(start + 8, w.byteLength - start - messageLogOverheadBytes);
}

/**
 * Encodes messages as a set of the given magic, sizes and CRC-32s filled in. Compressed wrappers are
 * built by the caller: encode the inner set, compress it, and pass it as a value with the codec bits.
 */
export function encodeMessageSet(
  magic: MessageSetMagic,
  messages: readonly LegacyMessageInput[],
): Uint8Array {
  let total = 0;
  for (const m of messages) total += legacyMessageBytes(magic, m.key?.length ?? 0, m.value?.length ?? 0);
  const w = new KafkaWriter(Math.max(total, 1));
  for (const m of messages) writeMessage(w, magic, m);
  const bytes = w.finish();
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 0; at < bytes.length; ) {
    const end = at + messageLogOverheadBytes + view.getInt32(at + 8);
    view.setUint32(at + 12, crc32(bytes.subarray(at + magicByteOffset, end)));
    at = end;
  }
  return bytes;
}
