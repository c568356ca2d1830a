/**
 * Core's transactional producers on a manual clock: fencing by epoch, the stable offset held by an
 * open transaction, committed reads that leave out aborted entries and markers, the timeout that
 * aborts and fences, and a decision found without its completion at start carried out.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, test } from 'node:test';
import type { CoreClient, StreamPartition, TxnInstance } from '../../src/core/api.js';
import { registerEntryFormat, unregisterEntryFormat } from '../../src/core/logs/formats.js';
import { partitionLogName } from '../../src/core/logs/names.js';
import { entryFormat } from '../../src/core/message-codec.js';
import { decodeJson, encodeJson } from '../../src/core/state/json.js';
import { stateLogName } from '../../src/core/state/names.js';
import { recordFormat } from '../../src/core/state/state-log.js';
import { type TxnEntry, txnMachine } from '../../src/core/state/txn-entries.js';
import {
  transactionalIdCharsMax,
  transactionGroupsMax,
  transactionOffsetsMax,
} from '../../src/core/transactions.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { type CoreFixture, holdDurability, openCore, settle } from '../../testing/core-helpers.js';

/** A test format whose payload is [producer id - 1000, transactional flag, value]. */
const testFormat = 0x7a;

function register(): void {
  registerEntryFormat(
    testFormat,
    (entry) => [
      {
        offset: entry.offset,
        message: { exchange: '', routingKey: '', body: entry.payload.subarray(2), properties: {} },
      },
    ],
    (entry) => ({ producerId: 1000 + entry.payload[0]!, transactional: entry.payload[1] === 1 }),
  );
}

/** Where a batch goes, and whether it adds its partition itself (KIP-890 part 2, Produce v12). */
interface BatchTarget {
  readonly partition?: number;
  readonly addsPartition?: boolean;
  /** Told each answer before the batch is appended (`wait`), if any. */
  readonly waited?: (kind: string) => void;
}

async function append(
  client: CoreClient,
  txn: TxnInstance,
  sequence: number,
  value: string,
  { partition = 0, addsPartition = false, waited }: BatchTarget = {},
) {
  const payload = Uint8Array.from([txn.producerId - 1000, 1, ...new TextEncoder().encode(value)]);
  const batch = {
    producerId: txn.producerId,
    epoch: txn.epoch,
    baseSequence: sequence,
    count: 1,
    transactional: true,
    ...(addsPartition ? { addsPartition } : {}),
  };
  const options = { timestamp: 1, format: testFormat };
  let result = client.appendIdempotent('orders', partition, batch, payload, options);
  // The partitions just added are not durable yet: the batch waits for them, as Produce does.
  for (let tries = 0; result.kind === 'wait' && tries < 10; tries++) {
    waited?.(result.kind);
    await result.until;
    result = client.appendIdempotent('orders', partition, batch, payload, options);
  }
  if (result.kind === 'appended') await result.durable;
  return result;
}

function committedValues(partition: StreamPartition): Array<string | number> {
  return partition
    .read(0, { committed: true })
    .map((e) => (e.format === testFormat ? new TextDecoder().decode(e.payload.subarray(2)) : e.format));
}

async function begin(client: CoreClient, id: string): Promise<TxnInstance> {
  const init = await client.initTransactional(id, 5000, -1, -1);
  assert.equal(init.kind, 'ok');
  if (init.kind !== 'ok') throw new Error('unreachable');
  const txn = { transactionalId: id, producerId: init.producerId, epoch: init.epoch };
  assert.deepEqual(await client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]), { kind: 'ok' });
  return txn;
}

