/**
 * Creation and deletion under the power-loss model (fsync semantics): what survives a power loss is
 * what an fsync or fdatasync that returned covered. A child creates many logs at once, appends to
 * each and reports each confirmed append; another half is then removed at once. Its system calls are
 * recorded with strace, and before each report the calls that make the change survive must have
 * returned: for a created log, its folder's entry in `logs/` (an fsync of `logs/` started after the
 * folder was made), its header (an fsync or fdatasync of `LOG`), the header's and the first segment's
 * entries (an fsync of the log's folder started after both files were made) and the segment's header
 * (a sync of the segment started after it was made); for a removed one, an fsync of `logs/` started
 * after its folder was moved out; and the incarnations' reservation written at the first creation
 * (`INCARNATION`: its bytes synced before its rename, the rename before the first report). The last
 * log is closed and reopened while its creation's syncs run: the same holds for its append. Skipped
 * where strace cannot trace. None of these syncs may run on the event loop's thread (before, each
 * creation made four there).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDirsOfFile } from '../../testing/storage-fixtures.js';

const logsCount = 60;
const childMsMax = 120_000;
const childScript = new URL('../../testing/create-syncs.js', import.meta.url).pathname;
const traced = 'mkdir,mkdirat,openat,rename,renameat,renameat2,fsync,fdatasync,write';
const segmentFile = '00000000000000000000.log';

/** One system call in the trace: where it started and returned (line numbers), its path and result. */
interface Call {
  readonly pid: string;
  readonly name: string;
  readonly args: string;
  readonly start: number;
  end: number;
  ok: boolean;
}

const freshDir = tempDirsOfFile();

/** strace is installed and may trace here (a container may forbid ptrace). */
function hasStrace(): boolean {
  return spawnSync('strace', ['-qq', '-e', 'trace=none', 'true'], { stdio: 'ignore' }).status === 0;
}

