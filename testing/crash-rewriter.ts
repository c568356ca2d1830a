/**
 * Child process for test/storage/crash.test.ts: appends keyed entries (key = offset mod `crashKeys`,
 * payload `crashPayload(offset)`) under fsync `always` and, between rounds of appends, rewrites the
 * sealed segments keeping only the latest entry of each key, until killed. Prints `ack <offset>` per
 * durable append and `rewrote <from> <next>` per rewritten share. Writes to a segment being rewritten
 * are slowed (`slowWriteMs`), so a kill often lands inside a rewrite.
 * Usage: node crash-rewriter.js <dir>
 */
import fs from 'node:fs';
import { type FileIo, realIo } from '../src/storage/file/io.js';
import { FileStorage } from '../src/storage/file/storage.js';
import type { Log } from '../src/storage/types.js';
import { crashKeyOf, crashLimits, crashPayload } from './storage-crash.js';

const appendsPerRound = 120;
const slowWriteMs = 40;
/** The child ends itself after this, should the parent never kill it. */
const lifetimeMsMax = 20_000;

const slowRewrites: FileIo = {
  write(fd, data, position, done) {
    let cleaned = false;
    try {
      cleaned = fs.readlinkSync(`/proc/self/fd/${fd}`).endsWith('.cleaned');
    } catch {}
    if (!cleaned) return realIo.write(fd, data, position, done);
    setTimeout(() => realIo.write(fd, data, position, done), slowWriteMs);
  },
  fdatasync: realIo.fdatasync,
};

async function appendRound(log: Log): Promise<void> {
  const durable: Promise<void>[] = [];
  for (let i = 0; i < appendsPerRound; i++) {
    const offset = log.endOffset;
    const result = log.append({ payload: crashPayload(offset), timestamp: Date.now() });
    durable.push(result.durable.then(() => void process.stdout.write(`ack ${offset}\n`)));
  }
  await Promise.all(durable);
}

/** Only sealed entries are known durable: the latest of a key is taken among those. */
async function rewriteRound(log: Log): Promise<void> {
  const sealed = log.sealedOffset;
  const latest = new Map<number, number>();
  for (let next = log.startOffset; next < sealed; ) {
    const entries = log.read(next, { maxEntries: 1000 });
    if (entries.length === 0) break;
    for (const entry of entries)
      if (entry.offset < sealed) latest.set(crashKeyOf(entry.offset), entry.offset);
    next = entries.at(-1)!.offset + entries.at(-1)!.count;
  }
  for (let next = log.startOffset; next < sealed; ) {
    const result = await log.rewrite(next, (entry) =>
      latest.get(crashKeyOf(entry.offset)) === entry.offset || entry.offset >= sealed ? 'keep' : 'drop',
    );
    process.stdout.write(`rewrote ${next} ${result.nextOffset}\n`);
    next = result.nextOffset;
  }
}

async function main(): Promise<void> {
  const [dir] = process.argv.slice(2);
  if (!dir) throw new Error('usage: crash-rewriter <dir>');
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'always' },
    limits: crashLimits,
    io: slowRewrites,
  });
  const log = await storage.openLog('crash');
  setTimeout(() => process.exit(0), lifetimeMsMax).unref();
  for (;;) {
    await appendRound(log);
    await rewriteRound(log);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
