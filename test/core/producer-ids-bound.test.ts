/**
 * What one client can make core keep of producers: idempotent producer ids and transactional ids
 * are bounded (`producerIdsMax`, `transactionalIdsMax`, the least recently used idle ones evicted
 * past the bound) and expire as Kafka expires them (producer.id.expiration.ms, one day;
 * transactional.id.expiration.ms, seven days), and neither comes back at a restart. Before, each
 * id handed out was kept for good: a client that made 100,000 transactional ids locked every other
 * transactional producer of the vhost out, across restarts.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CoreClient, CoreLimits, TxnInstance } from '../../src/core/api.js';
import { producerIdExpirationCheckMs, producerIdExpirationMs } from '../../src/core/producers.js';
import {
  transactionalIdExpirationCheckMs,
  transactionalIdExpirationMs,
} from '../../src/core/transactions.js';
import { ManualClock } from '../../src/shared/clock.js';
import { restartableCoreEachTest, settle } from '../../testing/core-helpers.js';

const limits: Partial<CoreLimits> = { producerIdsMax: 50, transactionalIdsMax: 20 };
const hourMs = 60 * 60 * 1000;
const forgotten = { kind: 'refused', reason: 'unknownProducer' };

async function newProducer(client: CoreClient): Promise<number> {
  const init = await client.initProducer(-1, -1);
  assert.equal(init.kind, 'ok');
  return init.kind === 'ok' ? init.producerId : -1;
}

/** The answer to producer `producerId`'s batch of sequence `sequence` (epoch 0) to orders/0. */
async function append(client: CoreClient, producerId: number, sequence: number): Promise<string> {
  const batch = { producerId, epoch: 0, baseSequence: sequence, count: 1, transactional: false };
  const options = { timestamp: 1, format: 1 };
  const result = client.appendIdempotent('orders', 0, batch, Uint8Array.of(sequence), options);
  if (result.kind === 'appended') await result.durable;
  if (result.kind === 'wait') await result.until;
  return result.kind === 'refused' ? result.reason : result.kind;
}

async function transactional(client: CoreClient, id: string): Promise<TxnInstance> {
  const init = await client.initTransactional(id, 60_000, -1, -1);
  assert.equal(init.kind, 'ok', `InitProducerId for ${id}`);
  if (init.kind !== 'ok') throw new Error('unreachable');
  return { transactionalId: id, producerId: init.producerId, epoch: init.epoch };
}

const restartable = restartableCoreEachTest(limits);

describe('idempotent producer ids one client makes', () => {
  test('past producerIdsMax a new id evicts the least recently used; a restart brings none back and reuses no number', async () => {
    const { open } = restartable();
    let client = await open();
    await client.createStream('orders', { partitions: 1 });
    const polite = await newProducer(client);
    assert.equal(await append(client, polite, 0), 'appended');
    const flood: number[] = [];
    for (let i = 0; i < 49; i++) flood.push(await newProducer(client));
    assert.equal(await append(client, polite, 1), 'appended', 'the polite producer is now the most recent');
    for (let i = 0; i < 10; i++) flood.push(await newProducer(client));
    assert.equal(await append(client, polite, 2), 'appended');
    assert.deepEqual(await client.initProducer(flood[0]!, 0), forgotten, 'the oldest flood id went');
    assert.equal(await append(client, flood[58]!, 0), 'appended', 'the newest is served');
    client = await open();
    await settle();
    assert.deepEqual(await client.initProducer(flood[0]!, 0), forgotten, 'not back after a restart');
    assert.equal(await append(client, polite, 3), 'appended');
    const next = await newProducer(client);
    assert.ok(next > flood.at(-1)!, `a new id (${next}) is none handed out before`);
  });

  test('an idempotent producer id unused for producer.id.expiration.ms is forgotten', async () => {
    const { clock, open } = restartable();
    const client = await open();
    await client.createStream('orders', { partitions: 1 });
    const idle = await newProducer(client);
    const busy = await newProducer(client);
    assert.equal(await append(client, idle, 0), 'appended');
    clock.advance(producerIdExpirationMs / 2);
    assert.equal(await append(client, busy, 0), 'appended');
    clock.advance(producerIdExpirationMs / 2 + producerIdExpirationCheckMs);
    await settle();
    assert.deepEqual(await client.initProducer(idle, 0), forgotten);
    assert.equal(await append(client, busy, 1), 'appended');
    // Kafka takes a batch of any sequence from a producer whose state expired (KIP-360); before, it
    // was UNKNOWN_PRODUCER_ID, which the client met again at every batch after bumping its epoch.
    assert.equal(await append(client, idle, 1), 'appended', 'its next batch starts its state again');
    assert.equal(await append(client, idle, 2), 'appended');
    assert.equal(await append(client, idle, 1), 'duplicate', 'and retries are known again');
    assert.equal(await append(client, 10_000, 0), 'unknownProducer', 'an id never handed out stays unknown');
  });
});

