/**
 * Child process for crash tests that need one log's writes never to land: a broker on file storage
 * (`fsync always`) with one listener (Kafka unless named), whose disk can be told to stall the writes
 * of one log. Prints `ready <port>`; a line `stall <path part>` on stdin makes every later write to a
 * file whose path holds that part wait far longer than the test lives, and `stalled` answers it. The
 * parent then acts, and SIGKILLs this process: whatever went to the stalled log was never written.
 * - test/conformance/kafka/idempotence-crash.test.ts stalls `/logs/producers.` (the producer registry)
 *   or the partition: one of a batch and its sequence record is on disk, the other never was.
 * - test/conformance/mqtt/retained-crash.test.ts stalls `/logs/retained.`: a retained message whose
 *   write never landed must not have been acknowledged.
 * - test/conformance/mqtt/qos2-out-crash.test.ts stalls `/logs/session.` (the session's markers) or the
 *   session queue's ack log: of a PUBREC's two writes only the other one lands.
 * - test/conformance/amqp/declare-crash.test.ts stalls `/logs/defs/`: a durable queue whose definition
 *   never landed must not have been declared to the client.
 * - test/conformance/kubemq/send-crash.test.ts stalls `/logs/defs/`: a send to a new queue channel
 *   must not be confirmed before the queue's definition landed.
 * - test/conformance/kafka/share-config-crash.test.ts stalls `/logs/group.`: a share group's config
 *   change must not be answered before the group's log holds it.
 * - test/server/admin-crash.test.ts stalls `/logs/defs/`: a management API change must not be answered
 *   before the definitions log holds it.
 * Usage: node crash-stall-broker.js <dataDir> [kafka|mqtt|amqp|grpc|http]
 */
import { createInterface } from 'node:readline';
import { startTestBroker, type TestListener } from './broker.js';
import { FaultyIo } from './faulty-io.js';

/** Longer than the parent waits for anything: a stalled write never lands before the kill. */
const stallMs = 120_000;
/** The child ends itself after this, should the parent never kill it. */
const lifetimeMsMax = 60_000;

const served = ['kafka', 'mqtt', 'amqp', 'grpc', 'http'] as const satisfies readonly TestListener[];

async function main(): Promise<void> {
  const [dataDir, named = 'kafka'] = process.argv.slice(2);
  const listener = served.find((l) => l === named);
  if (!dataDir || listener === undefined)
    throw new Error('usage: crash-stall-broker <dataDir> [kafka|mqtt|amqp|grpc|http]');
  const io = new FaultyIo();
  io.slowMs = stallMs;
  const { port } = await startTestBroker({
    listeners: [listener],
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
  process.stdout.write(`ready ${port(listener)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
