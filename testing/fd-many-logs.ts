/**
 * Many logs, few descriptors: opens N logs in one FileStorage, appends to and syncs every one, closes
 * half, reopens them and reads everything back, while sampling the process's open descriptors
 * (/proc/self/fd) and resident memory. Prints one JSON line; exits 1 when a check fails.
 *
 * Usage: node dist/testing/fd-many-logs.js [--logs 100000] [--open-files-max 1024] [--dir <folder>]
 *        [--fsync always|never]
 * Without --dir a temporary folder is used and removed. Run it under a low `ulimit -n` to see the
 * bound hold (test/storage/fd-limit.test.ts does, with 3,000 logs).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FileStorage } from '../src/storage/file/storage.js';
import type { Log } from '../src/storage/types.js';
import { sameBytes, taggedPayload } from './storage-fixtures.js';

/** Logs opened and appended to before their appends are awaited, so memory stays bounded. */
const logsPerStep = 1000;
const sampleIntervalMs = 5;

function option(name: string, fallback: string): string {
  const at = process.argv.indexOf(`--${name}`);
  return at >= 0 ? (process.argv[at + 1] ?? fallback) : fallback;
}

function fdLimit(): number | undefined {
  const line = fs
    .readFileSync('/proc/self/limits', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('Max open files'));
  const soft = line?.split(/\s{2,}/)[1];
  return soft === undefined ? undefined : Number(soft);
}

const peak = { fds: 0, rssBytes: 0 };
function sample(): void {
  peak.fds = Math.max(peak.fds, fs.readdirSync('/proc/self/fd').length);
  peak.rssBytes = Math.max(peak.rssBytes, process.memoryUsage.rss());
}

const nameOf = (i: number) => `log-${i}`;

async function openAndFill(storage: FileStorage, logs: Log[], count: number): Promise<void> {
  for (let from = 0; from < count; from += logsPerStep) {
    const durables: Promise<void>[] = [];
    for (let i = from; i < Math.min(count, from + logsPerStep); i++) {
      const log = await storage.openLog(nameOf(i));
      logs.push(log);
      durables.push(log.append({ payload: taggedPayload(i, i), timestamp: i }).durable);
    }
    await Promise.all(durables);
    sample();
  }
  await Promise.all(logs.map((log) => log.sync()));
}

async function closeAndReopen(storage: FileStorage, logs: Log[]): Promise<void> {
  const odd = logs.filter((_, i) => i % 2 === 1);
  await Promise.all(odd.map((log) => log.close()));
  sample();
  for (let i = 1; i < logs.length; i += 2) {
    logs[i] = await storage.openLog(nameOf(i));
    if (i % logsPerStep === 1) sample();
  }
}

function readBack(logs: Log[]): number {
  let bad = 0;
  for (const [i, log] of logs.entries()) {
    const [entry] = log.read(0);
    if (entry === undefined || !sameBytes(entry.payload, taggedPayload(i, i))) bad++;
    if (i % logsPerStep === 0) sample();
  }
  return bad;
}

async function main(): Promise<void> {
  const count = Number(option('logs', '100000'));
  const openFilesMax = Number(option('open-files-max', '1024'));
  const given = option('dir', '');
  const dir = given || fs.mkdtempSync(path.join(os.tmpdir(), 'switchyard-fds-'));
  const baselineFds = fs.readdirSync('/proc/self/fd').length;
  const sampler = setInterval(sample, sampleIntervalMs);
  const started = performance.now();
  const fsync =
    option('fsync', 'always') === 'never' ? ({ kind: 'never' } as const) : ({ kind: 'always' } as const);
  const storage = await FileStorage.open({ dir, fsync, limits: { openFilesMax } });
  const logs: Log[] = [];
  let badReads = -1;
  let cachePeak = 0;
  try {
    await openAndFill(storage, logs, count);
    cachePeak = storage.openFileCount;
    await closeAndReopen(storage, logs);
    badReads = readBack(logs);
    cachePeak = Math.max(cachePeak, storage.openFileCount);
  } finally {
    await storage.close();
    clearInterval(sampler);
    if (!given) fs.rmSync(dir, { recursive: true, force: true });
  }
  sample();
  const limit = fdLimit();
  const ok = badReads === 0 && cachePeak <= openFilesMax && (limit === undefined || peak.fds < limit);
  const ms = Math.round(performance.now() - started);
  const result = { logs: count, openFilesMax, fdLimit: limit, baselineFds, peakFds: peak.fds, cachePeak };
  process.stdout.write(`${JSON.stringify({ ...result, badReads, ms, rssPeakBytes: peak.rssBytes, ok })}\n`);
  process.exitCode = ok ? 0 : 1;
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
