/**
 * Child process for test/storage/crash.test.ts: appends to `<dir>` under fsync `always` until killed,
 * printing `ack <offset> <count> <crc32>` once each append's `durable` resolves. Payloads are derived
 * from the offset, so the parent can check any entry it finds, acknowledged or not.
 * Usage: node crash-appender.js <dir> <seed>
 */
import { crc32 } from 'node:zlib';
import { FileStorage } from '../src/storage/file/storage.js';
import { crashLimits, crashPayload } from './storage-crash.js';

/** Appends kept in flight, so group commit batches several per fsync. */
const inFlightMax = 64;
/** The child ends itself after this, should the parent never kill it. */
const lifetimeMsMax = 20_000;

async function main(): Promise<void> {
  const [dir, seedText] = process.argv.slice(2);
  if (!dir) throw new Error('usage: crash-appender <dir> <seed>');
  let seed = Number(seedText ?? 1) >>> 0 || 1;
  const storage = await FileStorage.open({
    dir,
    fsync: { kind: 'always' },
    limits: crashLimits,
  });
  const log = await storage.openLog('crash');
  setTimeout(() => process.exit(0), lifetimeMsMax).unref();
  process.stdout.write(`ready ${log.endOffset}\n`);
  let inFlight = 0;
  const pump = (): void => {
    while (inFlight < inFlightMax) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      const count = seed % 7 === 0 ? 3 : 1;
      const offset = log.endOffset;
      const payload = crashPayload(offset);
      const { durable } = log.append({ payload, count, timestamp: Date.now() });
      inFlight++;
      durable.then(
        () => {
          inFlight--;
          process.stdout.write(`ack ${offset} ${count} ${crc32(payload)}\n`);
          pump();
        },
        (err: unknown) => {
          process.stderr.write(`append failed: ${String(err)}\n`);
          process.exit(2);
        },
      );
    }
  };
  pump();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
