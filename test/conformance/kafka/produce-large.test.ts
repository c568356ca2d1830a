/**
 * Large Produce requests are assembled in pooled buffers and written to the file from them
 * (src/protocols/kafka/buffer-pool.ts): kcat sends batches of about 1 MB while a second kcat reads the
 * partition as it grows, and every record must come back as sent, in order, to both readers — a
 * buffer reused before storage had written it, or read through a view after, would show here.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';
import { hasCommand } from '../../../testing/kafka-helpers.js';
import { kcatRead, runTool } from '../../../testing/kafka-tools.js';
import { removeDir, tempDir } from '../../../testing/storage-fixtures.js';

const noKcat = hasCommand('kcat') ? false : 'kcat is not installed (apt-get install kcat)';
/** 6 MB in about six requests of ~1 MB. */
const records = 12_000;
const recordBytes = 500;

let broker: TestBroker;
const dir = tempDir();

before(async () => {
  broker = await startTestBroker({ listeners: ['kafka'], storage: 'file', dataDir: dir, fsync: 'always' });
});
after(async () => {
  await broker?.stop();
  removeDir(dir);
});

/** Line i: its number, then filler that differs from line to line. */
function line(i: number): string {
  const head = `${i}:`;
  return head + String.fromCharCode(97 + (i % 26)).repeat(recordBytes - head.length);
}

test('~1 MB batches from kcat read back intact, during the produce and after it', {
  skip: noKcat,
}, async () => {
  const input = join(dir, 'records.txt');
  writeFileSync(input, `${Array.from({ length: records }, (_, i) => line(i)).join('\n')}\n`);
  const bootstrap = broker.url('kafka');
  const topic = 'large-batches';
  const common = ['-b', bootstrap, '-t', topic, '-p', '0'];
  const created = await runTool('kcat', [...common, '-P', '-X', 'acks=all'], 'first\n');
  assert.equal(created.code, 0, created.stderr);
  // Reads from the start while the produce runs, until it has every record.
  const tailing = runTool(
    'kcat',
    [...common, '-C', '-o', 'beginning', '-c', String(records + 1), '-q'],
    '',
    60_000,
  );
  const produced = await runTool(
    'kcat',
    [...common, '-P', '-X', 'acks=all', '-X', 'linger.ms=20', '-X', 'batch.size=1000000', '-l', input],
    '',
    60_000,
  );
  assert.equal(produced.code, 0, produced.stderr);
  const expected = ['first', ...Array.from({ length: records }, (_, i) => line(i))];
  const tailed = await tailing;
  assert.equal(tailed.code, 0, tailed.stderr);
  assert.deepEqual(tailed.stdout.split('\n').slice(0, -1), expected);
  const read = await kcatRead(bootstrap, topic, '%s\n');
  assert.equal(read.code, 0, read.stderr);
  assert.deepEqual(read.stdout.split('\n').slice(0, -1), expected);
});
