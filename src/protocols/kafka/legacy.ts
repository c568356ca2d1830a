/**
 * Conversion between legacy MessageSet v0/v1 (clients of Kafka before 0.11) and the record batch
 * v2 that the log stores. Produce turns a magic-0/1 set into one v2 batch, so offsets, storage,
 * retention and other protocols see nothing new; Fetch v0–3 turns stored batches back into
 * messages of the magic that version can read (v0–1 magic 0, v2–3 magic 1), as Kafka's broker
 * down-converts for old consumers. Record headers have no legacy form and are dropped on the way
 * down, as Kafka does.
 */
import { gzipSync } from 'node:zlib';
import {
  BatchAttribute,
  batchHeaderBytes,
  CompressionCodec,
  crc32c,
  decodeMessageSet,
  encodeMessageSet,
  encodeRecordBatch,
  KafkaCodecError,
  KafkaCodecReason,
  type LegacyMessage,
  type LegacyMessageInput,
  legacyMessageBytes,
  MessageAttribute,
  MessageSetMagic,
  readBatchHeader,
  recordsMagic,
} from './codec/index.js';
import { decompress } from './compression.js';
import { batchRecords } from './entry-format.js';
import { KafkaError } from './errors.js';

/** Messages accepted in one partition's legacy message set of one Produce request. */
const legacyMessagesMax = 100_000;
const recordBatchMagic = 2;
const attributesOffset = 17;

/** The message format a Fetch version can read: v0–1 magic 0, v2–3 magic 1 (KIP-32), v4+ batches. */
export function fetchMagic(apiVersion: number): number {
  if (apiVersion <= 1) return MessageSetMagic.v0;
  if (apiVersion <= 3) return MessageSetMagic.v1;
  return recordBatchMagic;
}

/** Legacy wrappers only ever carried gzip, snappy or lz4; zstd needs record batches (KIP-110). */
function inflateLegacy(codec: number, data: Uint8Array): Uint8Array {
  if (codec > CompressionCodec.lz4)
    throw new KafkaCodecError(KafkaCodecReason.malformed, `Codec ${codec} in a legacy message`);
  // The LZ4 frame reader skips the frame header checksum, so magic-0 LZ4 from Kafka < 0.10
  // clients, which computed that checksum over the wrong bytes (KAFKA-3160), reads as well.
  return decompress(codec, data);
}

/** An uncompressed v2 batch gzipped: records section compressed, length, codec bits and CRC redone. */
function gzipBatch(batch: Uint8Array): Uint8Array {
  const body = gzipSync(batch.subarray(batchHeaderBytes));
  const out = new Uint8Array(batchHeaderBytes + body.length);
  out.set(batch.subarray(0, batchHeaderBytes));
  out.set(body, batchHeaderBytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setInt32(8, out.length - 12);
  view.setInt16(21, view.getInt16(21) | CompressionCodec.gzip);
  view.setUint32(17, crc32c(out, 21));
  return out;
}

/** One v2 batch holding the messages in order; magic-0 messages keep timestamp -1 (no timestamp). */
function messagesToBatch(messages: readonly LegacyMessage[], gzip: boolean): Uint8Array {
  const base = messages[0]!.timestamp;
  const batch = encodeRecordBatch({
    baseTimestamp: base,
    records: messages.map((m) => ({ timestampDelta: m.timestamp - base, key: m.key, value: m.value })),
  });
  return gzip ? gzipBatch(batch) : batch;
}

/**
 * A Produce `records` field as v2 batches: returned unchanged when it starts with a record batch;
 * a magic-0/1 set becomes one batch, gzipped again when it came gzipped and uncompressed otherwise.
 * Idempotence does not apply (legacy messages carry no producer id).
 */
export function upConvertRecords(records: Uint8Array): Uint8Array | KafkaError {
  const magic = recordsMagic(records);
  if (magic !== MessageSetMagic.v0 && magic !== MessageSetMagic.v1) return records;
  let messages: LegacyMessage[];
  try {
    const set = decodeMessageSet(records, { messagesMax: legacyMessagesMax, inflate: inflateLegacy });
    if (set.partialBytes !== 0) return KafkaError.corruptMessage;
    messages = set.messages;
  } catch {
    return KafkaError.corruptMessage;
  }
  if (messages.length === 0) return KafkaError.corruptMessage;
  const codec = (records[attributesOffset] ?? 0) & MessageAttribute.compressionMask;
  return messagesToBatch(messages, codec === CompressionCodec.gzip);
}

/** A stored batch's records from `fetchOffset` on as legacy messages (control batches have none). */
function batchMessages(batch: Uint8Array, magic: MessageSetMagic, fetchOffset: bigint): LegacyMessageInput[] {
  const header = readBatchHeader(batch);
  if ((header.attributes & BatchAttribute.control) !== 0) return [];
  const { records, baseTimestamp, maxTimestamp, logAppendTime } = batchRecords(batch);
  const attributes = magic === MessageSetMagic.v1 && logAppendTime ? MessageAttribute.logAppendTime : 0;
  const out: LegacyMessageInput[] = [];
  for (const record of records) {
    const offset = header.baseOffset + BigInt(record.offsetDelta);
    if (offset < fetchOffset) continue;
    const timestamp = logAppendTime ? maxTimestamp : baseTimestamp + record.timestampDelta;
    out.push({ offset, attributes, timestamp, key: record.key, value: record.value });
  }
  return out;
}

/**
 * Stored batches (as Fetch read them) as uncompressed message sets of `magic`, one per batch, whole
 * messages only, and no more than `limitBytes` unless, with `atLeastOne` (the first partition with
 * data), the first message alone is larger, so a consumer always progresses, as KIP-74 gives v3+
 * consumers for batches.
 */
export function downConvertBatches(
  batches: readonly Uint8Array[],
  magic: MessageSetMagic,
  fetchOffset: number,
  limitBytes: number,
  atLeastOne: boolean,
): Uint8Array[] {
  const out: Uint8Array[] = [];
  let bytes = 0;
  for (const batch of batches) {
    const messages = batchMessages(batch, magic, BigInt(fetchOffset));
    let kept = 0;
    for (const m of messages) {
      const size = legacyMessageBytes(magic, m.key?.length ?? 0, m.value?.length ?? 0);
      if ((bytes > 0 || !atLeastOne) && bytes + size > limitBytes) break;
      bytes += size;
      kept++;
    }
    if (kept > 0) out.push(encodeMessageSet(magic, messages.slice(0, kept)));
    if (kept < messages.length) break;
  }
  return out;
}