describe('transactional producers in core', () => {
  let core: CoreFixture | undefined;
  afterEach(async () => {
    await core?.broker.close();
    unregisterEntryFormat(testFormat);
  });

  test('an open transaction holds the stable offset; an abort hides its entries and a commit shows them', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const partition = client.partition('orders', 0);
    const a = await begin(client, 'a');
    await append(client, a, 0, 'a0');
    assert.equal(partition.stableOffset, 0);
    assert.deepEqual(committedValues(partition), []);
    assert.equal((await client.endTransaction(a, false)).kind, 'ok');
    const b = await begin(client, 'b');
    await append(client, b, 0, 'b0');
    assert.equal((await client.endTransaction(b, true)).kind, 'ok');
    assert.equal(partition.stableOffset, partition.endOffset);
    // a0 and both markers are withheld (format 3), b0 is read.
    assert.deepEqual(committedValues(partition), [
      entryFormat.withheld,
      entryFormat.withheld,
      'b0',
      entryFormat.withheld,
    ]);
    assert.deepEqual(partition.abortedBetween(0, 10), [
      { producerId: a.producerId, firstOffset: 0, markerOffset: 1 },
    ]);
    assert.equal(partition.read(0).length, 4, 'a raw read sees every entry');
  });

  test('an ending writing its markers answers the id CONCURRENT_TRANSACTIONS; once answered, the next requests wait for its completion', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await begin(client, 'quick');
    await append(client, txn, 0, 'first');
    const ended = client.endTransaction(txn, true);
    // Asked while the decision and markers are written, as another connection may: Kafka answers
    // CONCURRENT_TRANSACTIONS, either way, and its clients retry.
    const concurrent = { kind: 'refused', reason: 'concurrent' };
    const during = await Promise.all([
      client.endTransaction(txn, true),
      client.endTransaction(txn, false),
      client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]),
      client.addGroupToTransaction(txn, 'quick-group'),
      client.initTransactional('quick', 5000, txn.producerId, txn.epoch),
    ]);
    assert.deepEqual(during, [concurrent, concurrent, concurrent, concurrent, concurrent]);
    const same = { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch };
    assert.deepEqual(await ended, same);
    // Once answered, its markers are written: the retries go through (waiting for its completion).
    const again = client.endTransaction(txn, true);
    const added = client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]);
    assert.deepEqual(await Promise.all([again, added]), [same, { kind: 'ok' }]);
    assert.equal(client.describeTransaction('quick')?.phase, 'ongoing');
    await append(client, txn, 1, 'second');
    assert.equal((await client.endTransaction(txn, false)).kind, 'ok');
    await settle(20);
    const partition = client.partition('orders', 0);
    assert.equal(partition.stableOffset, partition.endOffset);
    assert.deepEqual(committedValues(partition), [
      'first',
      entryFormat.withheld,
      entryFormat.withheld,
      entryFormat.withheld,
    ]);
  });

  test('a newer instance fences the older one: its batches and its end are refused', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const old = await begin(client, 't');
    await append(client, old, 0, 'zombie');
    // As Kafka's coordinator: the open transaction is fenced and aborted, and the client told to
    // retry; the retry bumps the epoch again.
    const first = await client.initTransactional('t', 5000, -1, -1);
    assert.deepEqual(first, { kind: 'refused', reason: 'concurrent' });
    assert.deepEqual(await client.endTransaction(old, true), { kind: 'refused', reason: 'fenced' });
    let init = await client.initTransactional('t', 5000, -1, -1);
    for (let tries = 0; init.kind === 'refused' && tries < 10; tries++) {
      await settle(5);
      init = await client.initTransactional('t', 5000, -1, -1);
    }
    assert.equal(init.kind === 'ok' && init.epoch, old.epoch + 2);
    assert.deepEqual(await append(client, old, 1, 'late'), { kind: 'refused', reason: 'staleEpoch' });
    assert.equal(client.describeTransaction('t')?.phase, 'empty');
    assert.deepEqual(client.partition('orders', 0).abortedBetween(0, 10), [
      { producerId: old.producerId, firstOffset: 0, markerOffset: 1 },
    ]);
  });

  test("an aborted transaction's range starts at its producer's first entry, not where it joined", async () => {
    register();
    core = await openCore();
    await core.client.createStream('orders', { partitions: 1 });
    const a = await begin(core.client, 'a');
    const b = await begin(core.client, 'b');
    await append(core.client, a, 0, 'a1');
    await append(core.client, b, 0, 'b1');
    assert.equal((await core.client.endTransaction(a, false)).kind, 'ok');
    assert.equal((await core.client.endTransaction(b, false)).kind, 'ok');
    // Both joined at offset 0; a read_committed client taking up one aborted transaction per record
    // (kafkajs) needs each to start at its own first record.
    assert.deepEqual(core.client.partition('orders', 0).abortedBetween(0, 10), [
      { producerId: a.producerId, firstOffset: 0, markerOffset: 2 },
      { producerId: b.producerId, firstOffset: 1, markerOffset: 3 },
    ]);
  });

  test('a batch for a partition its transaction does not hold is refused', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 2 });
    const init = await client.initTransactional('t', 5000, -1, -1);
    if (init.kind !== 'ok') throw new Error('init refused');
    const txn = { transactionalId: 't', producerId: init.producerId, epoch: init.epoch };
    assert.deepEqual(await append(client, txn, 0, 'x'), { kind: 'refused', reason: 'notInTransaction' });
  });

  test('past its timeout a transaction is aborted and its producer fenced', async () => {
    register();
    core = await openCore();
    const { client, clock } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await begin(client, 'slow');
    await append(client, txn, 0, 'late');
    clock.advance(5001);
    await settle(20);
    // As Kafka's coordinator: the abort fences the epoch, and the id rests in CompleteAbort with it.
    const summary = client.describeTransaction('slow');
    assert.equal(summary?.phase, 'completeAbort');
    assert.equal(summary?.epoch, txn.epoch + 1);
    assert.deepEqual(await client.endTransaction(txn, true), { kind: 'refused', reason: 'fenced' });
    assert.deepEqual(await client.endTransaction(txn, false), { kind: 'refused', reason: 'fenced' });
    assert.deepEqual(await append(client, txn, 1, 'zombie'), { kind: 'refused', reason: 'staleEpoch' });
    assert.deepEqual(committedValues(client.partition('orders', 0)), [
      entryFormat.withheld,
      entryFormat.withheld,
    ]);
  });

  test("a transaction's timeout runs from its own start, not from the id's transaction before", async () => {
    register();
    core = await openCore();
    const { client, clock } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await begin(client, 'steady');
    await append(client, txn, 0, 'first');
    assert.equal((await client.endTransaction(txn, true)).kind, 'ok');
    clock.advance(4000);
    await client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]);
    await append(client, txn, 1, 'second');
    // Past the first transaction's due time: the second, 1 s old, stays open.
    clock.advance(1500);
    await settle(20);
    assert.equal(client.describeTransaction('steady')?.phase, 'ongoing');
    clock.advance(3600);
    await settle(20);
    assert.equal(client.describeTransaction('steady')?.epoch, txn.epoch + 1);
    assert.deepEqual(await client.endTransaction(txn, true), { kind: 'refused', reason: 'fenced' });
  });

  test('a shorter timeout given by a new InitProducerId holds from the next transaction on', async () => {
    register();
    core = await openCore();
    const { client, clock } = core;
    await client.createStream('orders', { partitions: 1 });
    const first = await begin(client, 'shorter');
    assert.equal((await client.endTransaction(first, false)).kind, 'ok');
    const init = await client.initTransactional('shorter', 1000, first.producerId, first.epoch);
    if (init.kind !== 'ok') throw new Error('init refused');
    const txn = { transactionalId: 'shorter', producerId: init.producerId, epoch: init.epoch };
    await client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]);
    clock.advance(1001);
    await settle(20);
    assert.equal(client.describeTransaction('shorter')?.epoch, txn.epoch + 1);
  });

  test('a commit decided but not completed when the broker stopped is completed at start', async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'crash');
    await append(core.client, txn, 0, 'kept');
    await core.broker.close();
    // What the log holds when the process died right after writing the decision.
    await writeTxnEntries(storage, [{ type: 'prepare', id: 'crash', commit: true, at: 1 }]);
    core = await openCore({ storage });
    await settle(20);
    const partition = core.client.partition('orders', 0);
    assert.equal(core.client.describeTransaction('crash')?.phase, 'completeCommit');
    assert.equal(partition.stableOffset, partition.endOffset);
    assert.deepEqual(committedValues(partition), ['kept', entryFormat.withheld]);
  });

  test('an abort whose marker a crash took behind its durable completion is marked again at start', async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'lost');
    await append(core.client, txn, 0, 'x');
    await core.broker.close();
    // The ending was durable, its marker at offset 3 was not (nor the two entries before it).
    const markers = [{ stream: 'orders', partition: 0, firstOffset: 0, markerOffset: 3 }];
    await writeTxnEntries(storage, [
      { type: 'prepare', id: 'lost', commit: false, at: 1 },
      { type: 'complete', id: 'lost', commit: false, markers, at: 1 },
    ]);
    core = await openCore({ storage });
    const { client } = core;
    const partition = client.partition('orders', 0);
    assert.equal(client.describeTransaction('lost')?.phase, 'completeAbort');
    assert.equal(partition.endOffset, 2, 'the marker is appended again, at offset 1');
    assert.deepEqual(partition.abortedBetween(0, 10), [
      { producerId: txn.producerId, firstOffset: 0, markerOffset: 1 },
    ]);
    // The abort's range ends at the marker as appended again: the next commit of the producer shows.
    assert.deepEqual(await client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]), {
      kind: 'ok',
    });
    await append(client, txn, 1, 'y');
    assert.equal((await client.endTransaction(txn, true)).kind, 'ok');
    assert.deepEqual(committedValues(partition), [
      entryFormat.withheld,
      entryFormat.withheld,
      'y',
      entryFormat.withheld,
    ]);
    // Restarted again, nothing is marked twice.
    await core.broker.close();
    core = await openCore({ storage });
    assert.equal(core.client.partition('orders', 0).endOffset, 4);
    assert.deepEqual(committedValues(core.client.partition('orders', 0)).length, 4);
  });

  test("the next commit is decided without waiting for the ending before's markers; its completion waits for them", async () => {
    register();
    const held = holdDurability(new MemoryStorage(), (name) => name === partitionLogName('/', 'orders', 0));
    core = await openCore({ storage: held.storage });
    const { client } = core;
    await client.createStream('orders', { partitions: 2 });
    const txn = await begin(client, 'serial');
    await append(client, txn, 0, 'a');
    held.hold(); // the first commit's marker, on partition 0, is not durable until released
    assert.equal((await client.endTransaction(txn, true)).kind, 'ok');
    assert.deepEqual(await client.addToTransaction(txn, [{ stream: 'orders', partition: 1 }]), {
      kind: 'ok',
    });
    assert.equal((await append(client, txn, 0, 'b', { partition: 1 })).kind, 'appended');
    const second = await Promise.race([client.endTransaction(txn, true), settle(20).then(() => 'waiting')]);
    assert.equal(typeof second === 'string' ? second : second.kind, 'ok', 'answered with the marker held');
    assert.equal(client.describeTransaction('serial')?.phase, 'prepareCommit', 'not completed before it');
    held.release();
    await settle(20);
    assert.equal(client.describeTransaction('serial')?.phase, 'completeCommit');
    assert.deepEqual(committedValues(client.partition('orders', 1)), ['b', entryFormat.withheld]);
  });

  test("a commit decided while the ending before's marker was not durable: at start that marker is appended again and the commit carried out", async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 2 });
    const txn = await begin(core.client, 'gap');
    await append(core.client, txn, 0, 'a');
    await core.broker.close();
    // The first commit ended, its marker on partition 0 (offset 1) lost; the next one, on partition
    // 1, decided with its batch durable: what a crash leaves once a decision need not wait for the
    // markers before it.
    const first = [{ stream: 'orders', partition: 0, firstOffset: 0, markerOffset: 1 }];
    await writeTxnEntries(storage, [
      {
        type: 'prepare',
        id: 'gap',
        commit: true,
        at: 1,
        dataEnds: [{ stream: 'orders', partition: 0, end: 1 }],
      },
      { type: 'complete', id: 'gap', commit: true, markers: first, at: 1 },
      {
        type: 'partitions',
        id: 'gap',
        partitions: [{ stream: 'orders', partition: 1, firstOffset: 0 }],
        at: 1,
      },
    ]);
    const log = await storage.openLog(partitionLogName('/', 'orders', 1));
    const payload = Uint8Array.from([txn.producerId - 1000, 1, ...new TextEncoder().encode('b')]);
    await log.append({ payload, timestamp: 1, format: testFormat }).durable;
    await log.close();
    const dataEnds = [{ stream: 'orders', partition: 1, end: 1 }];
    await writeTxnEntries(storage, [{ type: 'prepare', id: 'gap', commit: true, at: 1, dataEnds }]);
    core = await openCore({ storage });
    await settle(20);
    const { client } = core;
    assert.equal(client.describeTransaction('gap')?.phase, 'completeCommit');
    for (const [index, value] of [
      [0, 'a'],
      [1, 'b'],
    ] as const) {
      const partition = client.partition('orders', index);
      assert.equal(partition.stableOffset, partition.endOffset);
      assert.deepEqual(committedValues(partition), [value, entryFormat.withheld]);
    }
  });

  test("two ids' commit markers both lost behind their durable completions: at start each is appended again, neither taken for the other", async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    // The id known first commits last: a start that checked ids in the order they came and appended
    // each lost marker at once would fill the offset of the other's lost marker with its own.
    const last = await begin(core.client, 'ends-last');
    const first = await begin(core.client, 'ends-first');
    await append(core.client, last, 0, 'a');
    await append(core.client, first, 0, 'b');
    await core.broker.close();
    const marked = (firstOffset: number, markerOffset: number) => [
      { stream: 'orders', partition: 0, firstOffset, markerOffset },
    ];
    const commit = (id: string, end: number): TxnEntry[] => [
      { type: 'prepare', id, commit: true, at: 1, dataEnds: [{ stream: 'orders', partition: 0, end }] },
    ];
    await writeTxnEntries(storage, [
      ...commit('ends-first', 2),
      { type: 'complete', id: 'ends-first', commit: true, markers: marked(1, 2), at: 1 },
      ...commit('ends-last', 2),
      { type: 'complete', id: 'ends-last', commit: true, markers: marked(0, 3), at: 1 },
    ]);
    core = await openCore({ storage });
    const partition = core.client.partition('orders', 0);
    assert.equal(partition.endOffset, 4, 'both markers appended again');
    assert.deepEqual(partition.abortedBetween(0, 10), [], 'nothing aborted');
    assert.deepEqual(committedValues(partition), ['a', 'b', entryFormat.withheld, entryFormat.withheld]);
  });

  test("a batch goes ahead of its transaction's partitions entry only where a durable one names the partition", async () => {
    register();
    const held = holdDurability(new MemoryStorage(), (name) => name === stateLogName('transactions', '/'));
    core = await openCore({ storage: held.storage });
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await begin(client, 'ahead');
    await append(client, txn, 0, 'one');
    assert.equal((await client.endTransaction(txn, true)).kind, 'ok');
    const other = await client.initTransactional('other', 5000, -1, -1);
    assert.equal(other.kind, 'ok');
    if (other.kind !== 'ok') return;
    await client.createStream('fresh', { partitions: 1 });
    const batch = (producerId: number, epoch: number) => ({
      producerId,
      epoch,
      baseSequence: 0,
      count: 1,
      transactional: true,
    });
    const payload = (producerId: number) => Uint8Array.from([producerId - 1000, 1, 120]);
    const options = { timestamp: 1, format: testFormat };
    held.hold();
    // 'orders' has a durable partitions entry (the first transaction's): the batch goes ahead and is
    // answered at once; the commit is answered only once its entry, record and decision are durable.
    assert.deepEqual(await client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]), {
      kind: 'ok',
    });
    const ahead = client.appendIdempotent(
      'orders',
      0,
      { ...batch(txn.producerId, txn.epoch), baseSequence: 1 },
      payload(txn.producerId),
      options,
    );
    assert.equal(ahead.kind, 'appended');
    let answered = false;
    if (ahead.kind === 'appended') void ahead.durable.then(() => (answered = true));
    // 'fresh' has none: a restart would not look there, so the batch waits for its entry.
    const ids = { transactionalId: 'other', producerId: other.producerId, epoch: other.epoch };
    assert.deepEqual(await client.addToTransaction(ids, [{ stream: 'fresh', partition: 0 }]), { kind: 'ok' });
    const waits = client.appendIdempotent(
      'fresh',
      0,
      batch(other.producerId, other.epoch),
      payload(other.producerId),
      options,
    );
    assert.equal(waits.kind, 'wait');
    await settle(5);
    assert.equal(answered, true, 'answered once appended');
    let committed = false;
    const ending = client.endTransaction(txn, true).then((r) => {
      committed = true;
      return r;
    });
    await settle(5);
    assert.equal(committed, false, 'not committed before its partitions entry is durable');
    held.release();
    assert.equal((await ending).kind, 'ok');
  });

  test("a batch whose transaction's partitions entry a crash took is aborted at start and its producer fenced", async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'orphan');
    await append(core.client, txn, 0, 'one');
    assert.equal((await core.client.endTransaction(txn, true)).kind, 'ok');
    await core.broker.close();
    // The next transaction's batch went ahead and is durable; its partitions entry was lost.
    const log = await storage.openLog(partitionLogName('/', 'orders', 0));
    const payload = Uint8Array.from([txn.producerId - 1000, 1, ...new TextEncoder().encode('lost')]);
    await log.append({ payload, timestamp: 1, format: testFormat }).durable;
    await log.close();
    core = await openCore({ storage });
    const { client } = core;
    const partition = client.partition('orders', 0);
    assert.equal(partition.stableOffset, partition.endOffset, 'nothing left open');
    assert.deepEqual(committedValues(partition), [
      'one',
      entryFormat.withheld,
      entryFormat.withheld,
      entryFormat.withheld,
    ]);
    assert.deepEqual(partition.abortedBetween(0, 10), [
      { producerId: txn.producerId, firstOffset: 2, markerOffset: 3 },
    ]);
    assert.equal(client.describeTransaction('orphan')?.epoch, txn.epoch + 1, 'the producer is fenced');
    assert.deepEqual(await client.endTransaction(txn, true), { kind: 'refused', reason: 'fenced' });
    // Restarted again, the aborted batch is not taken for an orphan a second time.
    await core.broker.close();
    core = await openCore({ storage });
    assert.equal(core.client.partition('orders', 0).endOffset, 4);
    assert.equal(core.client.describeTransaction('orphan')?.epoch, txn.epoch + 1);
  });

  test("a transactional batch's record is kept in the transaction log: after a restart its sequence goes on and a retry is a duplicate", async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'seq');
    assert.equal((await append(core.client, txn, 0, 'first')).kind, 'appended');
    assert.equal((await core.client.endTransaction(txn, true)).kind, 'ok');
    await core.broker.close();
    const registry = await storage.openLog(stateLogName('producers', '/'));
    const types = registry
      .read(0, { maxEntries: 100 })
      .map((e) => (decodeJson(e.payload) as { t?: string }).t);
    await registry.close();
    assert.ok(!types.includes('batch'), `no batch record in the producer registry's own log: ${types}`);
    core = await openCore({ storage });
    assert.deepEqual(await core.client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]), {
      kind: 'ok',
    });
    assert.deepEqual(await append(core.client, txn, 0, 'first'), { kind: 'duplicate', offset: 0 });
    assert.equal((await append(core.client, txn, 1, 'second')).kind, 'appended');
    assert.equal((await core.client.endTransaction(txn, true)).kind, 'ok');
    const partition = core.client.partition('orders', 0);
    assert.deepEqual(committedValues(partition), [
      'first',
      entryFormat.withheld,
      'second',
      entryFormat.withheld,
    ]);
  });

  test('the producer registry restarted after a failure takes back the sequences the transaction log carries', async () => {
    register();
    const { FaultyIo } = await import('../../testing/faulty-io.js');
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-txn-'));
    const io = new FaultyIo();
    const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, io });
    try {
      core = await openCore({ storage });
      await core.client.createStream('orders', { partitions: 1 });
      const txn = await begin(core.client, 'seq');
      assert.equal((await append(core.client, txn, 0, 'first')).kind, 'appended');
      io.failing.add(stateLogName('producers', '/'));
      // An idempotent producer's id is written to the registry's log, which refuses: it fails.
      await assert.rejects(core.client.initProducer(-1, -1));
      io.failing.clear();
      let init = await core.client.initProducer(-1, -1).catch(() => undefined);
      for (let tries = 0; init === undefined && tries < 500; tries++) {
        await new Promise((resolve) => setTimeout(resolve, 10));
        init = await core.client.initProducer(-1, -1).catch(() => undefined);
      }
      assert.equal(init?.kind, 'ok', 'the registry is back');
      assert.deepEqual(await append(core.client, txn, 0, 'first'), { kind: 'duplicate', offset: 0 });
      assert.equal((await core.client.endTransaction(txn, true)).kind, 'ok');
      await core.broker.close();
      core = undefined;
    } finally {
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('an open transaction outlives a clean restart, holding the stable offset until it times out', async () => {
    register();
    core = await openCore();
    const { storage, clock } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'open');
    await append(core.client, txn, 0, 'pending');
    await core.broker.close();
    core = await openCore({ storage, clock });
    const partition = core.client.partition('orders', 0);
    assert.equal(partition.stableOffset, 0);
    assert.equal(core.client.describeTransaction('open')?.phase, 'ongoing');
    assert.equal(core.client.describeTransaction('open')?.epoch, txn.epoch, 'not fenced');
    clock.advance(5001);
    await settle(20);
    assert.equal(partition.stableOffset, partition.endOffset);
    assert.deepEqual(committedValues(partition), [entryFormat.withheld, entryFormat.withheld]);
  });

  test('an open transaction kept over a clean restart commits whole', async () => {
    register();
    core = await openCore();
    const { storage, clock } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'kept');
    await append(core.client, txn, 0, 'before');
    await core.broker.close();
    core = await openCore({ storage, clock });
    assert.equal((await core.client.endTransaction(txn, true)).kind, 'ok');
    const partition = core.client.partition('orders', 0);
    assert.equal(partition.stableOffset, partition.endOffset);
    assert.deepEqual(partition.abortedBetween(0, 10), []);
    assert.deepEqual(committedValues(partition).slice(0, 1), ['before']);
  });

  test('an open transaction is aborted at a restart after a crash and its producer fenced: its batches were answered before they were durable', async () => {
    register();
    core = await openCore();
    const { storage, clock } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'open');
    await append(core.client, txn, 0, 'pending');
    await core.broker.close();
    // An entry after the clean close's `closed`: the log no longer ends with it, as after a crash.
    await writeTxnEntries(storage, [{ type: 'scan', stream: 'orders', partition: 0, offset: 0 }]);
    core = await openCore({ storage, clock });
    const partition = core.client.partition('orders', 0);
    // Done before the vhost serves: no timeout to wait for.
    assert.equal(partition.stableOffset, partition.endOffset);
    assert.deepEqual(committedValues(partition), [entryFormat.withheld, entryFormat.withheld]);
    assert.equal(core.client.describeTransaction('open')?.phase, 'empty');
    assert.equal(core.client.describeTransaction('open')?.epoch, txn.epoch + 1, 'fenced');
    assert.deepEqual(await core.client.endTransaction(txn, true), { kind: 'refused', reason: 'fenced' });
  });

  test('a durable commit decision whose data a crash took is carried out as an abort at start', async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'torn');
    await append(core.client, txn, 0, 'a');
    await core.broker.close();
    // The decision was durable, the transaction's second batch (offsets 1–2) was not: the partition
    // ends at 1 where the decision says the data ends at 3.
    const dataEnds = [{ stream: 'orders', partition: 0, end: 3 }];
    await writeTxnEntries(storage, [{ type: 'prepare', id: 'torn', commit: true, dataEnds, at: 1 }]);
    core = await openCore({ storage });
    const partition = core.client.partition('orders', 0);
    assert.equal(partition.stableOffset, partition.endOffset);
    assert.deepEqual(committedValues(partition), [entryFormat.withheld, entryFormat.withheld]);
    assert.deepEqual(partition.abortedBetween(0, 10), [
      { producerId: txn.producerId, firstOffset: 0, markerOffset: 1 },
    ]);
    assert.equal(core.client.describeTransaction('torn')?.epoch, txn.epoch + 1, 'fenced');
    await core.broker.close();
    // Decided again as an abort before its markers went out: a crash then could not commit it.
    const log = await storage.openLog(stateLogName('transactions', '/'));
    const decisions = log
      .read(0, { maxEntries: 1000 })
      .map((e) => decodeJson(e.payload) as { t?: string; id?: string; commit?: boolean })
      .filter((e) => e.id === 'torn' && (e.t === 'prepare' || e.t === 'complete'))
      .map((e) => `${e.t} ${e.commit}`);
    await log.close();
    assert.deepEqual(decisions, ['prepare true', 'prepare false', 'complete false']);
    core = await openCore({ storage });
  });

  test('InitProducerId after a commit is answered once the commit’s markers are durable: its entry drops the ending a restart would mark again', async () => {
    register();
    const held = holdDurability(new MemoryStorage(), (name) => name === partitionLogName('/', 'orders', 0));
    core = await openCore({ storage: held.storage });
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await begin(client, 'reinit');
    await append(client, txn, 0, 'a');
    held.hold(); // the commit's marker stays on its way to disk
    assert.equal((await client.endTransaction(txn, true)).kind, 'ok');
    let answered = false;
    const next = client.initTransactional('reinit', 5000, -1, -1).then((r) => {
      answered = true;
      return r;
    });
    await settle(5);
    assert.equal(answered, false, 'not while the marker may still be lost');
    held.release();
    assert.deepEqual(await next, { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch + 1 });
  });

  test('two InitProducerIds of one id at once: one is given the next epoch, the other CONCURRENT_TRANSACTIONS, never both the same epoch', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await begin(client, 'twice');
    assert.equal((await client.endTransaction(txn, true)).kind, 'ok');
    const answers = await Promise.all([
      client.initTransactional('twice', 5000, -1, -1),
      client.initTransactional('twice', 5000, -1, -1),
    ]);
    assert.deepEqual(answers, [
      { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch + 1 },
      { kind: 'refused', reason: 'concurrent' },
    ]);
    // The client's retry, once the first is answered, fences it in turn.
    const retried = await client.initTransactional('twice', 5000, -1, -1);
    assert.deepEqual(retried, { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch + 2 });
  });

  test('a commit is answered once its batches are durable, which were answered once appended; it survives a restart whole', async () => {
    register();
    const held = holdDurability(new MemoryStorage(), (name) => name === partitionLogName('/', 'orders', 0));
    core = await openCore({ storage: held.storage });
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await begin(core.client, 'quick');
    await append(core.client, txn, 0, 'a');
    held.hold();
    await append(core.client, txn, 1, 'b');
    let committed = false;
    const ending = core.client.endTransaction(txn, true).then((r) => {
      committed = true;
      return r;
    });
    await settle(5);
    assert.equal(committed, false, 'not before its second batch is durable');
    held.release();
    assert.deepEqual(await ending, { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch });
    await core.broker.close();
    core = await openCore({ storage: core.storage });
    assert.equal(core.client.describeTransaction('quick')?.phase, 'completeCommit');
    assert.deepEqual(committedValues(core.client.partition('orders', 0)), ['a', 'b', entryFormat.withheld]);
  });
});

