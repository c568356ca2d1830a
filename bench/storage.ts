/**
 * Storage throughput: FileStorage appends under each fsync policy with many appends in flight, against
 * the raw disk limit (sequential writeSync of the same batch sizes, each followed by fdatasync); and
 * sequential reads of a large log with the page cache warm.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type FileIo, realIo } from '../src/storage/file/io.js';
import { FileStorage } from '../src/storage/file/storage.js';
import type { FsyncPolicy, Log, ReadOptions } from '../src/storage/types.js';
import { median } from './stats.js';

/** Time each case runs. */
const caseMs = 2500;
/** Appends kept in flight, as many producers would. */
const inFlightMax = 1000;
const payloadSizes = [256, 4096] as const;
const recordHeaderBytes = 38;
const policies: Array<{ label: string; policy: FsyncPolicy }> = [
  { label: 'always', policy: { kind: 'always' } },
  { label: 'interval 100 ms', policy: { kind: 'interval', intervalMs: 100 } },
  { label: 'never', policy: { kind: 'never' } },
];

interface CaseResult {
  readonly records: number;
  readonly seconds: number;
  readonly writes: number;
  readonly bytesWritten: number;
}

/** Counts writes so the raw run can use the batch size group commit produced. */
function countingIo(counter: { writes: number; bytes: number }): FileIo {
  return {
    write: (fd, data, position, done) => {
      counter.writes++;
      counter.bytes += data.byteLength;
      realIo.write(fd, data, position, done);
    },
    fdatasync: realIo.fdatasync,
  };
}

/**
 * Keeps `inFlightMax` appends in flight on `log` until `running()` is false, issuing a new one as each
 * becomes durable. Resolves with the number that became durable.
 */
function produce(log: Log, payload: Uint8Array, running: () => boolean): Promise<number> {
  let done = 0;
  let inFlight = 0;
  return new Promise<number>((resolve) => {
    const onDurable = (): void => {
      inFlight--;
      done++;
      if (running()) issue();
      else if (inFlight === 0) resolve(done);
    };
    const issue = (): void => {
      // One clock read per burst: the producer's own cost should not be what is measured.
      const timestamp = Date.now();
      while (inFlight < inFlightMax) {
        inFlight++;
        log.append({ payload, timestamp }).durable.then(onDurable, onDurable);
      }
    };
    issue();
  });
}

async function appendCase(
  dir: string,
  policy: FsyncPolicy,
  payloadBytes: number,
  ms = caseMs,
  logCount = 1,
): Promise<CaseResult> {
  const counter = { writes: 0, bytes: 0 };
  const storage = await FileStorage.open({ dir, fsync: policy, io: countingIo(counter) });
  const logs: Log[] = [];
  for (let i = 0; i < logCount; i++) logs.push(await storage.openLog(`bench-${i}`));
  const payload = new Uint8Array(payloadBytes).fill(7);
  let running = true;
  const timer = setTimeout(() => {
    running = false;
  }, ms);
  const started = performance.now();
  const counts = await Promise.all(logs.map((log) => produce(log, payload, () => running)));
  const seconds = (performance.now() - started) / 1000;
  clearTimeout(timer);
  await storage.close();
  const records = counts.reduce((a, b) => a + b, 0);
  return { records, seconds, writes: counter.writes, bytesWritten: counter.bytes };
}

/** Sequential writeSync + fdatasync of `batchBytes` for `caseMs`; returns bytes per second. */
function rawCase(dir: string, batchBytes: number, ms = caseMs): number {
  const file = path.join(dir, 'raw.bin');
  const fd = fs.openSync(file, 'w');
  const batch = Buffer.alloc(batchBytes, 7);
  let bytes = 0;
  const started = performance.now();
  try {
    while (performance.now() - started < ms) {
      fs.writeSync(fd, batch, 0, batchBytes, bytes);
      fs.fdatasyncSync(fd);
      bytes += batchBytes;
    }
  } finally {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
  }
  return bytes / ((performance.now() - started) / 1000);
}

/** Logs in the shared-disk row, each with `inFlightMax` appends in flight. */
const multiLogCount = 4;

/** Rounds of the always-versus-raw comparison; fsync latency on shared disks drifts, so they alternate. */
const compareRounds = 3;

