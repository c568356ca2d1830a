/**
 * Sealed segments read and rewritten as files, away from the thread that holds their log (a worker:
 * docs/storage-format.md, "Rewriting segments"). A sealed segment's file never changes while it is the
 * log's, so another thread may read it with a descriptor of its own; what it writes goes only to the
 * `.cleaned` file beside it, which `FileLog.adoptRewritten` swaps in on the log's thread. Synchronous
 * calls throughout: the thread that runs these does nothing else meanwhile.
 */
import fs from 'node:fs';
import path from 'node:path';
import { recordHeaderBytes } from '../common.js';
import type { LogEntry, RewriteChoice, RewrittenSegmentFile, SealedSegment } from '../types.js';
import { emptyIndex } from './index-file.js';
import { corruptError } from './io.js';
import { encodeRecord, readRecordAt } from './record.js';
import { cleanedSuffix } from './rewrite.js';
import { freshState, noteRecord, scanChunkBytes } from './scan.js';
import { encodeHeader, rewrittenHeaderBytes } from './segment.js';
import { type IoThrottle, unthrottled } from './throttle.js';

/** The `.cleaned` file a rewrite of the segment in `file` writes beside it. */
export function cleanedPathOf(file: string): string {
  return path.join(path.dirname(file), `${path.basename(file, '.log')}${cleanedSuffix}`);
}

/**
 * Hands `visit` every record of the segment in order, CRC-checked; payloads are views of a chunk read
 * for the call. Throws storage_corrupt on a bad record, and the file system's error (ENOENT once
 * retention or a deletion removed the file) as it comes. Each read is paced by `throttle`.
 */
export function readSealedSegment(
  sealed: SealedSegment,
  visit: (entry: LogEntry) => void,
  throttle: IoThrottle = unthrottled,
): void {
  const fd = fs.openSync(sealed.file, 'r');
  try {
    let position = sealed.headerBytes;
    let want = scanChunkBytes;
    while (position < sealed.sizeBytes) {
      const bytes = Math.min(want, sealed.sizeBytes - position);
      const buf = Buffer.allocUnsafe(bytes);
      const got = fs.readSync(fd, buf, 0, bytes, position);
      throttle.spend(got);
      if (got < bytes) throw corruptError(`Segment ${sealed.base} is shorter than ${sealed.sizeBytes} bytes`);
      const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      let at = 0;
      while (at < buf.byteLength) {
        const found = readRecordAt(buf, view, at, sealed.entryBytesMax);
        if (typeof found === 'string')
          throw corruptError(`Segment ${sealed.base} at byte ${position + at}: ${found}`);
        if (typeof found === 'number') {
          if (position + at + found > sealed.sizeBytes)
            throw corruptError(`Segment ${sealed.base} at byte ${position + at}: record cut short`);
          // A record larger than a chunk gets a read of its own size.
          if (at === 0) want = found;
          break;
        }
        visit(found);
        at += recordHeaderBytes + found.payload.byteLength;
      }
      if (at > 0) want = scanChunkBytes;
      position += at;
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Bytes of records gathered before each write of a rewrite. */
const writeChunkBytes = 1024 * 1024;

/**
 * Writes the records of `sealed` that `choose` keeps (whole or replaced) to its `.cleaned` file, builds
 * that file's index meanwhile, and fdatasyncs it unless `durable` is false (`Log.adoptRewritten` then
 * does, beside a producer's fdatasync). Records ending at or below `from` are kept unasked.
 * Returns undefined when every record stayed as it was (nothing to swap in; the file is removed). Its
 * reads and writes together keep to `throttle`'s rate.
 */
export function rewriteSealedSegment(
  sealed: SealedSegment,
  from: number,
  choose: (entry: LogEntry) => RewriteChoice,
  throttle: IoThrottle = unthrottled,
  durable = true,
): RewrittenSegmentFile | undefined {
  const file = cleanedPathOf(sealed.file);
  fs.rmSync(file, { force: true });
  const fd = fs.openSync(file, 'wx');
  let changed = false;
  let done = false;
  try {
    const header = encodeHeader(sealed.base, sealed.end);
    fs.writeSync(fd, header, 0, header.byteLength, 0);
    const state = freshState(sealed.base, rewrittenHeaderBytes, emptyIndex());
    let parts: Uint8Array[] = [];
    let partBytes = 0;
    let written = rewrittenHeaderBytes;
    const flush = () => {
      const joined = Buffer.concat(parts);
      fs.writeSync(fd, joined, 0, joined.byteLength, written);
      throttle.spend(joined.byteLength);
      written += joined.byteLength;
      parts = [];
      partBytes = 0;
    };
    readSealedSegment(
      sealed,
      (entry) => {
        const choice = entry.offset + entry.count <= from ? 'keep' : choose(entry);
        if (choice !== 'keep') changed = true;
        if (choice === 'drop') return;
        const bytes = encodeRecord(choice === 'keep' ? entry : { ...entry, payload: choice });
        noteRecord(
          state,
          entry.offset,
          entry.count,
          entry.maxTimestamp,
          bytes.byteLength,
          sealed.indexIntervalBytes,
        );
        parts.push(bytes);
        partBytes += bytes.byteLength;
        if (partBytes >= writeChunkBytes) flush();
      },
      throttle,
    );
    if (!changed) return undefined;
    flush();
    if (durable) fs.fdatasyncSync(fd);
    done = true;
    const { position, maxTimestamp, recordCount, index } = state;
    return { file, sizeBytes: position, maxTimestamp, records: recordCount, index };
  } finally {
    fs.closeSync(fd);
    if (!done) fs.rmSync(file, { force: true });
  }
}