describe('transactional ids one client makes', () => {
  test('past transactionalIdsMax a new id evicts the longest idle ones, never one in a transaction', async () => {
    const { clock, open } = restartable();
    let client = await open();
    await client.createStream('orders', { partitions: 1 });
    const open1 = await transactional(client, 'open');
    const added = await client.addToTransaction(open1, [{ stream: 'orders', partition: 0 }]);
    assert.deepEqual(added, { kind: 'ok' });
    // Before, the 20th and later ids were refused: every new transactional producer of the vhost.
    for (let i = 0; i < 40; i++) {
      await transactional(client, `flood-${i}`);
      clock.advance(1);
    }
    assert.ok(client.listTransactions().length <= 20);
    assert.equal(client.describeTransaction('flood-0'), undefined, 'the longest idle went');
    assert.notEqual(client.describeTransaction('flood-39'), undefined);
    assert.equal(client.describeTransaction('open')?.phase, 'ongoing', 'kept: a transaction is open');
    assert.equal((await client.endTransaction(open1, true)).kind, 'ok');
    client = await open();
    assert.equal(client.describeTransaction('flood-0'), undefined, 'not back after a restart');
    assert.ok(client.listTransactions().length <= 20);
  });

  test('a transactional id idle for transactional.id.expiration.ms is forgotten', async () => {
    const { clock, open } = restartable();
    const client = await open();
    const old = await transactional(client, 'old');
    clock.advance(transactionalIdExpirationMs - hourMs);
    await transactional(client, 'recent');
    clock.advance(hourMs + transactionalIdExpirationCheckMs);
    await settle();
    assert.equal(client.describeTransaction('old'), undefined);
    assert.notEqual(client.describeTransaction('recent'), undefined);
    const fresh = await transactional(client, 'old');
    assert.notEqual(fresh.producerId, old.producerId, 'the id starts afresh, as on Kafka');
  });
});

describe('what a transactional producer leaves on its partitions', () => {
  test('once its transactional id and then its producer id expire, DescribeProducers no longer lists it, across a restart', async () => {
    const { clock, open } = restartable();
    let client = await open();
    await client.createStream('orders', { partitions: 1 });
    const txn = await transactional(client, 'gone');
    assert.deepEqual(await client.addToTransaction(txn, [{ stream: 'orders', partition: 0 }]), {
      kind: 'ok',
    });
    const batch = {
      producerId: txn.producerId,
      epoch: txn.epoch,
      baseSequence: 0,
      count: 1,
      transactional: true,
    };
    const result = client.appendIdempotent('orders', 0, batch, Uint8Array.of(1), { timestamp: 1, format: 1 });
    assert.equal(result.kind, 'appended');
    if (result.kind === 'appended') await result.durable;
    assert.equal((await client.endTransaction(txn, true)).kind, 'ok');
    const listed = () => client.partitionProducers('orders', 0).map((p) => p.producerId);
    assert.deepEqual(listed(), [txn.producerId]);
    // The transactional id goes after seven days idle; its producer id, no longer held, at the next check.
    clock.advance(transactionalIdExpirationMs + transactionalIdExpirationCheckMs);
    await settle();
    clock.advance(producerIdExpirationCheckMs);
    await settle();
    assert.equal(client.describeTransaction('gone'), undefined);
    assert.deepEqual(listed(), [], 'its batch and marker state went with its producer id, as on Kafka');
    client = await open();
    await settle();
    assert.deepEqual(listed(), [], 'and do not come back at a restart');
  });
});
