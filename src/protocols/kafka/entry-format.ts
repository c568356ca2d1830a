/**
 * How Kafka record batches live in a core stream, and how they meet other protocols'
 * messages (docs/cross-protocol.md, "Kafka"). A stored batch is one stream entry of format
 * `kafkaBatchFormat` whose payload is the batch exactly as produced, baseOffset rewritten. Other
 * protocols read such entries through the converter registered below; Fetch turns entries of the
 * core message format into single-record batches on the fly.
 */
import { type EntryCompactor, registerEntryCompactor, registerEntryFormat } from '../../core/logs/formats.js';
import { decodeTxnMarker, type EntryProducer } from '../../core/logs/markers.js';
import { decodeMessage, entryFormat } from '../../core/message-codec.js';
import { type HeaderEntry, type HeaderValue, type Message, TypedNumber } from '../../core/types.js';
import type { LogEntry } from '../../storage/types.js';
import {
  BatchAttribute,
  batchHeaderBytes,
  CompressionCodec,
  compressionOf,
  decodeRecords,
  encodeRecordBatch,
  type KafkaRecord,
  type RecordHeader,
  readBatchHeader,
  recordKeys,
} from './codec/index.js';
import { decompress } from './compression.js';

/** 'K': the entry format byte of a stored Kafka record batch. */
export const kafkaBatchFormat = 0x4b;
/**
 * Record header carrying the routing key a message was published with (an MQTT topic's `a.b.c`). It
 * comes after the message's own headers, so a publisher's header of the same name is kept and cannot
 * stand in for it: the last `x-routing-key` of a record is the broker's.
 */
export const routingKeyHeader = 'x-routing-key';

const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const utf8 = new TextEncoder();

function bytesToHeaderValue(bytes: Uint8Array): HeaderValue {
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return Uint8Array.from(bytes);
  }
}

/** The records of a stored batch, inflating it first when compressed. */
export function batchRecords(payload: Uint8Array): {
  records: KafkaRecord[];
  baseTimestamp: bigint;
  maxTimestamp: bigint;
  logAppendTime: boolean;
} {
  const header = readBatchHeader(payload);
  const codec = compressionOf(header.attributes);
  let plain = payload;
  if (codec !== 0) {
    const end = 12 + header.batchLength;
    const inflated = decompress(codec, payload.subarray(batchHeaderBytes, end));
    plain = new Uint8Array(batchHeaderBytes + inflated.length);
    plain.set(payload.subarray(0, batchHeaderBytes));
    plain.set(inflated, batchHeaderBytes);
    const view = new DataView(plain.buffer);
    view.setInt32(8, plain.length - 12);
    view.setInt16(21, header.attributes & ~BatchAttribute.compressionMask);
  }
  return {
    records: decodeRecords(plain),
    baseTimestamp: header.baseTimestamp,
    maxTimestamp: header.maxTimestamp,
    logAppendTime: (header.attributes & BatchAttribute.logAppendTime) !== 0,
  };
}

/** Record headers keep their order and repeated names; the key is the message's `key`, never a header. */
function recordToMessage(record: KafkaRecord, timestamp: number): Message {
  const headers = record.headers.map(
    (h): HeaderEntry => [h.key, h.value === null ? null : bytesToHeaderValue(h.value)],
  );
  const body = record.value === null ? new Uint8Array(0) : Uint8Array.from(record.value);
  const properties: Message['properties'] = { headers, timestamp };
  if (record.key !== null) properties.key = Uint8Array.from(record.key);
  return { exchange: '', routingKey: '', body, properties };
}

/** The converter core uses to read Kafka batches as messages (AMQP stream consumers). */
function kafkaEntryMessages(entry: LogEntry): Array<{ offset: number; message: Message }> {
  const batch = batchRecords(entry.payload);
  if (readBatchHeader(entry.payload).attributes & BatchAttribute.control) return [];
  return batch.records.map((record) => {
    const ts = batch.logAppendTime ? batch.maxTimestamp : batch.baseTimestamp + record.timestampDelta;
    return { offset: entry.offset + record.offsetDelta, message: recordToMessage(record, Number(ts)) };
  });
}

function headerValueBytes(value: HeaderValue): Uint8Array | null {
  if (value === null) return null;
  if (typeof value === 'string') return utf8.encode(value);
  if (value instanceof Uint8Array) return value;
  if (value instanceof Date) return utf8.encode(value.toISOString());
  // A typed number (an AMQP int16, say) is its decimal text, like any number.
  if (value instanceof TypedNumber) return utf8.encode(value.toString());
  if (typeof value === 'object')
    return utf8.encode(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? v.toString() : v)));
  return utf8.encode(String(value));
}

