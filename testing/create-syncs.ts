/**
 * Child process for test/storage/create-syncs.test.ts, run under strace: creates `count` logs at once
 * in `<dir>` (fsync `always`), appends one entry to each and prints `confirmed <name>` once its
 * `durable` resolved; then removes the first half at once and prints `removed <name>` as each removal
 * resolves; the last log is closed as soon as it is handed out and reopened before its append, so its
 * creation's syncs are still running when the reopened handle takes it. Usage: node create-syncs.js
 * <dir> <count>
 */
import fs from 'node:fs';
import { FileStorage } from '../src/storage/file/storage.js';
import { payloadFor } from './storage-fixtures.js';

function say(line: string): void {
  // Synchronous on a pipe or file: the write(2) comes after everything the line reports.
  fs.writeSync(1, `${line}\n`);
}

async function main(): Promise<void> {
  const [dir, countText] = process.argv.slice(2);
  if (dir === undefined) throw new Error('usage: create-syncs.js <dir> <count>');
  const names = Array.from({ length: Number(countText ?? 100) }, (_, i) => `made-${i}`);
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, softwareVersion: 'test' });
  await Promise.all(
    names.map(async (name, i) => {
      let log = await storage.openLog(name);
      if (i === names.length - 1) {
        await log.close();
        log = await storage.openLog(name);
      }
      await log.append({ payload: payloadFor(i), timestamp: i }).durable;
      say(`confirmed ${name}`);
      await log.close();
    }),
  );
  await Promise.all(
    names.slice(0, names.length / 2).map(async (name) => {
      await storage.removeLog(name);
      say(`removed ${name}`);
    }),
  );
  await storage.close();
}

await main();
