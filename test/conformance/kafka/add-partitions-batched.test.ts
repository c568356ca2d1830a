/**
 * AddPartitionsToTxn v4–5 (KIP-890 part 1), the form a partition leader sends the transaction
 * coordinator, by raw requests (no client sends it): several transactions in one request, each answered
 * on its own; VerifyOnly tells whether each partition is in the transaction without adding it
 * (TRANSACTION_ABORTABLE from v5, INVALID_TXN_STATE at v4); a plain one adds; an unknown id, another
 * producer id or epoch, an unknown partition and an empty id get Kafka's codes; and the whole request
 * needs CLUSTER_ACTION on the cluster (top-level CLUSTER_AUTHORIZATION_FAILED), while v3 does not.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, kafkaClient, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const topic = 'batched-txn';

interface Txn {
  readonly transactionalId: string;
  readonly producerId: bigint;
  readonly producerEpoch: number;
}

/** One transaction of a v4–5 request: its partitions of `topic`, verified only or added. */
const entry = (t: Txn, partitions: number[], verifyOnly: boolean) => ({
  ...t,
  verifyOnly,
  topics: [{ name: topic, partitions }],
});

/** Each transaction's `[partition, code]` pairs, by transactional id. */
function codesOf(response: Obj): Record<string, Array<[number, number]>> {
  const out: Record<string, Array<[number, number]>> = {};
  for (const r of response.resultsByTransaction)
    out[r.transactionalId] = r.topicResults.flatMap((t: Obj) =>
      t.resultsByPartition.map((p: Obj) => [p.partitionIndex, p.partitionErrorCode]),
    );
  return out;
}