/** One core message entry (format 1) as a one-record batch at the entry's offset. */
function messageEntryToBatch(entry: LogEntry): Uint8Array {
  const { message } = decodeMessage(entry.payload);
  const headers: RecordHeader[] = (message.properties.headers ?? []).map(([name, value]) => ({
    key: name,
    value: headerValueBytes(value),
  }));
  const key = message.properties.key ?? null;
  // Kafka has no routing key; without this a consumer of an MQTT-fed stream could not tell sensors apart.
  if (message.routingKey !== '')
    headers.push({ key: routingKeyHeader, value: utf8.encode(message.routingKey) });
  const timestamp = message.properties.timestamp ?? entry.timestamp;
  return encodeRecordBatch({
    baseOffset: BigInt(entry.offset),
    baseTimestamp: BigInt(Math.trunc(timestamp)),
    records: [{ key, value: message.body, headers }],
  });
}

/** Control record type of a transaction marker's key (Kafka's ControlRecordType). */
const controlType = { abort: 0, commit: 1 } as const;

/**
 * Core's transaction marker as Kafka's control batch (KIP-98): transactional and control bits, the
 * producer's id and epoch, one record whose key is {version 0, type} and whose value is
 * {version 0, coordinator epoch}.
 */
function markerToControlBatch(entry: LogEntry): Uint8Array {
  const marker = decodeTxnMarker(entry.payload);
  const key = new Uint8Array(4);
  new DataView(key.buffer).setInt16(2, marker.commit ? controlType.commit : controlType.abort);
  const value = new Uint8Array(6);
  return encodeRecordBatch({
    baseOffset: BigInt(entry.offset),
    baseTimestamp: BigInt(Math.trunc(entry.timestamp)),
    attributes: BatchAttribute.transactional | BatchAttribute.control,
    producerId: BigInt(marker.producerId),
    producerEpoch: marker.epoch,
    records: [{ key, value, headers: [] }],
  });
}

/** The bytes Fetch returns for one stored entry, or null for formats Kafka cannot show. */
export function entryAsBatch(entry: LogEntry): Uint8Array | null {
  if (entry.format === kafkaBatchFormat) return entry.payload;
  if (entry.format === entryFormat.message) return messageEntryToBatch(entry);
  if (entry.format === entryFormat.txnMarker) return markerToControlBatch(entry);
  return null;
}

/** Who wrote a stored batch: its producer id, and whether inside a transaction (attribute bit 4). */
function batchProducer(entry: LogEntry): EntryProducer | undefined {
  const header = readBatchHeader(entry.payload);
  // Kafka's NO_PRODUCER_ID: a plain batch, which says so (not "cannot tell", which undefined means).
  if (header.producerId < 0n) return { producerId: -1, transactional: false };
  const transactional = (header.attributes & BatchAttribute.transactional) !== 0;
  const producerId = Number(header.producerId);
  if (header.baseSequence < 0) return { producerId, transactional };
  // The offsets the batch covers, not its records: compaction keeps the former (KIP-98 lastSequence).
  const sequence = {
    epoch: header.producerEpoch,
    first: header.baseSequence,
    count: header.lastOffsetDelta + 1,
  };
  return { producerId, transactional, sequence };
}

/**
 * What compaction sees of a stored batch: each record with its key, a null value being a tombstone.
 * A control batch has no keyed records, so compaction keeps it. A batch keeping only some records is
 * written anew, uncompressed, with its producer fields, base offset and last offset delta unchanged, so
 * consumers still move past every offset it covers.
 */
const batchCompactor: EntryCompactor = {
  records(entry) {
    const header = readBatchHeader(entry.payload);
    if (header.attributes & BatchAttribute.control) return [];
    if (compressionOf(header.attributes) !== CompressionCodec.none) {
      return batchRecords(entry.payload).records.map((record) => ({
        offset: entry.offset + record.offsetDelta,
        key: record.key === null ? undefined : Buffer.from(record.key).toString('latin1'),
        tombstone: record.value === null,
      }));
    }
    // Every stored record is walked twice per run: its key alone, nothing copied (docs/performance.md).
    return recordKeys(entry.payload).map((record) => ({
      offset: entry.offset + record.offsetDelta,
      key: record.key,
      tombstone: record.nullValue,
    }));
  },
  retain(entry, kept) {
    const header = readBatchHeader(entry.payload);
    const { records } = batchRecords(entry.payload);
    return encodeRecordBatch({
      baseOffset: header.baseOffset,
      partitionLeaderEpoch: header.partitionLeaderEpoch,
      attributes: header.attributes & ~BatchAttribute.compressionMask,
      baseTimestamp: header.baseTimestamp,
      maxTimestamp: header.maxTimestamp,
      producerId: header.producerId,
      producerEpoch: header.producerEpoch,
      baseSequence: header.baseSequence,
      lastOffsetDelta: header.lastOffsetDelta,
      records: records.filter((record) => kept(entry.offset + record.offsetDelta)),
    });
  },
};

// Registered on import so that a broker reading logs written by an earlier run can convert them
// even before a Kafka client connects.
registerEntryFormat(kafkaBatchFormat, kafkaEntryMessages, batchProducer);
registerEntryCompactor(kafkaBatchFormat, batchCompactor, import.meta.url);
