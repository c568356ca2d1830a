/**
 * Child process for the delete crash tests in test/storage/crash.test.ts. Prints one line per step so
 * the parent knows what happened before its SIGKILL. Usage: node crash-deleter.js <dir> once|churn
 *
 * - `once`: fills log `doomed` over several segments, prints `incarnation <n>`, calls `delete()` and
 *   prints `deleted <n>` before the removal can run, then blocks the event loop until killed.
 * - `churn`: rounds of appends (acknowledged ones printed as `ack <incarnation> <count>`), a few more
 *   left in flight, `delete()` (printed as `deleted <incarnation>`) and an immediate re-open of `churn`.
 */
import { FileStorage } from '../src/storage/file/storage.js';
import type { Log } from '../src/storage/types.js';
import { crashLimits, crashPayload } from './storage-crash.js';
import { taggedPayload } from './storage-fixtures.js';

/** The child ends itself after this, should the parent never kill it. */
const lifetimeMsMax = 20_000;
const doomedEntries = 200;

function say(line: string): void {
  // Synchronous on a pipe: the line is out before the next statement runs.
  process.stdout.write(`${line}\n`);
}

async function once(log: Log): Promise<void> {
  let last: Promise<void> | undefined;
  for (let i = 0; i < doomedEntries; i++)
    last = log.append({ payload: crashPayload(i), timestamp: i }).durable;
  await last;
  say(`incarnation ${log.incarnation}`);
  void log.delete();
  say(`deleted ${log.incarnation}`);
  // Blocks the event loop, so the removal that follows the move never runs before the kill.
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, lifetimeMsMax);
}

async function churn(storage: FileStorage, first: Log): Promise<void> {
  let log = first;
  for (let round = 0; ; round++) {
    const incarnation = log.incarnation;
    const count = 1 + (round % 5);
    const appended = Array.from({ length: count }, (_, i) =>
      log.append({ payload: taggedPayload(incarnation, i), timestamp: i }),
    );
    await Promise.all(appended.map((r) => r.durable));
    say(`ack ${incarnation} ${count}`);
    for (let i = count; i < count + 3; i++)
      log.append({ payload: taggedPayload(incarnation, i), timestamp: i });
    void log.delete();
    say(`deleted ${incarnation}`);
    log = await storage.openLog('churn');
  }
}

async function main(): Promise<void> {
  const [dir, mode] = process.argv.slice(2);
  if (!dir || (mode !== 'once' && mode !== 'churn')) throw new Error('usage: crash-deleter <dir> once|churn');
  setTimeout(() => process.exit(0), lifetimeMsMax).unref();
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, limits: crashLimits });
  if (mode === 'once') await once(await storage.openLog('doomed'));
  else await churn(storage, await storage.openLog('churn'));
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
