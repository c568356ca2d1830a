/**
 * The header file of a log folder, `logs/<name>/LOG` (docs/storage-format.md, "Log header"): which
 * incarnation the folder holds and when it was created. It and the folder are made durable before
 * anything appended to the log is confirmed, so a folder whose header is missing or torn was
 * interrupted while being created and holds nothing that was acknowledged.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import { corruptError, createFile } from './io.js';

export const logHeaderFileName = 'LOG';
export const logHeaderBytes = 28;
const logHeaderMagic = 0x53575948; // "SWYH"
const logHeaderVersion = 1;
const crcAt = 24;

export interface LogHeader {
  readonly incarnation: number;
  readonly createdAtMs: number;
}

export function encodeLogHeader(header: LogHeader): Buffer {
  const out = Buffer.alloc(logHeaderBytes);
  out.writeUInt32BE(logHeaderMagic, 0);
  out.writeUInt16BE(logHeaderVersion, 4);
  out.writeUInt16BE(logHeaderBytes, 6);
  out.writeBigUInt64BE(BigInt(header.incarnation), 8);
  out.writeBigInt64BE(BigInt(header.createdAtMs), 16);
  out.writeUInt32BE(crc32(out.subarray(0, crcAt)), crcAt);
  return out;
}

/**
 * The header in `bytes`; undefined when it is torn or fails its checksum. A whole header of an unknown
 * version is not torn: it throws storage_corrupt rather than let the folder be taken for a leftover.
 */
export function decodeLogHeader(bytes: Buffer, file: string): LogHeader | undefined {
  if (bytes.byteLength !== logHeaderBytes || bytes.readUInt32BE(0) !== logHeaderMagic) return undefined;
  if (crc32(bytes.subarray(0, crcAt)) !== bytes.readUInt32BE(crcAt)) return undefined;
  const version = bytes.readUInt16BE(4);
  if (version !== logHeaderVersion || bytes.readUInt16BE(6) !== logHeaderBytes) {
    throw corruptError(
      `Log header ${file} has version ${version}; this Switchyard reads ${logHeaderVersion}`,
    );
  }
  const incarnation = Number(bytes.readBigUInt64BE(8));
  const createdAtMs = Number(bytes.readBigInt64BE(16));
  if (!Number.isSafeInteger(incarnation) || !Number.isSafeInteger(createdAtMs)) return undefined;
  return { incarnation, createdAtMs };
}

/** The header of the log folder `dir`; undefined when the folder or a valid header is missing. */
export function readLogHeader(dir: string): LogHeader | undefined {
  const file = path.join(dir, logHeaderFileName);
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return decodeLogHeader(bytes, file);
}

/**
 * Creates the header of the log folder `dir`, not yet durable: the caller fdatasyncs it and fsyncs `dir`
 * and its parent, off the event loop, before anything appended to the log is confirmed.
 */
export function writeLogHeader(dir: string, header: LogHeader): void {
  createFile(path.join(dir, logHeaderFileName), encodeLogHeader(header));
}