describe('AddPartitionsToTxn v4–5 (KIP-890 part 1)', () => {
  let kb: KafkaTestBroker;
  let wire: WireClient;
  let txn: Txn;
  const send = (version: number, transactions: object[]) =>
    wire.request<Obj>(ApiKey.AddPartitionsToTxn, version, { transactions });
  const held = async (id: string) => {
    const d = await wire.request<Obj>(ApiKey.DescribeTransactions, 0, { transactionalIds: [id] });
    return d.transactionStates[0].topics.flatMap((t: Obj) => t.partitions).sort();
  };

  before(async () => {
    kb = await startKafkaBroker();
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 2 }] });
    await admin.disconnect();
    wire = await WireClient.open(kb.port);
    const init = await wire.request<Obj>(ApiKey.InitProducerId, 4, {
      transactionalId: 'bt-1',
      transactionTimeoutMs: 60_000,
      producerId: -1n,
      producerEpoch: -1,
    });
    assert.equal(init.errorCode, KafkaError.none);
    txn = { transactionalId: 'bt-1', producerId: init.producerId, producerEpoch: init.producerEpoch };
  });
  after(async () => {
    wire.close();
    await kb.stop();
  });

  test('ApiVersions advertises AddPartitionsToTxn up to 5', async () => {
    const versions = await wire.request<Obj>(ApiKey.ApiVersions, 3, {
      clientSoftwareName: 't',
      clientSoftwareVersion: '1',
    });
    const api = versions.apiKeys.find((k: Obj) => k.apiKey === ApiKey.AddPartitionsToTxn);
    assert.deepEqual([api?.minVersion, api?.maxVersion], [0, 5]);
  });

  test('VerifyOnly answers without adding; a plain entry adds; v4 and v5 name a missing partition differently', async () => {
    const before5 = await send(5, [entry(txn, [0, 1], true)]);
    assert.equal(before5.errorCode, KafkaError.none);
    assert.deepEqual(codesOf(before5), {
      'bt-1': [
        [0, KafkaError.transactionAbortable],
        [1, KafkaError.transactionAbortable],
      ],
    });
    const before4 = await send(4, [entry(txn, [0], true)]);
    assert.deepEqual(codesOf(before4), { 'bt-1': [[0, KafkaError.invalidTxnState]] });
    assert.deepEqual(await held('bt-1'), [], 'a verification adds nothing');

    const added = await send(5, [entry(txn, [0], false)]);
    assert.deepEqual(codesOf(added), { 'bt-1': [[0, KafkaError.none]] });
    assert.deepEqual(await held('bt-1'), [0]);

    const after5 = await send(5, [entry(txn, [0, 1], true)]);
    assert.deepEqual(codesOf(after5), {
      'bt-1': [
        [0, KafkaError.none],
        [1, KafkaError.transactionAbortable],
      ],
    });
    assert.deepEqual(await held('bt-1'), [0]);

    // Ended, the transaction holds nothing any more.
    const ended = await wire.request<Obj>(ApiKey.EndTxn, 3, { ...txn, committed: false });
    assert.equal(ended.errorCode, KafkaError.none);
    assert.deepEqual(codesOf(await send(5, [entry(txn, [0], true)])), {
      'bt-1': [[0, KafkaError.transactionAbortable]],
    });
  });

  test('several transactions in one request are answered each on its own', async () => {
    const response = await send(5, [
      entry(txn, [1], false),
      entry({ transactionalId: 'bt-unknown', producerId: 99n, producerEpoch: 0 }, [0, 1], true),
      entry({ ...txn, transactionalId: 'bt-empty' }, [0], false),
      entry({ ...txn, transactionalId: '' }, [0], true),
    ]);
    assert.equal(response.errorCode, KafkaError.none);
    assert.deepEqual(codesOf(response), {
      'bt-1': [[1, KafkaError.none]],
      'bt-unknown': [
        [0, KafkaError.invalidProducerIdMapping],
        [1, KafkaError.invalidProducerIdMapping],
      ],
      'bt-empty': [[0, KafkaError.invalidProducerIdMapping]],
      '': [[0, KafkaError.invalidRequest]],
    });
    await wire.request<Obj>(ApiKey.EndTxn, 3, { ...txn, committed: false });
  });

  test('another epoch is PRODUCER_FENCED, another producer id INVALID_PRODUCER_ID_MAPPING; an unknown partition refuses the rest', async () => {
    const stale = { ...txn, producerEpoch: txn.producerEpoch + 1 };
    const other = { ...txn, producerId: txn.producerId + 1000n };
    for (const verifyOnly of [true, false]) {
      assert.deepEqual(codesOf(await send(5, [entry(stale, [0], verifyOnly)])), {
        'bt-1': [[0, KafkaError.producerFenced]],
      });
      assert.deepEqual(codesOf(await send(5, [entry(other, [0], verifyOnly)])), {
        'bt-1': [[0, KafkaError.invalidProducerIdMapping]],
      });
    }
    assert.deepEqual(codesOf(await send(4, [entry(txn, [0, 9], false)])), {
      'bt-1': [
        [0, KafkaError.operationNotAttempted],
        [9, KafkaError.unknownTopicOrPartition],
      ],
    });
    assert.deepEqual(await held('bt-1'), []);
  });

  test('v4+ needs CLUSTER_ACTION on the cluster; v3 (a client) does not', async () => {
    const denied = await wire.request<Obj>(ApiKey.CreateAcls, 3, {
      creations: [
        {
          resourceType: 4, // CLUSTER
          resourceName: 'kafka-cluster',
          resourcePatternType: 3, // LITERAL
          principal: 'User:ANONYMOUS',
          host: '*',
          operation: 9, // CLUSTER_ACTION
          permissionType: 2, // DENY
        },
      ],
    });
    assert.equal(denied.results[0].errorCode, KafkaError.none);
    const refused = await send(5, [entry(txn, [0], true)]);
    assert.equal(refused.errorCode, KafkaError.clusterAuthorizationFailed);
    assert.deepEqual(refused.resultsByTransaction, []);
    const client = await wire.request<Obj>(ApiKey.AddPartitionsToTxn, 3, {
      v3AndBelowTransactionalId: txn.transactionalId,
      v3AndBelowProducerId: txn.producerId,
      v3AndBelowProducerEpoch: txn.producerEpoch,
      v3AndBelowTopics: [{ name: topic, partitions: [0] }],
    });
    assert.equal(
      client.resultsByTopicV3AndBelow[0].resultsByPartition[0].partitionErrorCode,
      KafkaError.none,
    );
  });
});