interface Comparison {
  readonly always: number;
  /** Raw rate at the batch size group commit produced. */
  readonly raw: number;
  readonly ratio: number;
  readonly batchBytes: number;
  /** Raw rate with a whole in-flight window per write: the strongest baseline for this producer. */
  readonly rawWindow: number;
  readonly ratioWindow: number;
  readonly windowBytes: number;
}

/**
 * Alternates group-commit `always` with raw writes of its batch size and of a whole in-flight window;
 * returns median rates (records/s).
 */
async function compareToRaw(root: string, payloadBytes: number): Promise<Comparison> {
  const always: number[] = [];
  const raw: number[] = [];
  const rawWindow: number[] = [];
  let batchBytes = 0;
  const recordBytes = payloadBytes + recordHeaderBytes;
  const windowBytes = inFlightMax * recordBytes;
  const ms = caseMs / compareRounds;
  for (let round = 0; round < compareRounds; round++) {
    const dir = fs.mkdtempSync(path.join(root, 'cmp-'));
    const r = await appendCase(dir, { kind: 'always' }, payloadBytes, ms);
    fs.rmSync(dir, { recursive: true, force: true });
    batchBytes = Math.max(1, Math.round(r.bytesWritten / Math.max(1, r.writes)));
    always.push(r.records / r.seconds);
    raw.push(rawCase(root, batchBytes, ms) / recordBytes);
    rawWindow.push(rawCase(root, windowBytes, ms) / recordBytes);
  }
  return {
    always: median(always),
    raw: median(raw),
    ratio: median(always.map((a, i) => a / raw[i]!)),
    batchBytes,
    rawWindow: median(rawWindow),
    ratioWindow: median(always.map((a, i) => a / rawWindow[i]!)),
    windowBytes,
  };
}

/** `always` with several logs in one storage, each with its own producer, sharing the disk. */
async function multiLogRow(root: string, payloadBytes: number): Promise<string> {
  const dir = fs.mkdtempSync(path.join(root, 'multi-'));
  const r = await appendCase(dir, { kind: 'always' }, payloadBytes, caseMs, multiLogCount);
  fs.rmSync(dir, { recursive: true, force: true });
  const rate = r.records / r.seconds;
  const perWrite = r.records / Math.max(1, r.writes);
  const label = `always, ${multiLogCount} logs`;
  return row([`${payloadBytes} B`, label, fmt(rate), fmt((rate * payloadBytes) / 1e6, 1), fmt(perWrite, 1)]);
}

