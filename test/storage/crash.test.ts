/**
 * Kill -9 at random moments: a child appends under fsync `always` and reports each acknowledged entry;
 * after SIGKILL the parent reopens the same folder and checks that every acknowledged entry is there,
 * intact and in order, and that nothing corrupt is served. The next cycle appends on top.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { after, test } from 'node:test';
import { crc32 } from 'node:zlib';
import { FileStorage } from '../../src/storage/file/storage.js';
import { crashPayload } from '../../testing/storage-crash.js';
import { removeDir, sameBytes, tempDir } from '../../testing/storage-fixtures.js';

const cyclesMin = 20;
const cyclesMax = 40;
/** After `cyclesMin`, more cycles run until this much time has passed. */
const extraCyclesMsMax = 6_000;
const testMsMax = 25_000;
const childScript = new URL('../../testing/crash-appender.js', import.meta.url);

interface Ack {
  readonly offset: number;
  readonly count: number;
  readonly crc: number;
}

/** Runs the child until a random moment after its first acknowledgement, then SIGKILLs it. */
function runChild(dir: string, seed: number, killAfterMs: number): Promise<Ack[]> {
  return new Promise((resolve, reject) => {
    const child: ChildProcess = spawn(process.execPath, [childScript.pathname, dir, String(seed)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let armed = false;
    const guard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8');
      if (!armed && out.includes('\nack ')) {
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
      const acks = out
        .split('\n')
        .filter((line) => line.startsWith('ack '))
        .map((line) => {
          const [, offset, count, crc] = line.split(' ');
          return { offset: Number(offset), count: Number(count), crc: Number(crc) };
        });
      resolve(acks);
    });
  });
}

/** Reopens the folder and checks the whole log plus every acknowledgement; returns the end offset. */
async function verify(dir: string, acks: readonly Ack[]): Promise<number> {
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'always' },
    limits: { segmentBytesMax: 64 * 1024 },
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

test('every acknowledged append survives SIGKILL, cycle after cycle', { timeout: 60_000 }, async (t) => {
  const started = Date.now();
  let acked = 0;
  let previousEnd = 0;
  let cycles = 0;
  for (; cycles < cyclesMax && (cycles < cyclesMin || Date.now() - started < extraCyclesMsMax); cycles++) {
    if (Date.now() - started > testMsMax) break;
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
