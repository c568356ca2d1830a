/**
 * The usual Produce response written by hand: one topic, one partition, no per-record errors, no
 * error message and no leader hints. The schema writer made a writer, its DataView, a list of
 * pieces and views for every produce; this writes the whole frame into one buffer. Any other shape
 * returns undefined and goes through the schema writer, whose bytes these are (the codec tests compare
 * both for every version).
 */
import { assert } from '../../../shared/assert.js';

/** Versions the hand writer knows: Produce v0–12 (v13 names topics by id). */
const versionMax = 12;
/** From this version on the response is flexible: compact lengths and tagged fields (KIP-482). */
const flexibleVersionMin = 9;
/** Topic names longer than this (bytes) take the schema writer: a compact length of one byte. */
const nameBytesMax = 126;

interface PartitionShape {
  readonly index: number;
  readonly errorCode: number;
  readonly baseOffset?: unknown;
  readonly logAppendTimeMs?: unknown;
  readonly logStartOffset?: unknown;
  readonly recordErrors?: unknown;
  readonly errorMessage?: unknown;
  readonly currentLeader?: unknown;
}

interface TopicShape {
  readonly name?: unknown;
  readonly partitionResponses?: readonly PartitionShape[];
}

interface ResponseShape {
  readonly responses?: readonly TopicShape[];
  readonly throttleTimeMs?: unknown;
  readonly nodeEndpoints?: unknown;
}

/** The one partition's answer when the body has the usual shape for `version`, else undefined. */
function usualPartition(body: ResponseShape, version: number): PartitionShape | undefined {
  if (version < 0 || version > versionMax || body.nodeEndpoints !== undefined) return undefined;
  if (body.throttleTimeMs !== undefined && typeof body.throttleTimeMs !== 'number') return undefined;
  const topic = body.responses?.length === 1 ? body.responses[0] : undefined;
  if (topic === undefined || typeof topic.name !== 'string') return undefined;
  const p = topic.partitionResponses?.length === 1 ? topic.partitionResponses[0] : undefined;
  if (p === undefined || typeof p.baseOffset !== 'bigint' || p.currentLeader !== undefined) return undefined;
  if (p.logAppendTimeMs !== undefined && typeof p.logAppendTimeMs !== 'bigint') return undefined;
  if (p.logStartOffset !== undefined && typeof p.logStartOffset !== 'bigint') return undefined;
  const noRecordErrors =
    p.recordErrors === undefined || (Array.isArray(p.recordErrors) && p.recordErrors.length === 0);
  if (!noRecordErrors || (p.errorMessage !== undefined && p.errorMessage !== null)) return undefined;
  return p;
}

/** Whether every char is ASCII: then its length is its UTF-8 byte count. */
function asciiName(name: string): boolean {
  if (name.length > nameBytesMax) return false;
  for (let i = 0; i < name.length; i++) if (name.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * An int64 written as two 32-bit halves when it is a safe integer, as offsets and times are: Node's
 * `writeBigInt64BE` made new BigInts for its shifts and masks, three per answer.
 */
function writeInt64(out: Buffer, value: bigint, at: number): number {
  const n = Number(value);
  if (!Number.isSafeInteger(n)) return out.writeBigInt64BE(value, at);
  const high = Math.floor(n / 2 ** 32);
  out.writeInt32BE(high, at);
  return out.writeUInt32BE(n - high * 2 ** 32, at + 4);
}

/** Bytes of the frame, its 4-byte size included. */
function frameBytes(version: number, nameBytes: number): number {
  const flexible = version >= flexibleVersionMin;
  let n = 4 + 4 + (flexible ? 1 : 0); // size, correlation id, header tags
  n += flexible ? 1 + 1 + nameBytes + 1 : 4 + 2 + nameBytes + 4; // topics, name, partitions
  n += 4 + 2 + 8; // index, error code, base offset
  if (version >= 2) n += 8;
  if (version >= 5) n += 8;
  if (version >= 8) n += flexible ? 1 + 1 : 4 + 2; // record errors, error message
  if (flexible) n += 1 + 1; // partition's and topic's tagged fields
  if (version >= 1) n += 4;
  if (flexible) n += 1;
  return n;
}

/**
 * The whole response frame for `correlationId`, or undefined when the body is not the usual shape.
 * Field order and defaults as the schema's (generated/produce.ts): logAppendTimeMs and logStartOffset
 * -1 when absent, null error message, an empty record error list.
 */
export function encodeUsualProduceResponse(
  correlationId: number,
  version: number,
  body: object,
): Buffer | undefined {
  const shape = body as ResponseShape;
  const p = usualPartition(shape, version);
  if (p === undefined) return undefined;
  const name = shape.responses![0]!.name as string;
  if (!asciiName(name)) return undefined;
  const flexible = version >= flexibleVersionMin;
  const size = frameBytes(version, name.length);
  const out = Buffer.allocUnsafe(size);
  let at = out.writeInt32BE(size - 4, 0);
  at = out.writeInt32BE(correlationId, at);
  if (flexible) at = out.writeUInt8(0, at);
  at = flexible ? out.writeUInt8(2, at) : out.writeInt32BE(1, at);
  at = flexible ? out.writeUInt8(name.length + 1, at) : out.writeInt16BE(name.length, at);
  at += out.write(name, at, 'latin1');
  at = flexible ? out.writeUInt8(2, at) : out.writeInt32BE(1, at);
  at = out.writeInt32BE(p.index, at);
  at = out.writeInt16BE(p.errorCode, at);
  at = writeInt64(out, p.baseOffset as bigint, at);
  if (version >= 2) at = writeInt64(out, (p.logAppendTimeMs as bigint | undefined) ?? -1n, at);
  if (version >= 5) at = writeInt64(out, (p.logStartOffset as bigint | undefined) ?? -1n, at);
  if (version >= 8) {
    at = flexible ? out.writeUInt8(1, at) : out.writeInt32BE(0, at);
    at = flexible ? out.writeUInt8(0, at) : out.writeInt16BE(-1, at);
  }
  if (flexible) at = out.writeUInt16BE(0, at); // the partition's, then the topic's tagged fields
  if (version >= 1) at = out.writeInt32BE((shape.throttleTimeMs as number | undefined) ?? 0, at);
  if (flexible) at = out.writeUInt8(0, at);
  assert(at === size, 'the usual produce response fills the bytes counted for it');
  return out;
}