function row(cells: Array<string | number>): string {
  return `| ${cells.join(' | ')} |`;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Size of the log the read case fills, and what each read asks for. */
const readLogBytes = 256 * 1024 * 1024;
const readMaxBytes = 1024 * 1024;
const readPayloadSizes = [256, 16 * 1024] as const;
/** Entry-by-entry reads stop after this many entries, so the row takes seconds, not minutes. */
const entryByEntryMax = 500_000;

/** Appends `payloadBytes` entries until the log holds `readLogBytes`; no fsync (the data is scratch). */
async function fillLog(log: Log, payloadBytes: number): Promise<void> {
  const payload = new Uint8Array(payloadBytes).fill(7);
  const timestamp = Date.now();
  const perBurst = Math.max(1, Math.floor(readMaxBytes / payloadBytes));
  while (log.sizeBytes < readLogBytes) {
    let last: Promise<void> | undefined;
    for (let i = 0; i < perBurst; i++) last = log.append({ payload, timestamp }).durable;
    await last;
  }
}

/** Reads the whole log from its start with `options`, at most `entriesMax` entries. */
function readPass(log: Log, options: ReadOptions, entriesMax = Number.POSITIVE_INFINITY) {
  let records = 0;
  let bytes = 0;
  const started = performance.now();
  for (let next = log.startOffset; next < log.endOffset && records < entriesMax; ) {
    const entries = log.read(next, options);
    for (const entry of entries) bytes += entry.payload.byteLength;
    records += entries.length;
    const last = entries.at(-1);
    if (last === undefined) break;
    next = last.offset + last.count;
  }
  return { records, bytes, seconds: (performance.now() - started) / 1000 };
}

/** Rounds of each read row; the median is shown. */
const readRounds = 3;

async function readRows(root: string, payloadBytes: number): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(root, 'read-'));
  const storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
  const rows: string[] = [];
  try {
    const log = await storage.openLog('bench-read');
    await fillLog(log, payloadBytes);
    await log.sync();
    const cases: Array<[string, ReadOptions, number]> = [
      [`maxBytes ${fmt(readMaxBytes)}`, { maxBytes: readMaxBytes }, Number.POSITIVE_INFINITY],
      ['maxEntries 1', { maxEntries: 1 }, entryByEntryMax],
    ];
    readPass(log, { maxBytes: readMaxBytes }); // warms the page cache
    for (const [label, options, entriesMax] of cases) {
      const rates: Array<{ records: number; bytes: number }> = [];
      for (let round = 0; round < readRounds; round++) {
        const r = readPass(log, options, entriesMax);
        rates.push({ records: r.records / r.seconds, bytes: r.bytes / r.seconds });
      }
      const mid = median(rates.map((r) => r.records));
      const bytes = rates.find((r) => r.records === mid)!.bytes;
      rows.push(row([`${fmt(payloadBytes)} B`, label, fmt(mid), fmt(bytes / 1e6, 1)]));
    }
  } finally {
    await storage.close();
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

/** `npm run bench -- storage read`: only the read rows. */
async function runReadBench(root: string): Promise<void> {
  const lines = [row(['payload', 'read', 'records/s', 'MB/s']), row(['---', '---', '---:', '---:'])];
  for (const payloadBytes of readPayloadSizes) lines.push(...(await readRows(root, payloadBytes)));
  process.stdout.write(
    `Storage read benchmark (log of ${fmt(readLogBytes / 2 ** 20)} MiB read sequentially from its start, ` +
      `page cache warm, median of ${readRounds})\n\n${lines.join('\n')}\n\n`,
  );
}

export async function runStorageBench(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-'));
  if (process.argv[3] === 'read') {
    try {
      await runReadBench(root);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
    return;
  }
  const lines = [
    row(['payload', 'policy', 'records/s', 'MB/s', 'records per write']),
    row(['---', '---', '---:', '---:', '---:']),
  ];
  const ratios: string[] = [];
  try {
    await runReadBench(root);
    for (const payloadBytes of payloadSizes) {
      for (const { label, policy } of policies) {
        const dir = fs.mkdtempSync(path.join(root, 'case-'));
        const r = await appendCase(dir, policy, payloadBytes);
        const rate = r.records / r.seconds;
        const perWrite = r.records / Math.max(1, r.writes);
        lines.push(
          row([`${payloadBytes} B`, label, fmt(rate), fmt((rate * payloadBytes) / 1e6, 1), fmt(perWrite, 1)]),
        );
        fs.rmSync(dir, { recursive: true, force: true });
      }
      lines.push(await multiLogRow(root, payloadBytes));
      const cmp = await compareToRaw(root, payloadBytes);
      const mb = (rate: number) => fmt((rate * payloadBytes) / 1e6, 1);
      const p = `${payloadBytes} B`;
      lines.push(row([p, 'always (alternating with raw)', fmt(cmp.always), mb(cmp.always), '']));
      const rawLabel = (bytes: number) => `raw writeSync+fdatasync of ${fmt(bytes)} B`;
      lines.push(row([p, rawLabel(cmp.batchBytes), fmt(cmp.raw), mb(cmp.raw), '']));
      lines.push(row([p, rawLabel(cmp.windowBytes), fmt(cmp.rawWindow), mb(cmp.rawWindow), '']));
      const pct = (x: number) => `${fmt(100 * x, 0)} %`;
      ratios.push(
        `${p}: group-commit always / raw at its batch size = ${pct(cmp.ratio)}, ` +
          `/ raw at ${inFlightMax} records per write = ${pct(cmp.ratioWindow)} ` +
          `(medians of ${compareRounds} alternating rounds)`,
      );
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(
    `Storage benchmark (${caseMs} ms per case, ${inFlightMax} appends in flight per log)\n\n`,
  );
  process.stdout.write(`${lines.join('\n')}\n\n${ratios.join('\n')}\n`);
}
