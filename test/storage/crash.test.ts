/**
 * Kill -9 at random moments: a child appends under fsync `always` and reports each acknowledged entry;
 * after SIGKILL the parent reopens the same folder and checks that every acknowledged entry is there,
 * intact and in order, and that nothing corrupt is served. The next cycle appends on top.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Log } from '../../src/storage/types.js';
import { crashKeyOf, crashLimits, crashPayload } from '../../testing/storage-crash.js';
import {
  incarnationOf,
  removeDir,
  sameBytes,
  taggedPayload,
  tempDir,
} from '../../testing/storage-fixtures.js';

const cyclesMin = 12;
const cyclesMax = 30;
/** After `cyclesMin`, more cycles run until this much time has passed. */
const extraCyclesMsMax = 4_000;
const testMsMax = 25_000;
const childScript = new URL('../../testing/crash-appender.js', import.meta.url);

interface Ack {
  readonly offset: number;
  readonly count: number;
  readonly crc: number;
}

/**
 * Runs a child script until `trigger` first matches its output, then SIGKILLs it after `killAfterMs`.
 * Resolves with the lines it printed.
 */
function killChild(script: URL, args: string[], trigger: RegExp, killAfterMs: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [script.pathname, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let armed = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (!armed && trigger.test(out)) {
        armed = true;
        setTimeout(() => child.kill('SIGKILL'), killAfterMs);
      }
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString('utf8');
    });
    child.on('error', reject);
    child.on('close', (_code, signal) => {
      clearTimeout(guard);
      if (signal !== 'SIGKILL') return reject(new Error(`child ended by itself: ${signal} ${err}`));
      resolve(out.split('\n'));
    });
  });
}

/** Runs the appender until a random moment after its first acknowledgement, then SIGKILLs it. */
async function runChild(dir: string, seed: number, killAfterMs: number): Promise<Ack[]> {
  const lines = await killChild(childScript, [dir, String(seed)], /^ack /m, killAfterMs);
  return lines
    .filter((line) => line.startsWith('ack '))
    .map((line) => {
      const [, offset, count, crc] = line.split(' ');
      return { offset: Number(offset), count: Number(count), crc: Number(crc) };
    });
}

/** Reopens the folder and checks the whole log plus every acknowledgement; returns the end offset. */
async function verify(dir: string, acks: readonly Ack[]): Promise<number> {
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'always' },
    limits: crashLimits,
  });
  try {
    const log = await storage.openLog('crash');
    const found = new Map<number, number>();
    let next = log.startOffset;
    for (let rounds = 0; next < log.endOffset && rounds < 100_000; rounds++) {
      const entries = log.read(next, { maxEntries: 500 });
      assert.ok(entries.length > 0, `no entry at ${next} below end ${log.endOffset}`);
      for (const entry of entries) {
        assert.equal(entry.offset, next, 'entries are contiguous and in order');
        assert.ok(sameBytes(entry.payload, crashPayload(entry.offset)), `payload of ${entry.offset}`);
        found.set(entry.offset, crc32(entry.payload));
        next = entry.offset + entry.count;
      }
    }
    for (const ack of acks)
      assert.equal(found.get(ack.offset), ack.crc, `acknowledged offset ${ack.offset} is intact`);
    return log.endOffset;
  } finally {
    await storage.close();
  }
}

const dir = tempDir('switchyard-crash-');
after(() => removeDir(dir));

test('every acknowledged append survives SIGKILL, cycle after cycle', { timeout: 180_000 }, async (t) => {
  const started = Date.now();
  let acked = 0;
  let previousEnd = 0;
  let cycles = 0;
  for (; cycles < cyclesMax && (cycles < cyclesMin || Date.now() - started < extraCyclesMsMax); cycles++) {
    // The minimum always runs (bounded by count); only the extra cycles are bounded by time.
    if (cycles >= cyclesMin && Date.now() - started > testMsMax) break;
    const acks = await runChild(dir, cycles + 1, Math.floor(Math.random() * 120));
    acked += acks.length;
    const end = await verify(dir, acks);
    assert.ok(end >= previousEnd, 'the log never shrinks below what an earlier cycle verified');
    previousEnd = end;
  }
  t.diagnostic(`${cycles} kills, ${acked} acknowledged appends, log end ${previousEnd}`);
  assert.ok(cycles >= cyclesMin, `ran ${cycles} cycles`);
  assert.ok(acked > 0);
});

const deleterScript = new URL('../../testing/crash-deleter.js', import.meta.url);
const churnCycles = 8;

function openCrashed(dir: string): Promise<FileStorage> {
  return FileStorage.open({ dir, fsync: { kind: 'always' }, limits: crashLimits });
}

test('a kill between a delete moving the log to the trash and removing it leaves no log', async () => {
  const crashed = tempDir('switchyard-crash-');
  try {
    const lines = await killChild(deleterScript, [crashed, 'once'], /^deleted /m, 0);
    const incarnation = Number(lines.find((l) => l.startsWith('deleted '))!.split(' ')[1]);
    assert.deepEqual(
      fs.readdirSync(path.join(crashed, 'trash')),
      [`doomed.${incarnation}`],
      'killed in the window',
    );
    const storage = await openCrashed(crashed);
    try {
      assert.deepEqual(fs.readdirSync(path.join(crashed, 'trash')), [], 'the trash is emptied at open');
      assert.deepEqual(await storage.listLogs(), []);
      const log = await storage.openLog('doomed');
      assert.equal(log.endOffset, 0);
      assert.ok(log.incarnation > incarnation);
    } finally {
      await storage.close();
    }
  } finally {
    removeDir(crashed);
  }
});

