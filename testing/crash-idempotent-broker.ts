/**
 * Child process for test/conformance/kafka/idempotence-crash.test.ts: a broker on file storage
 * (`fsync always`) with only the Kafka listener, whose disk can be told to stall the writes of one
 * log. Prints `ready <kafka port>`; a line `stall <path part>` on stdin makes every later write to a
 * file whose path holds that part (`/logs/producers.`: the producer registry's log) wait far longer
 * than the test lives, and `stalled` answers it. The parent then produces, sees the other log's file
 * take the write, and SIGKILLs this process: one of the two writes is on disk, the other never was.
 * Usage: node crash-idempotent-broker.js <dataDir>
 */
import { createInterface } from 'node:readline';
import { startTestBroker } from './broker.js';
import { FaultyIo } from './faulty-io.js';

/** Longer than the parent waits for anything: a stalled write never lands before the kill. */
const stallMs = 120_000;
/** The child ends itself after this, should the parent never kill it. */
const lifetimeMsMax = 60_000;

async function main(): Promise<void> {
  const [dataDir] = process.argv.slice(2);
  if (!dataDir) throw new Error('usage: crash-idempotent-broker <dataDir>');
  const io = new FaultyIo();
  io.slowMs = stallMs;
  const { port } = await startTestBroker({
    listeners: ['kafka'],
    storage: 'file',
    fsync: 'always',
    dataDir,
    storageIo: io,
  });
  setTimeout(() => process.exit(0), lifetimeMsMax).unref();
  createInterface({ input: process.stdin }).on('line', (line) => {
    const [command, part] = line.trim().split(' ');
    if (command !== 'stall' || part === undefined) return;
    io.slow.add(part);
    process.stdout.write('stalled\n');
  });
  process.stdout.write(`ready ${port('kafka')}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
