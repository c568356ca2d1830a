/**
 * The producer registry's bound on what a start reads back of a partition's tail (KIP-98: producer
 * state rebuilt from the log): a clean close covers every partition read back in its run, so a
 * partition plain producers keep writing is not read again from where it was last covered.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import type { CoreClient } from '../../src/core/api.js';
import { registerEntryFormat, unregisterEntryFormat } from '../../src/core/logs/formats.js';
import { producerCoverIntervalMs } from '../../src/core/producers.js';
import { decodeJson, encodeJson } from '../../src/core/state/json.js';
import { stateLogName } from '../../src/core/state/names.js';
import { recordFormat } from '../../src/core/state/state-log.js';
import { type CoreFixture, openCore } from '../../testing/core-helpers.js';

/** A test format whose payload is [producer id - 999 (0: a plain batch), sequence]. */
const testFormat = 0x7b;

function register(): void {
  registerEntryFormat(
    testFormat,
    () => [],
    (entry) =>
      entry.payload[0] === 0
        ? { producerId: -1, transactional: false }
        : {
            producerId: 999 + entry.payload[0]!,
            transactional: false,
            sequence: { epoch: 0, first: entry.payload[1]!, count: 1 },
          },
  );
}

const options = { timestamp: 1, format: testFormat };

async function appendPlain(client: CoreClient, count: number): Promise<void> {
  const partition = client.partition('plain', 0);
  for (let i = 0; i < count; i++) await partition.append(Uint8Array.from([0, 0]), options).durable;
}

/** One idempotent batch, waiting as Produce does while the partition's tail is read back. */
async function appendIdempotent(client: CoreClient, producerId: number, sequence: number): Promise<string> {
  const batch = { producerId, epoch: 0, baseSequence: sequence, count: 1 };
  const payload = Uint8Array.from([producerId - 999, sequence]);
  let result = client.appendIdempotent('plain', 0, batch, payload, options);
  for (let tries = 0; result.kind === 'wait' && tries < 10; tries++) {
    await result.until;
    result = client.appendIdempotent('plain', 0, batch, payload, options);
  }
  if (result.kind === 'appended') await result.durable;
  return result.kind;
}

/** The registry's own log's entries of `types` as `type@offset`, oldest first. */
async function registryEntries(core: CoreFixture, types = ['covered']): Promise<string[]> {
  const registry = await core.storage.openLog(stateLogName('producers', '/'));
  const entries = registry.read(0, { maxEntries: 1000 }).map((e) => decodeJson(e.payload));
  await registry.close();
  return entries
    .filter((e): e is { t: string; offset: number } => types.includes((e as { t?: string }).t ?? ''))
    .map((e) => `${e.t}@${e.offset}`);
}

/** The offsets of the `covered` entries in the registry's own log, oldest first. */
async function coveredOffsets(core: CoreFixture): Promise<number[]> {
  return (await registryEntries(core)).map((e) => Number(e.split('@')[1]));
}

/** Appends a `covered` entry to a stopped broker's registry log, as a run that then crashed left it. */
async function forgeCovered(core: CoreFixture, offset: number): Promise<void> {
  const log = await core.storage.openLog(stateLogName('producers', '/'));
  const payload = encodeJson({ t: 'covered', stream: 'plain', partition: 0, offset });
  await log.append({ payload, timestamp: 1, format: recordFormat.entry }).durable;
  await log.close();
}

/** A core whose stream `plain` holds three plain batches (offsets 0–2). */
async function openWithTailRead(): Promise<CoreFixture> {
  register();
  const opened = await openCore();
  await opened.client.createStream('plain', { partitions: 1 });
  await appendPlain(opened.client, 3);
  return opened;
}

/** A new idempotent producer's first batch, at offset 3: it reads the plain tail back and covers it. */
async function firstIdempotentBatch(opened: CoreFixture): Promise<number> {
  const init = await opened.client.initProducer(-1, -1);
  assert.equal(init.kind, 'ok');
  if (init.kind !== 'ok') throw new Error('unreachable');
  assert.equal(await appendIdempotent(opened.client, init.producerId, 0), 'appended');
  return init.producerId;
}

let core: CoreFixture | undefined;
afterEach(async () => {
  await core?.broker.close();
  core = undefined;
  unregisterEntryFormat(testFormat);
});

test('a clean close covers each partition read back in its run to its end; one not read keeps its bound', async () => {
  core = await openWithTailRead();
  const { storage } = core;
  const producerId = await firstIdempotentBatch(core);
  await appendPlain(core.client, 4);
  await core.broker.close();
  assert.deepEqual(await coveredOffsets(core), [3, 8], 'covered to the end at the clean close');

  // A run with no idempotent batch reads nothing back, so its close covers nothing more.
  core = await openCore({ storage });
  await appendPlain(core.client, 2);
  await core.broker.close();
  assert.deepEqual(await coveredOffsets(core), [3, 8]);

  // The retry of the batch at offset 3 is still a duplicate, the next sequence appended.
  core = await openCore({ storage });
  assert.equal(await appendIdempotent(core.client, producerId, 0), 'duplicate');
  assert.equal(await appendIdempotent(core.client, producerId, 1), 'appended');
});

test('while running, partitions read back are covered to their ends every interval, not only at a clean close', async () => {
  core = await openWithTailRead();
  const { clock } = core;
  await firstIdempotentBatch(core);
  await appendPlain(core.client, 4);
  clock.advance(producerCoverIntervalMs);
  await appendPlain(core.client, 2);
  clock.advance(producerCoverIntervalMs);
  // Nothing appended since: the next interval writes nothing.
  clock.advance(producerCoverIntervalMs);
  await core.broker.close();
  assert.deepEqual(await coveredOffsets(core), [3, 8, 10], 'the close found the end already covered');
});

test('a bound past the partition end (a crash took a covered tail) is lowered durably before the next batch', async () => {
  core = await openWithTailRead();
  const { storage } = core;
  const producerId = await firstIdempotentBatch(core);
  await core.broker.close();
  // The run covered offsets up to 20, then crashed before the partition's offsets 4–19 were durable.
  await forgeCovered(core, 20);

  core = await openCore({ storage });
  assert.equal(await appendIdempotent(core.client, producerId, 1), 'appended');
  await core.broker.close();
  assert.deepEqual(
    (await registryEntries(core, ['covered', 'batch'])).slice(-4),
    ['covered@20', 'covered@4', 'batch@4', 'covered@5'],
    'the bound is back at the end before the batch at 4 is recorded',
  );
  core = await openCore({ storage });
  assert.equal(await appendIdempotent(core.client, producerId, 1), 'duplicate');
});
