/**
 * Rewriting one sealed segment (docs/storage-format.md, "Rewriting segments"): the records the caller
 * keeps are copied, in bounded chunks, into `<base>.cleaned` beside the segment, which is fsynced whole
 * before `FileLog` swaps it in with a rename. Until then nothing of the log has changed, so any failure
 * or abandonment only removes the file this wrote.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { LogEntry, RewriteChoice } from '../types.js';
import { type FileIo, writeAll } from './io.js';
import type { RecordSink } from './reader.js';
import { encodeRecord, type RecordFields } from './record.js';
import { encodeHeader, readChunkBytes, type Segment } from './segment.js';

/**
 * Record bytes read and written per step, so a rewrite holds, decodes and writes a bounded amount
 * between two turns of the event loop (docs/performance.md, "Kafka compaction": 256 KiB of small Kafka
 * records took tens of milliseconds of the caller's choices on a loaded machine).
 */
export const rewriteChunkBytes = 16 * 1024;
/** Suffix of a segment being rewritten; recovery removes any it finds. */
export const cleanedSuffix = '.cleaned';

export function cleanedFileName(segment: Segment): string {
  return `${path.basename(segment.file.path, '.log')}${cleanedSuffix}`;
}

/** What a rewrite of one segment produced, ready for the swap. */
export interface RewrittenSegment {
  /** The `.cleaned` file, written and fsynced. */
  readonly file: string;
  readonly bytesBefore: number;
  readonly bytesAfter: number;
  /** True when every record was kept as it was: there is nothing to swap in. */
  readonly unchanged: boolean;
}

function writeAt(io: FileIo, fd: number, bytes: Uint8Array, position: number): Promise<void> {
  return new Promise((resolve, reject) =>
    writeAll(io, fd, bytes, position, (err) => (err ? reject(err) : resolve())),
  );
}

function fdatasync(io: FileIo, fd: number): Promise<void> {
  return new Promise((resolve, reject) => io.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
}

/** The records of `segment` reaching `from`, up to about `rewriteChunkBytes`, payloads copied. */
function readChunk(segment: Segment, from: number): RecordFields[] {
  const out: RecordFields[] = [];
  let bytes = 0;
  const sink: RecordSink = {
    accepts: (payloadBytes) => out.length === 0 || bytes + payloadBytes <= rewriteChunkBytes,
    wantBytes: () => Math.max(readChunkBytes, rewriteChunkBytes - bytes),
    take: (record) => {
      if (out.length > 0 && bytes + record.payload.byteLength > rewriteChunkBytes) return false;
      out.push(record);
      bytes += record.payload.byteLength;
      return true;
    },
  };
  segment.visit(from, sink);
  return out;
}

/** The bytes `choose` makes of one chunk, and whether it changed anything. */
function encodeChunk(
  records: readonly RecordFields[],
  from: number,
  choose: (entry: LogEntry) => RewriteChoice,
): { bytes: Uint8Array; changed: boolean } {
  const parts: Uint8Array[] = [];
  let changed = false;
  for (const record of records) {
    const choice = record.offset + record.count <= from ? 'keep' : choose(record);
    if (choice === 'drop') {
      changed = true;
      continue;
    }
    if (choice !== 'keep') changed = true;
    parts.push(encodeRecord(choice === 'keep' ? record : { ...record, payload: choice }));
  }
  return { bytes: Buffer.concat(parts), changed };
}

/** How a rewrite decides and goes on. */
export interface RewriteSteps {
  readonly choose: (entry: LogEntry) => RewriteChoice;
  /** Asked between chunks: false abandons the rewrite (the log closed, or retention removed the segment). */
  readonly stillWanted: () => boolean;
  /** Awaited after each chunk: the caller's turn to let others run. */
  readonly pace: () => Promise<void>;
}

/**
 * Writes the rewritten `segment` to its `.cleaned` file in `dir` and fsyncs it, one chunk per `pace`.
 * Returns undefined when abandoned; the `.cleaned` file is then removed unless the log was deleted.
 */
export async function writeRewritten(
  segment: Segment,
  from: number,
  steps: RewriteSteps,
): Promise<RewrittenSegment | undefined> {
  const { choose, stillWanted, pace } = steps;
  const { ctx } = segment;
  const file = path.join(ctx.dir, cleanedFileName(segment));
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'wx');
  let done = false;
  try {
    const header = encodeHeader(segment.base, segment.endOffset);
    await writeAt(ctx.io, fd, header, 0);
    let position = header.byteLength;
    let next = segment.base;
    let changed = false;
    for (;;) {
      if (!stillWanted()) return undefined;
      const records = readChunk(segment, next);
      const last = records.at(-1);
      if (last === undefined) break;
      const chunk = encodeChunk(records, from, choose);
      changed ||= chunk.changed;
      if (chunk.bytes.byteLength > 0) await writeAt(ctx.io, fd, chunk.bytes, position);
      position += chunk.bytes.byteLength;
      next = last.offset + last.count;
      await pace();
    }
    await fdatasync(ctx.io, fd);
    if (!stillWanted()) return undefined;
    done = true;
    return { file, bytesBefore: segment.sizeBytes, bytesAfter: position, unchanged: !changed };
  } finally {
    fs.closeSync(fd);
    // A deleted log's folder is in the trash, removed whole; nothing may be touched under its old name.
    if (!done && !ctx.deleted) fs.rmSync(file, { force: true });
  }
}
