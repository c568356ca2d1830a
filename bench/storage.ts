/**
 * Storage throughput: FileStorage appends under each fsync policy with many appends in flight, against
 * the raw disk limit (sequential writeSync of the same batch sizes, each followed by fdatasync).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type FileIo, realIo } from '../src/storage/file/io.js';
import { FileStorage } from '../src/storage/file/storage.js';
import type { FsyncPolicy } from '../src/storage/types.js';

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

async function appendCase(
  dir: string,
  policy: FsyncPolicy,
  payloadBytes: number,
  ms = caseMs,
): Promise<CaseResult> {
  const counter = { writes: 0, bytes: 0 };
  const storage = await FileStorage.open({ dir, fsync: policy, io: countingIo(counter) });
  const log = await storage.openLog('bench');
  const payload = new Uint8Array(payloadBytes).fill(7);
  const started = performance.now();
  const deadline = started + ms;
  let done = 0;
  let inFlight = 0;
  await new Promise<void>((resolve) => {
    const onDurable = (): void => {
      inFlight--;
      done++;
      if (performance.now() < deadline) issue();
      else if (inFlight === 0) resolve();
    };
    const issue = (): void => {
      while (inFlight < inFlightMax) {
        inFlight++;
        log.append({ payload, timestamp: Date.now() }).durable.then(onDurable, onDurable);
      }
    };
    issue();
  });
  const seconds = (performance.now() - started) / 1000;
  await storage.close();
  return { records: done, seconds, writes: counter.writes, bytesWritten: counter.bytes };
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

/** Rounds of the always-versus-raw comparison; fsync latency on shared disks drifts, so they alternate. */
const compareRounds = 3;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/** Alternates group-commit `always` with raw writes of its batch size; returns median rates (records/s). */
async function compareToRaw(
  root: string,
  payloadBytes: number,
): Promise<{ always: number; raw: number; ratio: number; batchBytes: number }> {
  const always: number[] = [];
  const raw: number[] = [];
  const ratios: number[] = [];
  let batchBytes = 0;
  for (let round = 0; round < compareRounds; round++) {
    const dir = fs.mkdtempSync(path.join(root, 'cmp-'));
    const r = await appendCase(dir, { kind: 'always' }, payloadBytes, caseMs / compareRounds);
    fs.rmSync(dir, { recursive: true, force: true });
    batchBytes = Math.max(1, Math.round(r.bytesWritten / Math.max(1, r.writes)));
    always.push(r.records / r.seconds);
    raw.push(rawCase(root, batchBytes, caseMs / compareRounds) / (payloadBytes + recordHeaderBytes));
    ratios.push(always.at(-1)! / raw.at(-1)!);
  }
  return { always: median(always), raw: median(raw), ratio: median(ratios), batchBytes };
}

function row(cells: Array<string | number>): string {
  return `| ${cells.join(' | ')} |`;
}

function fmt(n: number, digits = 0): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export async function runStorageBench(): Promise<void> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-bench-'));
  const lines = [
    row(['payload', 'policy', 'records/s', 'MB/s', 'records per write']),
    row(['---', '---', '---:', '---:', '---:']),
  ];
  const ratios: string[] = [];
  try {
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
      const cmp = await compareToRaw(root, payloadBytes);
      const mb = (rate: number) => fmt((rate * payloadBytes) / 1e6, 1);
      lines.push(
        row([`${payloadBytes} B`, 'always (alternating with raw)', fmt(cmp.always), mb(cmp.always), '']),
      );
      lines.push(
        row([
          `${payloadBytes} B`,
          `raw writeSync+fdatasync of ${fmt(cmp.batchBytes)} B`,
          fmt(cmp.raw),
          mb(cmp.raw),
          '',
        ]),
      );
      ratios.push(
        `${payloadBytes} B: group-commit always / raw = ${fmt(100 * cmp.ratio, 0)} % (median of ${compareRounds} alternating rounds)`,
      );
    }
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
  process.stdout.write(`Storage benchmark (${caseMs} ms per case, ${inFlightMax} appends in flight)\n\n`);
  process.stdout.write(`${lines.join('\n')}\n\n${ratios.join('\n')}\n`);
}
