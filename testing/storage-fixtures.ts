/**
 * Helpers for storage tests: temporary data directories and small payloads that name their offset.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { crc32c } from '../src/shared/crc32c.js';
import { payloadCrc32cAt, payloadCrc32cFromByte } from '../src/storage/common.js';
import { Appender, type AppenderOptions } from '../src/storage/file/appender.js';
import { heldFile } from '../src/storage/file/handles.js';
import type { FileIo } from '../src/storage/file/io.js';
import { FileStorage } from '../src/storage/file/storage.js';

export function tempDir(prefix = 'switchyard-storage-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A maker of temporary folders for one test file; every folder it made is removed after the file's tests. */
export function tempDirsOfFile(): () => string {
  const dirs: string[] = [];
  after(() => dirs.forEach(removeDir));
  return () => {
    const dir = tempDir();
    dirs.push(dir);
    return dir;
  };
}

/** File storage in `dir` under fsync `always`. */
export function openAlways(dir: string): Promise<FileStorage> {
  return FileStorage.open({ dir, fsync: { kind: 'always' }, softwareVersion: '0.2.0' });
}

/** A payload of `bytes` bytes whose content depends on `seed`, so a mixed-up read is noticed. */
export function payloadFor(seed: number, bytes = 100): Uint8Array {
  const out = new Uint8Array(bytes);
  let x = (seed * 2654435761 + 1) >>> 0;
  for (let i = 0; i < bytes; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    out[i] = x >>> 24;
  }
  return out;
}

/**
 * `payloadFor`, carrying its own CRC-32C where a Kafka record batch v2 does (`AppendInput.payloadCrc32c`):
 * big-endian at bytes [17, 21), over bytes [21, end).
 */
export function selfCheckedPayloadFor(seed: number, bytes = 100): Uint8Array {
  const out = payloadFor(seed, bytes);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  view.setUint32(payloadCrc32cAt, crc32c(out, payloadCrc32cFromByte));
  return out;
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

/** A payload that names the log incarnation it was appended to (and its place), 100 bytes long. */
export function taggedPayload(incarnation: number, index: number): Uint8Array {
  const out = payloadFor(index);
  new DataView(out.buffer).setFloat64(0, incarnation);
  return out;
}

export function incarnationOf(payload: Uint8Array): number {
  return new DataView(payload.buffer, payload.byteOffset, payload.byteLength).getFloat64(0);
}

/** Counts unhandled rejections from now until `stop()` (which also removes the listener). */
export function countUnhandledRejections(): { count(): number; stop(): void } {
  let count = 0;
  const listener = () => {
    count++;
  };
  process.on('unhandledRejection', listener);
  return { count: () => count, stop: () => process.off('unhandledRejection', listener) };
}

/** A disk call the test completes: `null` for success, an error for a failed call. */
export type HeldCall = (err: Error | null) => void;

/**
 * A fake disk for appender tests. fdatasyncs complete only when the test calls what `syncs` holds,
 * and so do writes unless `writesAtOnce`, so pipelining and the order batches settle in are observable.
 * Each fdatasync is also named in `events`, when given, among the test's own events.
 */
export function heldDisk(options: { writesAtOnce?: boolean; events?: string[] } = {}): {
  io: FileIo;
  writes: HeldCall[];
  syncs: HeldCall[];
} {
  const writes: HeldCall[] = [];
  const syncs: HeldCall[] = [];
  const io: FileIo = {
    write: (_fd, data, _position, done) => {
      const complete: HeldCall = (err) => done(err, err ? 0 : data.byteLength);
      if (options.writesAtOnce === true) complete(null);
      else writes.push(complete);
    },
    fdatasync: (_fd, done) => {
      options.events?.push('fdatasync');
      syncs.push(done);
    },
  };
  return { io, writes, syncs };
}

/** An appender that fdatasyncs every batch (`always`) onto `io`, at position 0 of no real file. */
export function syncingAppender(
  io: FileIo,
  options: Pick<AppenderOptions, 'lazyDelayMs' | 'moments'> = {},
): Appender {
  const ignore = () => {};
  return new Appender({
    file: heldFile(0),
    position: 0,
    policy: { kind: 'always' },
    io,
    what: 'test file',
    onWritten: ignore,
    onFailed: ignore,
    ...options,
  });
}

/** One turn of the event loop: what a completed disk call set going has run. */
export const turn = (): Promise<void> => new Promise<void>((resolve) => setImmediate(resolve));