/** The calls in an `strace -f` file, a call cut by another thread's ("unfinished") joined whole. */
function parseTrace(text: string): Call[] {
  const calls: Call[] = [];
  const open = new Map<string, Call>();
  for (const [index, line] of text.split('\n').entries()) {
    const m = /^(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const [, pid, rest] = m as unknown as [string, string, string];
    const resumed = /^<\.\.\. \w+ resumed>.*= (-?\d+)/.exec(rest);
    if (resumed) {
      const call = open.get(pid);
      open.delete(pid);
      if (call) Object.assign(call, { end: index, ok: Number(resumed[1]) >= 0 });
      continue;
    }
    const started = /^(\w+)\((.*)$/.exec(rest);
    if (!started) continue;
    const [, name, args] = started as unknown as [string, string, string];
    const call: Call = { pid, name, args, start: index, end: index, ok: false };
    calls.push(call);
    if (args.endsWith('<unfinished ...>')) open.set(pid, call);
    else call.ok = Number(/= (-?\d+)/.exec(args)?.[1] ?? -1) >= 0;
  }
  return calls;
}

/** The first line of `calls` where a call named one of `names` on `file` started. */
function startOf(calls: Call[], names: string[], file: string): number {
  const call = calls.find((c) => names.includes(c.name) && c.args.includes(`"${file}"`));
  assert.ok(call, `a ${names.join('/')} of ${file}`);
  return call.start;
}

/** The line where `file` was created (an open with O_CREAT that succeeded). */
function createdAt(calls: Call[], file: string): number {
  const call = calls.find(
    (c) => c.name === 'openat' && c.ok && c.args.includes(`"${file}", O_`) && c.args.includes('O_CREAT'),
  );
  assert.ok(call, `${file} was created`);
  return call.start;
}

/** Whether an fsync (or fdatasync, with `data`) of `file` started after `from` and returned before `by`. */
function synced(calls: Call[], file: string, from: number, by: number, data = false): boolean {
  const names = data ? ['fsync', 'fdatasync'] : ['fsync'];
  return calls.some(
    (c) =>
      names.includes(c.name) &&
      c.args.replace(/^\d+/, '').startsWith(`<${file}>`) &&
      c.ok &&
      c.start > from &&
      c.end < by,
  );
}

/** Where the child wrote `line` to its standard output. */
function reported(calls: Call[], line: string): number {
  const call = calls.find((c) => c.name === 'write' && c.args.includes(`"${line}\\n"`));
  assert.ok(call, `the child reported ${line}`);
  return call.start;
}

test('every confirmed creation and resolved removal was covered by fsyncs that returned first', async (t) => {
  if (!hasStrace()) {
    t.skip('strace is not installed or may not trace');
    return;
  }
  const dir = fs.realpathSync(freshDir());
  const trace = path.join(dir, 'trace.txt');
  const data = path.join(dir, 'data');
  const run = spawnSync(
    'strace',
    [
      '-f',
      '-y',
      '-qq',
      '-e',
      `trace=${traced}`,
      '-o',
      trace,
      process.execPath,
      childScript,
      data,
      `${logsCount}`,
    ],
    { encoding: 'utf8', timeout: childMsMax },
  );
  assert.equal(run.status, 0, `the child ran: ${run.stderr}`);
  const calls = parseTrace(fs.readFileSync(trace, 'utf8'));
  const logs = path.join(data, 'logs');
  const missing: string[] = [];
  for (let i = 0; i < logsCount; i++) {
    const folder = path.join(logs, `made-${i}`);
    const segment = path.join(folder, segmentFile);
    const made = startOf(calls, ['mkdir', 'mkdirat'], folder);
    const segmentMade = startOf(calls, ['openat'], segment);
    const headerMade = createdAt(calls, path.join(folder, 'LOG'));
    const by = reported(calls, `confirmed made-${i}`);
    if (!synced(calls, logs, made, by)) missing.push(`made-${i}: logs/`);
    if (!synced(calls, path.join(folder, 'LOG'), made, by, true)) missing.push(`made-${i}: LOG`);
    if (!synced(calls, folder, Math.max(segmentMade, headerMade), by)) missing.push(`made-${i}: its folder`);
    if (!synced(calls, segment, segmentMade, by, true)) missing.push(`made-${i}: its segment`);
  }
  // The first creation in the folder reserved incarnations: the reservation is durable before any report.
  const firstReport = Math.min(
    ...Array.from({ length: logsCount }, (_, i) => reported(calls, `confirmed made-${i}`)),
  );
  const reservation = path.join(data, 'INCARNATION');
  const tempMade = startOf(calls, ['openat'], `${reservation}.tmp`);
  const renamed = startOf(calls, ['rename', 'renameat', 'renameat2'], `${reservation}.tmp`);
  if (!synced(calls, `${reservation}.tmp`, tempMade, renamed, true)) missing.push('INCARNATION: its bytes');
  if (!synced(calls, data, renamed, firstReport)) missing.push('INCARNATION: its rename');
  for (let i = 0; i < logsCount / 2; i++) {
    const moved = startOf(calls, ['rename', 'renameat', 'renameat2'], path.join(logs, `made-${i}`));
    if (!synced(calls, logs, moved, reported(calls, `removed made-${i}`))) missing.push(`made-${i}: removal`);
  }
  assert.deepEqual(missing, [], 'no change reported before the syncs that make it survive returned');
  // The process's first thread runs the event loop (opening the storage syncs FORMAT and its folder there).
  const loop = calls[0]?.pid;
  const ofLogs = ['logs', 'trash', 'INCARNATION'].map((name) => `<${path.join(data, name)}`);
  const onLoop = calls.filter(
    (c) =>
      c.pid === loop &&
      ['fsync', 'fdatasync'].includes(c.name) &&
      ofLogs.some((prefix) => c.args.replace(/^\d+/, '').startsWith(prefix)),
  );
  assert.deepEqual(
    onLoop.map((c) => c.args),
    [],
    'no sync of a creation or removal on the event loop',
  );
});
