/**
 * `FileMetaStore`: durable key/value state as a snapshot plus an append-only journal (formats in
 * docs/storage-format.md, "Meta store"). The whole state is held in memory; the files only make it
 * survive restarts.
 */
import fs from 'node:fs';
import path from 'node:path';
import { crc32 } from 'node:zlib';
import type { BrokerError } from '../../shared/errors.js';
import { JsonMetaStore, type MetaChange } from '../common.js';
import type { FsyncPolicy } from '../types.js';
import { Appender } from './appender.js';
import { heldFile } from './handles.js';
import { corruptError, type FileIo, fsyncDir, readFull, replaceFile } from './io.js';

/** The journal is folded into a new snapshot at the first idle moment after it grows past this. */
export const journalBytesMax = 4 * 1024 * 1024;
/** A single journal record (one key and its value as JSON) may not exceed this. */
export const metaRecordBytesMax = 16 * 1024 * 1024;
const snapshotMagic = 0x5357594d; // "SWYM"
const frameHeaderBytes = 8;
const snapshotVersion = 1;
const journalMagic = 0x5357594a; // "SWYJ"
const journalVersion = 1;
export const journalHeaderBytes = 8;

function journalHeader(): Buffer {
  const header = Buffer.alloc(journalHeaderBytes);
  header.writeUInt32BE(journalMagic, 0);
  header.writeUInt16BE(journalVersion, 4);
  header.writeUInt16BE(journalHeaderBytes, 6);
  return header;
}

/**
 * Makes sure the journal starts with its header. Shorter than a header means it was just created (or
 * cut while being created): it holds no record and gets a fresh header.
 */
function checkJournalHeader(fd: number, file: string): void {
  const head = readFull(fd, journalHeaderBytes, 0);
  if (head.byteLength < journalHeaderBytes) {
    fs.ftruncateSync(fd, 0);
    fs.writeSync(fd, journalHeader(), 0, journalHeaderBytes, 0);
    fs.fsyncSync(fd);
    return;
  }
  if (head.readUInt32BE(0) !== journalMagic) throw corruptError(`Meta journal ${file} has no header`);
  const version = head.readUInt16BE(4);
  if (version !== journalVersion || head.readUInt16BE(6) !== journalHeaderBytes) {
    throw corruptError(
      `Meta journal ${file} has version ${version}; this Switchyard reads ${journalVersion}`,
    );
  }
}

function frame(body: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(frameHeaderBytes + body.byteLength);
  out.writeUInt32BE(body.byteLength, 0);
  out.writeUInt32BE(crc32(body), 4);
  out.set(body, frameHeaderBytes);
  return out;
}

function loadSnapshot(file: string, values: Map<string, string>): void {
  if (!fs.existsSync(file)) return;
  const bytes = fs.readFileSync(file);
  const body = bytes.subarray(frameHeaderBytes);
  if (
    bytes.byteLength < frameHeaderBytes ||
    bytes.readUInt32BE(0) !== snapshotMagic ||
    crc32(body) !== bytes.readUInt32BE(4)
  ) {
    throw corruptError(`Meta snapshot ${file} fails its checksum`);
  }
  const parsed = JSON.parse(body.toString('utf8')) as { version: number; entries: Array<[string, string]> };
  if (parsed.version !== snapshotVersion)
    throw corruptError(`Meta snapshot ${file} has version ${parsed.version}`);
  for (const [key, text] of parsed.entries) values.set(key, text);
}