/** After a kill of the churning child: the survivor under the name is whole and was never deleted. */
async function verifyChurn(dir: string, lines: string[]): Promise<void> {
  const acked = new Map<number, number>();
  const deleted = new Set<number>();
  for (const [word, incarnation, count] of lines.map((line) => line.split(' '))) {
    if (word === 'ack') acked.set(Number(incarnation), Number(count));
    if (word === 'deleted') deleted.add(Number(incarnation));
  }
  const storage = await openCrashed(dir);
  try {
    assert.deepEqual(fs.readdirSync(path.join(dir, 'trash')), []);
    if (!(await storage.listLogs()).includes('churn')) return;
    const log = await storage.openLog('churn');
    assert.ok(!deleted.has(log.incarnation), `incarnation ${log.incarnation} was deleted before the kill`);
    const entries = log.read(0);
    for (const entry of entries) assert.equal(incarnationOf(entry.payload), log.incarnation);
    for (let i = 0; i < (acked.get(log.incarnation) ?? 0); i++) {
      assert.ok(sameBytes(entries[i]!.payload, taggedPayload(log.incarnation, i)), `acknowledged entry ${i}`);
    }
  } finally {
    await storage.close();
  }
}

test('kills during delete and re-open churn never bring a deleted incarnation back', async (t) => {
  const crashed = tempDir('switchyard-crash-');
  let rounds = 0;
  try {
    for (let cycle = 0; cycle < churnCycles; cycle++) {
      const lines = await killChild(deleterScript, [crashed, 'churn'], /^ack /m, Math.random() * 150);
      rounds += lines.filter((line) => line.startsWith('deleted ')).length;
      await verifyChurn(crashed, lines);
    }
  } finally {
    removeDir(crashed);
  }
  t.diagnostic(`${churnCycles} kills, ${rounds} deletes before them`);
});

const rewriterScript = new URL('../../testing/crash-rewriter.js', import.meta.url);
const rewriteCycles = 7;

/** Reads the whole log checking every entry; returns the latest offset found of each key. */
function latestByKey(log: Log): Map<number, number> {
  const latest = new Map<number, number>();
  let previous = -1;
  for (let next = log.startOffset, rounds = 0; next < log.endOffset && rounds < 100_000; rounds++) {
    const entries = log.read(next, { maxEntries: 500 });
    if (entries.length === 0) break;
    for (const entry of entries) {
      assert.ok(entry.offset > previous, 'offsets increase');
      assert.ok(sameBytes(entry.payload, crashPayload(entry.offset)), `payload of ${entry.offset}`);
      latest.set(crashKeyOf(entry.offset), entry.offset);
      previous = entry.offset;
    }
    next = entries.at(-1)!.offset + entries.at(-1)!.count;
  }
  return latest;
}

/**
 * After a kill of the rewriting child: no `.cleaned` file is left, every entry read is intact and in
 * increasing order, and for every key the latest acknowledged entry (or a later one of the key) is
 * there. Returns whether the kill interrupted a rewrite (a `.cleaned` file was there before recovery).
 */
async function verifyRewritten(dir: string, latestAcked: Map<number, number>): Promise<boolean> {
  const folder = path.join(dir, 'logs', 'crash');
  const midRewrite = fs.readdirSync(folder).some((name) => name.endsWith('.cleaned'));
  const storage = await openCrashed(dir);
  try {
    const log = await storage.openLog('crash');
    const leftovers = fs.readdirSync(folder).filter((name) => name.endsWith('.cleaned'));
    assert.deepEqual(leftovers, [], 'recovery removes interrupted rewrites');
    const found = latestByKey(log);
    for (const [key, offset] of latestAcked) {
      assert.ok((found.get(key) ?? -1) >= offset, `key ${key}: acknowledged ${offset} or later is there`);
    }
  } finally {
    await storage.close();
  }
  return midRewrite;
}

test('kills during segment rewrites leave the old or the new segment, and every latest value', async (t) => {
  const crashed = tempDir('switchyard-crash-');
  const acked = new Map<number, number>();
  let rewrites = 0;
  let midRewrite = 0;
  try {
    for (let cycle = 0; cycle < rewriteCycles; cycle++) {
      const lines = await killChild(rewriterScript, [crashed], /^rewrote /m, Math.random() * 400);
      rewrites += lines.filter((line) => line.startsWith('rewrote ')).length;
      // Acknowledgements of earlier cycles count too: a rewrite must never lose them.
      for (const line of lines.filter((l) => l.startsWith('ack '))) {
        const offset = Number(line.split(' ')[1]);
        acked.set(crashKeyOf(offset), Math.max(offset, acked.get(crashKeyOf(offset)) ?? -1));
      }
      if (await verifyRewritten(crashed, acked)) midRewrite++;
    }
  } finally {
    removeDir(crashed);
  }
  t.diagnostic(`${rewriteCycles} kills (${midRewrite} inside a rewrite), ${rewrites} rewritten segments`);
});
