/**
 * What a data folder says about itself (docs/storage-format.md, "Format versions and upgrades"):
 * `FORMAT` names the storage format and the Switchyard that created the folder, and `INCARNATION` how
 * far the incarnation clock has reserved, so incarnations keep increasing across restarts even when the
 * wall clock is set back.
 */
import fs from 'node:fs';
import path from 'node:path';
import { BrokerError, ErrorCode } from '../../shared/errors.js';
import { nextIncarnation } from '../common.js';
import { corruptError, replaceFile, replaceFileOffLoop } from './io.js';

/**
 * The storage format this Switchyard reads and writes; 1 was Switchyard 0.1 (no `FORMAT` file), 2 had
 * no rewritten (compacted) segments, 3 no records whose payload carries its own CRC-32C (record version 2).
 */
export const storageFormat = 4;
/** Older formats this one reads as they are: opening such a folder restamps it (see `checkFormat`). */
const upgradedFormats: readonly number[] = [2, 3];
const formatFileName = 'FORMAT';
const incarnationFileName = 'INCARNATION';
/** The clock reserves this far ahead, so `INCARNATION` is rewritten about once per minute of creations. */
export const incarnationReserveUs = 60_000_000;
/** Folders whose presence without `FORMAT` marks a folder written by Switchyard 0.1. */
const formatOneFolders = ['logs', 'meta'];

function refusedError(dir: string, found: number, writtenBy: string, softwareVersion: string): BrokerError {
  return new BrokerError(
    ErrorCode.invalidState,
    `Data folder ${dir} holds storage format ${found} (Switchyard ${writtenBy}); this Switchyard ` +
      `${softwareVersion} reads format ${storageFormat} only (and upgrades ${upgradedFormats.join(', ')}): start with an empty --data-dir or move the folder aside`,
  );
}

/** Reads a JSON file of ours; storage_corrupt when it is not an object. */
function readJson(file: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== undefined) throw err;
  }
  throw corruptError(`${file} is not the JSON object storage wrote`);
}

function jsonBytes(value: object): Buffer {
  return Buffer.from(`${JSON.stringify(value)}\n`, 'utf8');
}

function writeJson(file: string, value: object): void {
  replaceFile(file, jsonBytes(value));
}

/**
 * Accepts a folder of this format, or an empty one (stamping it); restamps one of an upgraded format,
 * whose files this one reads unchanged, so an older Switchyard that could not read what this one adds
 * (rewritten segments, self-checked records) refuses the folder instead of misreading it; refuses one written by 0.1 or by a
 * newer format with one line naming both versions.
 */
export function checkFormat(dir: string, softwareVersion: string): void {
  const file = path.join(dir, formatFileName);
  if (!fs.existsSync(file)) {
    if (formatOneFolders.some((name) => fs.existsSync(path.join(dir, name)))) {
      throw refusedError(dir, 1, '0.1', softwareVersion);
    }
    writeJson(file, { storageFormat, writtenBy: softwareVersion });
    return;
  }
  const { storageFormat: found, writtenBy } = readJson(file);
  if (!Number.isSafeInteger(found)) throw corruptError(`${file} names no storage format`);
  if (upgradedFormats.includes(found as number)) {
    writeJson(file, { storageFormat, writtenBy, upgradedBy: softwareVersion });
    return;
  }
  if (found !== storageFormat) {
    throw refusedError(
      dir,
      found as number,
      typeof writtenBy === 'string' ? writtenBy : 'unknown',
      softwareVersion,
    );
  }
}

/** An incarnation, and when the reservation covering it is durable (see `IncarnationClock.next`). */
export interface Issued {
  readonly incarnation: number;
  readonly reserved: Promise<void>;
}

/** Issues incarnations (see `Log.incarnation`), never one at or below any issued before in this folder. */
export class IncarnationClock {
  private readonly file: string;
  private last: number;
  private reservedTo: number;
  /** The reservation last written (or being written); a failed one is retried by the next issue. */
  private written: Promise<void> = Promise.resolve();
  /** Makes a rename in the data folder durable (the folder's shared fsync). */
  private readonly folderSynced: () => Promise<void>;

  constructor(dir: string, folderSynced: () => Promise<void>) {
    this.folderSynced = folderSynced;
    this.file = path.join(dir, incarnationFileName);
    this.reservedTo = 0;
    if (fs.existsSync(this.file)) {
      const { reservedTo } = readJson(this.file);
      if (!Number.isSafeInteger(reservedTo)) throw corruptError(`${this.file} holds no reservedTo`);
      this.reservedTo = reservedTo as number;
    }
    // Everything issued before this start is at or below the reservation.
    this.last = this.reservedTo;
  }

  /**
   * `incarnation` was found in a log header: issue only above it from now on. A log is handed out (and
   * its header may reach the disk) before the reservation covering its number is durable, so a crash
   * can leave a header above `INCARNATION`'s `reservedTo`.
   */
  observe(incarnation: number): void {
    if (incarnation > this.last) this.last = incarnation;
  }

  /**
   * The next incarnation. Past the reservation, a new one is written off the event loop; the log that
   * takes the number must not be handed out before `reserved` resolves, or a restart after a power loss
   * could issue it again.
   */
  next(): Issued {
    const next = nextIncarnation(this.last, Date.now());
    if (next > this.reservedTo) {
      const reservedTo = next + incarnationReserveUs;
      const before = this.reservedTo;
      this.reservedTo = reservedTo;
      const bytes = jsonBytes({ storageFormat, reservedTo });
      // One write at a time: they share the temporary file.
      this.written = this.written
        .catch(() => undefined)
        .then(() => replaceFileOffLoop(this.file, bytes, this.folderSynced))
        .catch((err: unknown) => {
          // Not durable: the next issue writes a reservation again.
          if (this.reservedTo === reservedTo) this.reservedTo = before;
          throw err;
        });
      // Whoever waits for it sees a failure; a creation that gave up before waiting must not leave it
      // unhandled, which would end the process.
      this.written.catch(() => undefined);
    }
    this.last = next;
    return { incarnation: next, reserved: this.written };
  }
}