/** Replays the journal into `values`; returns the end of its valid prefix. */
function replayJournal(fd: number, values: Map<string, string>): number {
  const fileBytes = fs.fstatSync(fd).size;
  const bytes = readFull(fd, fileBytes, 0);
  let at = journalHeaderBytes;
  while (at + frameHeaderBytes <= bytes.byteLength) {
    const length = bytes.readUInt32BE(at);
    if (length > metaRecordBytesMax || at + frameHeaderBytes + length > bytes.byteLength) break;
    const body = bytes.subarray(at + frameHeaderBytes, at + frameHeaderBytes + length);
    if (crc32(body) !== bytes.readUInt32BE(at + 4)) break;
    let record: unknown;
    try {
      record = JSON.parse(body.toString('utf8'));
    } catch {
      break;
    }
    if (!Array.isArray(record) || typeof record[0] !== 'string') break;
    if (record.length === 2 && typeof record[1] === 'string') values.set(record[0], record[1]);
    else values.delete(record[0]);
    at += frameHeaderBytes + length;
  }
  return at;
}

export class FileMetaStore extends JsonMetaStore {
  private readonly dir: string;
  private readonly policy: FsyncPolicy;
  private readonly io: FileIo;
  private readonly fd: number;
  private appender!: Appender;
  private journalBytes = 0;

  private constructor(dir: string, policy: FsyncPolicy, io: FileIo) {
    super();
    this.dir = dir;
    this.policy = policy;
    this.io = io;
    fs.rmSync(path.join(dir, 'snapshot.tmp'), { force: true });
    loadSnapshot(path.join(dir, 'snapshot'), this.values);
    const journal = path.join(dir, 'journal');
    const created = !fs.existsSync(journal);
    this.fd = fs.openSync(journal, created ? 'w+' : 'r+');
    checkJournalHeader(this.fd, journal);
    if (created) fsyncDir(dir);
    const valid = replayJournal(this.fd, this.values);
    if (valid < fs.fstatSync(this.fd).size) {
      // A torn last record was never acknowledged; cut it so new records follow the valid prefix.
      fs.ftruncateSync(this.fd, valid);
      fs.fsyncSync(this.fd);
    }
    this.journalBytes = valid - journalHeaderBytes;
    this.appender = this.newAppender(valid);
  }

  static open(dir: string, policy: FsyncPolicy, io: FileIo): FileMetaStore {
    fs.mkdirSync(dir, { recursive: true });
    return new FileMetaStore(dir, policy, io);
  }

  async close(): Promise<void> {
    try {
      await this.appender.sync();
    } finally {
      fs.closeSync(this.fd);
    }
  }

  protected override persist(change: MetaChange): Promise<void> {
    if (this.appender.failure) return Promise.reject(this.appender.failure);
    const bytes = frame(Buffer.from(JSON.stringify(change), 'utf8'));
    this.journalBytes += bytes.byteLength;
    const durable = this.appender.enqueue(bytes);
    if (this.journalBytes > journalBytesMax) durable.then(() => this.compactIfIdle()).catch(() => {});
    return durable;
  }

  /** Folds the journal into a new snapshot; only when no journal write is queued or in flight. */
  private compactIfIdle(): void {
    if (this.journalBytes <= journalBytesMax || !this.appender.idle || this.appender.failure) return;
    try {
      this.writeSnapshot();
      fs.ftruncateSync(this.fd, journalHeaderBytes);
      fs.fsyncSync(this.fd);
      this.journalBytes = 0;
      this.appender = this.newAppender(journalHeaderBytes);
    } catch (err) {
      // The journal is still whole and valid; compaction is retried after a later put.
      void err;
    }
  }

  private writeSnapshot(): void {
    const entries = [...this.values.entries()];
    const body = Buffer.from(JSON.stringify({ version: snapshotVersion, entries }), 'utf8');
    const bytes = frame(body);
    bytes.writeUInt32BE(snapshotMagic, 0);
    replaceFile(path.join(this.dir, 'snapshot'), bytes);
  }

  private newAppender(position: number): Appender {
    return new Appender({
      file: heldFile(this.fd),
      position,
      policy: this.policy,
      io: this.io,
      what: 'meta journal',
      onWritten: () => {},
      onFailed: (err: BrokerError) => void err,
    });
  }
}