describe('transaction version 2 (KIP-890 part 2) in core', () => {
  let core: CoreFixture | undefined;
  afterEach(async () => {
    await core?.broker.close();
    unregisterEntryFormat(testFormat);
  });

  async function init(client: CoreClient, id: string): Promise<TxnInstance> {
    const given = await client.initTransactional(id, 5000, -1, -1);
    if (given.kind !== 'ok') throw new Error(`init refused: ${given.reason}`);
    return { transactionalId: id, producerId: given.producerId, epoch: given.epoch };
  }

  const v2 = { addsPartition: true } as const;

  test('a batch adds its own partition; each end names the next epoch, which fences the one before', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 2 });
    const txn = await init(client, 'v2');
    // The first flow still needs its AddPartitionsToTxn.
    assert.deepEqual(await append(client, txn, 0, 'x'), { kind: 'refused', reason: 'notInTransaction' });
    assert.equal((await append(client, txn, 0, 'a0', v2)).kind, 'appended');
    assert.equal((await append(client, txn, 0, 'a1', { ...v2, partition: 1 })).kind, 'appended');
    assert.equal(client.partition('orders', 0).stableOffset, 0, 'the implicit add holds the stable offset');
    assert.deepEqual(client.describeTransaction('v2')?.partitions, [
      { stream: 'orders', partition: 0 },
      { stream: 'orders', partition: 1 },
    ]);
    const ended = client.endTransaction(txn, true, true);
    // The next epoch's first batch, sent as soon as it is known, waits for the end under way.
    const next = { ...txn, epoch: txn.epoch + 1 };
    const kinds: string[] = [];
    const b0 = append(client, next, 0, 'b0', { ...v2, waited: (kind) => kinds.push(kind) });
    assert.deepEqual(await ended, { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch + 1 });
    assert.equal((await b0).kind, 'appended');
    assert.equal(kinds[0], 'wait');
    assert.deepEqual(await append(client, txn, 1, 'zombie', v2), { kind: 'refused', reason: 'staleEpoch' });
    const aborted = await client.endTransaction(next, false, true);
    assert.deepEqual(aborted, { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch + 2 });
    // EndTxn sent again by the instance before is answered with the one after; the other way is
    // refused, and an instance older still is fenced.
    assert.deepEqual(await client.endTransaction(next, false, true), aborted);
    assert.deepEqual(await client.endTransaction(next, true, true), {
      kind: 'refused',
      reason: 'invalidState',
    });
    assert.deepEqual(await client.endTransaction(txn, false, true), { kind: 'refused', reason: 'fenced' });
    const w = entryFormat.withheld;
    assert.deepEqual(committedValues(client.partition('orders', 0)), ['a0', w, w, w]);
    assert.deepEqual(committedValues(client.partition('orders', 1)), ['a1', w]);
    assert.deepEqual(client.partition('orders', 0).abortedBetween(0, 10), [
      { producerId: txn.producerId, firstOffset: 2, markerOffset: 3 },
    ]);
  });

  test('with nothing open an abort still bumps the epoch and a commit is refused', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await init(client, 'idle');
    assert.deepEqual(await client.endTransaction(txn, true, true), {
      kind: 'refused',
      reason: 'invalidState',
    });
    const aborted = await client.endTransaction(txn, false, true);
    assert.deepEqual(aborted, { kind: 'ok', producerId: txn.producerId, epoch: txn.epoch + 1 });
    assert.equal(client.describeTransaction('idle')?.epoch, txn.epoch + 1);
    // The first flow's end the way the last one ended is still answered as done, without a bump.
    const after = { producerId: txn.producerId, epoch: txn.epoch + 1 };
    assert.deepEqual(await client.endTransaction({ ...txn, ...after }, false), { kind: 'ok', ...after });
    assert.equal(client.partition('orders', 0).endOffset, 0, 'no marker where nothing was written');
  });

  test('an abort with nothing open, sent right after an end whose completion still waits for the markers before it, waits and bumps instead of being fenced (KAFKA-18464)', async () => {
    register();
    const held = holdDurability(new MemoryStorage(), (name) => name === partitionLogName('/', 'orders', 0));
    core = await openCore({ storage: held.storage });
    const { client } = core;
    await client.createStream('orders', { partitions: 2 });
    const first = await init(client, 'quick-abort');
    await append(client, first, 0, 'a', v2);
    held.hold(); // this end's markers stay on their way to disk
    const one = await client.endTransaction(first, true, true);
    assert.equal(one.kind, 'ok');
    const second = { ...first, epoch: first.epoch + 1 };
    await append(client, second, 0, 'b', { ...v2, partition: 1 });
    const two = await client.endTransaction(second, true, true);
    assert.deepEqual(two, { kind: 'ok', producerId: first.producerId, epoch: first.epoch + 2 });
    // Answered; its completion waits for the first end's markers. The client goes on at once.
    const third = { ...first, epoch: first.epoch + 2 };
    const aborted = client.endTransaction(third, false, true);
    await settle(5);
    assert.equal(client.describeTransaction('quick-abort')?.phase, 'prepareCommit');
    held.release();
    assert.deepEqual(await aborted, { kind: 'ok', producerId: first.producerId, epoch: first.epoch + 3 });
  });

  test('past the last epoch an end hands over to a new producer id at epoch 0; the markers keep the old one', async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const first = await init(core.client, 'last');
    await core.broker.close();
    // The id has come to its last epoch (32766), as 32,766 transactions of transaction version 2 leave it.
    const last = 0x7ffe;
    await writeTxnEntries(storage, [
      { type: 'producer', id: 'last', producerId: first.producerId, epoch: last, timeoutMs: 5000, at: 1 },
    ]);
    core = await openCore({ storage });
    const { client } = core;
    const txn = { ...first, epoch: last };
    assert.equal((await append(client, txn, 0, 'x', v2)).kind, 'appended');
    const ended = await client.endTransaction(txn, false, true);
    assert.equal(ended.kind, 'ok');
    if (ended.kind !== 'ok') return;
    assert.notEqual(ended.producerId, txn.producerId);
    assert.equal(ended.epoch, 0);
    assert.deepEqual(await client.endTransaction(txn, false, true), ended, 'a retry is answered alike');
    const partition = client.partition('orders', 0);
    assert.deepEqual(partition.abortedBetween(0, 10), [
      { producerId: txn.producerId, firstOffset: 0, markerOffset: 1 },
    ]);
    const next = { transactionalId: 'last', producerId: ended.producerId, epoch: 0 };
    assert.deepEqual(await append(client, txn, 1, 'zombie', v2), {
      kind: 'refused',
      reason: 'notInTransaction',
    });
    assert.equal((await append(client, next, 0, 'y', v2)).kind, 'appended');
    assert.deepEqual(await client.endTransaction(next, true, true), {
      kind: 'ok',
      producerId: ended.producerId,
      epoch: 1,
    });
    const w = entryFormat.withheld;
    assert.deepEqual(committedValues(partition), [w, w, 'y', w]);
    await core.broker.close();
    core = await openCore({ storage });
    const summary = core.client.describeTransaction('last');
    assert.deepEqual([summary?.producerId, summary?.epoch], [ended.producerId, 1]);
  });

  test('a decided end with its next epoch and no completion at start is completed and hands over', async () => {
    register();
    core = await openCore();
    const { storage } = core;
    await core.client.createStream('orders', { partitions: 1 });
    const txn = await init(core.client, 'crash');
    await append(core.client, txn, 0, 'kept', v2);
    await core.broker.close();
    // What the log holds when the process died right after writing an EndTxn v5 decision.
    const next = { producerId: txn.producerId, epoch: txn.epoch + 1 };
    await writeTxnEntries(storage, [{ type: 'prepare', id: 'crash', commit: true, at: 1, next }]);
    core = await openCore({ storage });
    await settle(20);
    const summary = core.client.describeTransaction('crash');
    assert.deepEqual([summary?.phase, summary?.epoch], ['completeCommit', txn.epoch + 1]);
    assert.deepEqual(committedValues(core.client.partition('orders', 0)), ['kept', entryFormat.withheld]);
    // The client, told the next epoch before the crash, goes on with it.
    const after = { ...txn, epoch: txn.epoch + 1 };
    assert.equal((await append(core.client, after, 0, 'more', v2)).kind, 'appended');
  });

  test('a transaction that only added its partitions itself is aborted on each at a restart after a crash and its producer fenced', async () => {
    register();
    core = await openCore();
    const { storage, clock } = core;
    await core.client.createStream('orders', { partitions: 2 });
    const txn = await init(core.client, 'open');
    await append(core.client, txn, 0, 'p0', v2);
    await append(core.client, txn, 0, 'p1', { ...v2, partition: 1 });
    await core.broker.close();
    // An entry after the clean close's `closed`: the log no longer ends with it, as after a crash.
    await writeTxnEntries(storage, [{ type: 'scan', stream: 'orders', partition: 0, offset: 0 }]);
    core = await openCore({ storage, clock });
    for (const p of [0, 1].map((i) => core!.client.partition('orders', i))) {
      assert.equal(p.stableOffset, p.endOffset);
      assert.deepEqual(committedValues(p), [entryFormat.withheld, entryFormat.withheld]);
      assert.deepEqual(p.abortedBetween(0, 10), [
        { producerId: txn.producerId, firstOffset: 0, markerOffset: 1 },
      ]);
    }
    assert.equal(core.client.describeTransaction('open')?.epoch, txn.epoch + 1, 'fenced');
  });

  test('TxnOffsetCommit v5 adds its group itself; the first flow still needs AddOffsetsToTxn', async () => {
    register();
    core = await openCore();
    const { client } = core;
    await client.createStream('orders', { partitions: 1 });
    const txn = await init(client, 'offsets');
    const offsets = [{ stream: 'orders', partition: 0, offset: { offset: 7, metadata: '', committedAt: 1 } }];
    assert.deepEqual(await client.commitTransactionOffsets(txn, 'g', offsets), {
      kind: 'refused',
      reason: 'invalidState',
    });
    assert.deepEqual(await client.commitTransactionOffsets(txn, 'g', offsets, true), { kind: 'ok' });
    assert.deepEqual(client.describeTransaction('offsets')?.groups, ['g']);
    assert.equal(client.fetchOffset('g', 'orders', 0), undefined, 'not before the commit');
    assert.equal((await client.endTransaction(txn, true, true)).kind, 'ok');
    assert.equal(client.fetchOffset('g', 'orders', 0)?.offset, 7);
  });

  test('a transaction names at most transactionGroupsMax groups and holds at most transactionOffsetsMax offsets; past them INVALID_TXN_STATE, nothing added', async () => {
    register();
    core = await openCore();
    const { client } = core;
    const txn = await init(client, 'wide');
    const invalid = { kind: 'refused', reason: 'invalidState' };
    const at = (partition: number) => ({
      stream: 'orders',
      partition,
      offset: { offset: 1, metadata: '', committedAt: 1 },
    });
    const groups = Array.from({ length: transactionGroupsMax }, (_, i) => `g${i}`);
    for (const group of groups)
      assert.deepEqual(await client.addGroupToTransaction(txn, group), { kind: 'ok' });
    // Before, every one was added, kept with its offsets until the transaction ended.
    assert.deepEqual(await client.addGroupToTransaction(txn, 'one-more'), invalid);
    assert.deepEqual(await client.commitTransactionOffsets(txn, 'one-more', [at(0)], true), invalid);
    assert.deepEqual(await client.addGroupToTransaction(txn, 'g0'), { kind: 'ok' }, 'a group already in');
    const offsets = Array.from({ length: transactionOffsetsMax }, (_, i) => at(i));
    assert.deepEqual(await client.commitTransactionOffsets(txn, 'g0', offsets), { kind: 'ok' });
    assert.deepEqual(await client.commitTransactionOffsets(txn, 'g1', [at(0)]), invalid);
    assert.deepEqual(
      await client.commitTransactionOffsets(txn, 'g0', [at(0)]),
      { kind: 'ok' },
      'one held, again',
    );
    const described = client.describeTransaction('wide');
    assert.equal(described?.groups.length, transactionGroupsMax);
    assert.equal((await client.endTransaction(txn, false, true)).kind, 'ok');
  });

  test('a new transactional id has at most transactionalIdCharsMax characters; a longer one is refused and not kept', async () => {
    core = await openCore();
    const { client } = core;
    // Before, any length was kept, in memory and in every snapshot: 100,000 ids of 32 KB are 3.2 GB.
    const long = 'x'.repeat(transactionalIdCharsMax + 1);
    await assert.rejects(client.initTransactional(long, 5000, -1, -1), { code: 'invalid_argument' });
    assert.equal(client.describeTransaction(long), undefined);
    const longest = 'x'.repeat(transactionalIdCharsMax);
    assert.equal((await client.initTransactional(longest, 5000, -1, -1)).kind, 'ok');
  });
});

/** Appends `entries` to the transaction log of a stopped broker's storage, as a process that died after writing them left it. */
async function writeTxnEntries(storage: CoreFixture['storage'], entries: readonly TxnEntry[]): Promise<void> {
  const log = await storage.openLog(stateLogName('transactions', '/'));
  for (const entry of entries) {
    const payload = encodeJson(txnMachine.encode(entry));
    await log.append({ payload, timestamp: 1, format: recordFormat.entry }).durable;
  }
  await log.close();
}
