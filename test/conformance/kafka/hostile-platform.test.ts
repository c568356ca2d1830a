/**
 * Hostile and careless clients of the platform APIs (transactions, configs, share groups, KIP-848,
 * DeleteRecords) on a live broker, by raw requests: malformed acknowledgements, huge counts inside a
 * valid frame, out-of-range offsets, requests for the wrong state, pipelined floods, a member that
 * never acknowledges, a topic deleted and created again under running groups and transactions. What
 * must hold: each gets the error Apache Kafka gives, nothing stored or committed is lost or made up,
 * another connection is answered meanwhile, and the Describe/List APIs tell the truth afterwards.
 * Every flood is bounded in count; each test well under 20 s.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import {
  type KafkaTestBroker,
  kafkaClient,
  sleep,
  startKafkaBroker,
} from '../../../testing/kafka-helpers.js';
import { compactNowRequest, WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const int64Max = 9_223_372_036_854_775_807n;
/**
 * How long another connection may wait for ApiVersions while a hostile request is handled: decoding
 * and encoding a message of 100,000 entries alone takes seconds on a loaded machine (load 15 here),
 * while the faults fixed here held every connection for 20 s and more.
 */
const othersAnsweredWithinMs = 15_000;
/** Entries in the huge-count requests: each frame stays a few MB, far under frameBytesMax. */
const hugeCount = 100_000;
/** Requests one connection pipelines without waiting for an answer. */
const pipelined = 1000;

/** InitProducerId for a transactional id, then `partitions` of `topic` added to its transaction. */
async function openTransaction(
  client: WireClient,
  transactionalId: string,
  added: { topic: string; partitions: number[] } | undefined,
  transactionTimeoutMs = 60_000,
) {
  const r = await client.request<Obj>(ApiKey.InitProducerId, 4, {
    transactionalId,
    transactionTimeoutMs,
    producerId: -1n,
    producerEpoch: -1,
  });
  assert.equal(r.errorCode, KafkaError.none);
  const ids = {
    transactionalId,
    producerId: r.producerId as bigint,
    producerEpoch: r.producerEpoch as number,
  };
  if (added === undefined) return ids;
  const answer = await client.request<Obj>(ApiKey.AddPartitionsToTxn, 3, {
    v3AndBelowTransactionalId: transactionalId,
    v3AndBelowProducerId: ids.producerId,
    v3AndBelowProducerEpoch: ids.producerEpoch,
    v3AndBelowTopics: [{ name: added.topic, partitions: added.partitions }],
  });
  for (const p of answer.resultsByTopicV3AndBelow[0].resultsByPartition)
    assert.equal(p.partitionErrorCode, KafkaError.none);
  return ids;
}

describe('hostile clients of the Kafka platform APIs', () => {
  let kb: KafkaTestBroker;
  let wire: WireClient;
  let other: WireClient;

  const createTopic = async (topic: string, partitions = 1): Promise<string> => {
    const created = await wire.request<Obj>(ApiKey.CreateTopics, 7, {
      topics: [
        { name: topic, numPartitions: partitions, replicationFactor: 1, assignments: [], configs: [] },
      ],
      timeoutMs: 5000,
      validateOnly: false,
    });
    assert.equal(created.topics[0].errorCode, KafkaError.none, `create ${topic}`);
    return created.topics[0].topicId;
  };
  const deleteTopic = async (topic: string) => {
    const deleted = await wire.request<Obj>(ApiKey.DeleteTopics, 5, { topicNames: [topic], timeoutMs: 5000 });
    assert.equal(deleted.responses[0].errorCode, KafkaError.none, `delete ${topic}`);
  };
  const produce = async (topic: string, count: number) => {
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    await producer.send({
      topic,
      messages: Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `v${i}` })),
    });
    await producer.disconnect();
  };
  /** Sends a request, checks that another connection is answered meanwhile, then takes the answer. */
  const meanwhile = async (api: number, version: number, body: object): Promise<Obj> => {
    const id = wire.send(api, version, body);
    const pong = other.send(ApiKey.ApiVersions, 0, {});
    const answered = await other.receive(ApiKey.ApiVersions, 0, othersAnsweredWithinMs);
    assert.equal(answered.correlationId, pong, 'another connection is served meanwhile');
    const got = await wire.receive<Obj>(api, version, 20_000);
    assert.equal(got.correlationId, id);
    return got.body;
  };

  before(async () => {
    // These attacks are on what handlers do with huge requests, so the bound that now closes a
    // connection sending them (kafkaRequestEntriesMax, request-entries.test.ts) is lifted here.
    kb = await startKafkaBroker({ kafka: { requestEntriesMax: 10 * hugeCount } });
    wire = await WireClient.open(kb.port);
    other = await WireClient.open(kb.port);
  });
  after(async () => {
    wire.close();
    other.close();
    await kb.stop();
  });

  describe('share groups (KIP-932)', () => {
    let topicId = '';
    const earliest = (groupId: string, lockMs?: number) =>
      wire.request<Obj>(ApiKey.IncrementalAlterConfigs, 1, {
        resources: [
          {
            resourceType: 32,
            resourceName: groupId,
            configs: [
              { name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' },
              ...(lockMs === undefined
                ? []
                : [{ name: 'share.record.lock.duration.ms', configOperation: 0, value: String(lockMs) }]),
            ],
          },
        ],
        validateOnly: false,
      });
    const join = async (groupId: string, memberId: string) => {
      const hb = await wire.request<Obj>(ApiKey.ShareGroupHeartbeat, 1, {
        groupId,
        memberId,
        memberEpoch: 0,
        subscribedTopicNames: ['shared'],
      });
      assert.equal(hb.errorCode, KafkaError.none);
    };
    const shareFetch = (groupId: string, memberId: string, epoch: number, maxRecords: number) =>
      wire.request<Obj>(ApiKey.ShareFetch, 1, {
        groupId,
        memberId,
        shareSessionEpoch: epoch,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        maxRecords,
        batchSize: maxRecords,
        topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: [] }] }],
      });
    const acquired = (r: Obj): number[][] =>
      r.responses.flatMap((t: Obj) =>
        t.partitions.flatMap((p: Obj) =>
          p.acquiredRecords.map((a: Obj) => [Number(a.firstOffset), Number(a.lastOffset), a.deliveryCount]),
        ),
      );
    const acknowledge = (groupId: string, memberId: string, epoch: number, batches: object[]) =>
      wire.request<Obj>(ApiKey.ShareAcknowledge, 1, {
        groupId,
        memberId,
        shareSessionEpoch: epoch,
        topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: batches }] }],
      });
    const codeOf = (r: Obj): number => r.responses[0].partitions[0].errorCode;
    const batch = (first: number | bigint, last: number | bigint, types: number[]) => ({
      firstOffset: BigInt(first),
      lastOffset: BigInt(last),
      acknowledgeTypes: types,
    });

    before(async () => {
      topicId = await createTopic('shared');
      await produce('shared', 40);
    });

    test('malformed acknowledgement batches are INVALID_REQUEST and settle nothing', async () => {
      await earliest('sg-malformed');
      await join('sg-malformed', 'malformed-member-00001');
      assert.deepEqual(acquired(await shareFetch('sg-malformed', 'malformed-member-00001', 0, 10)), [
        [0, 9, 1],
      ]);
      let epoch = 1;
      const malformed: Array<[string, object[]]> = [
        ['first past last', [batch(5, 2, [1])]],
        ['a type v1 does not know', [batch(0, 0, [4])]],
        ['neither one type nor one per offset', [batch(0, 3, [1, 1])]],
        ['no type', [batch(0, 0, [])]],
        ['a negative offset', [batch(-5, -1, [1])]],
        // Kafka's check: a batch must start past the one before it; the first one alone is fine,
        // so applying it first would accept records 0-3 and answer an error.
        ['overlapping batches', [batch(0, 3, [1]), batch(2, 4, [1])]],
        ['batches out of order', [batch(5, 6, [1]), batch(0, 1, [1])]],
      ];
      for (const [what, batches] of malformed) {
        const r = await acknowledge('sg-malformed', 'malformed-member-00001', epoch++, batches);
        assert.equal(r.errorCode, KafkaError.none, what);
        assert.equal(codeOf(r), KafkaError.invalidRequest, what);
      }
      // Nothing above settled anything: every record is still the member's to accept, once.
      const accepted = await acknowledge('sg-malformed', 'malformed-member-00001', epoch++, [
        batch(0, 9, [1]),
      ]);
      assert.equal(codeOf(accepted), KafkaError.none);
      const twice = await acknowledge('sg-malformed', 'malformed-member-00001', epoch++, [batch(0, 0, [1])]);
      assert.equal(codeOf(twice), KafkaError.invalidRecordState, 'accepted twice');
      const huge = await acknowledge('sg-malformed', 'malformed-member-00001', epoch++, [
        batch(int64Max - 1n, int64Max, [1]),
      ]);
      assert.equal(codeOf(huge), KafkaError.invalidRecordState, 'offsets never handed out');
    });

    test("a gap acknowledgement cannot settle another member's records; a failed request settles none", async () => {
      await earliest('sg-gap');
      await join('sg-gap', 'gap-member-a-000000001');
      await join('sg-gap', 'gap-member-b-000000001');
      // The simple assignor shares the one partition between both members.
      assert.deepEqual(acquired(await shareFetch('sg-gap', 'gap-member-a-000000001', 0, 5)), [[0, 4, 1]]);
      assert.deepEqual(acquired(await shareFetch('sg-gap', 'gap-member-b-000000001', 0, 5)), [[5, 9, 1]]);
      const stolen = await acknowledge('sg-gap', 'gap-member-a-000000001', 1, [batch(5, 9, [0])]);
      assert.equal(codeOf(stolen), KafkaError.invalidRecordState);
      // All or none: the second batch names b's records, so a's own first batch is not applied either.
      const mixed = await acknowledge('sg-gap', 'gap-member-a-000000001', 2, [
        batch(0, 1, [1]),
        batch(6, 6, [1]),
      ]);
      assert.equal(codeOf(mixed), KafkaError.invalidRecordState);
      const ownA = await acknowledge('sg-gap', 'gap-member-a-000000001', 3, [batch(0, 4, [1])]);
      assert.equal(codeOf(ownA), KafkaError.none, "a's records were left as they were");
      const ownB = await acknowledge('sg-gap', 'gap-member-b-000000001', 1, [batch(5, 9, [1])]);
      assert.equal(codeOf(ownB), KafkaError.none, "b's records are still b's");
    });

    test('100,000 acknowledgement ranges in one request: answered, and others are served meanwhile', async () => {
      await earliest('sg-ranges');
      await join('sg-ranges', 'ranges-member-00000001');
      assert.deepEqual(acquired(await shareFetch('sg-ranges', 'ranges-member-00000001', 0, 10)), [[0, 9, 1]]);
      // Gap ranges of 7,000 offsets each, past what the member holds: 700 million offsets named.
      const batches = Array.from({ length: hugeCount }, (_, i) =>
        batch(10 + i * 7000, 10 + i * 7000 + 6999, [0]),
      );
      const r = await meanwhile(ApiKey.ShareAcknowledge, 1, {
        groupId: 'sg-ranges',
        memberId: 'ranges-member-00000001',
        shareSessionEpoch: 1,
        topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: batches }] }],
      });
      assert.equal(r.responses[0].partitions[0].errorCode, KafkaError.none);
      const accepted = await acknowledge('sg-ranges', 'ranges-member-00000001', 2, [batch(0, 9, [1])]);
      assert.equal(codeOf(accepted), KafkaError.none, 'the records the member holds are untouched');
    });

    test('1,000 ShareGroupHeartbeats pipelined on one connection: every one answered, in order', async () => {
      await join('sg-flood', 'flood-member-000000001');
      // About 75 KB: more than one read, and four times inflightRequestsMax, so reading pauses
      // while the first are handled and must resume for the rest.
      const sent = Array.from({ length: pipelined }, () =>
        wire.send(ApiKey.ShareGroupHeartbeat, 1, {
          groupId: 'sg-flood',
          memberId: 'flood-member-000000001',
          memberEpoch: 1,
          subscribedTopicNames: null,
        }),
      );
      for (const id of sent) {
        const got = await wire.receive<Obj>(ApiKey.ShareGroupHeartbeat, 1, 20_000);
        assert.equal(got.correlationId, id, 'in request order');
        assert.equal(got.body.errorCode, KafkaError.none);
      }
    });

    test('a share session past 10,000 partitions, or 100,000 subscribed topics, is INVALID_REQUEST', async () => {
      await earliest('sg-wide');
      await join('sg-wide', 'wide-member-0000000001');
      const r = await meanwhile(ApiKey.ShareFetch, 1, {
        groupId: 'sg-wide',
        memberId: 'wide-member-0000000001',
        shareSessionEpoch: 0,
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 20,
        maxRecords: 10,
        batchSize: 10,
        topics: [
          {
            topicId,
            partitions: Array.from({ length: hugeCount }, (_, partitionIndex) => ({
              partitionIndex,
              acknowledgementBatches: [],
            })),
          },
        ],
      });
      assert.equal(r.errorCode, KafkaError.invalidRequest);
      assert.equal(
        acquired(await shareFetch('sg-wide', 'wide-member-0000000001', 0, 5)).length,
        1,
        'no harm done',
      );
      const topics = Array.from({ length: hugeCount }, (_, i) => `t${i}`);
      const share = await wire.request<Obj>(ApiKey.ShareGroupHeartbeat, 1, {
        groupId: 'sg-wide',
        memberId: 'wide-member-0000000001',
        memberEpoch: 1,
        subscribedTopicNames: topics,
      });
      assert.equal(share.errorCode, KafkaError.invalidRequest, 'not cut to the first 10,000');
      const consumer = await wire.request<Obj>(ApiKey.ConsumerGroupHeartbeat, 1, {
        groupId: 'cg-wide',
        memberId: 'wide-consumer-00000001',
        memberEpoch: 0,
        rebalanceTimeoutMs: 30_000,
        subscribedTopicNames: topics,
        topicPartitions: [],
      });
      assert.equal(consumer.errorCode, KafkaError.invalidRequest);
    });

    test('a member whose connection closes, mid-fetch or after it: what it held goes to another at once', async () => {
      await earliest('sg-gone');
      const gone = await WireClient.open(kb.port);
      const fetchOn = (client: WireClient, memberId: string, maxWaitMs: number) =>
        client.send(ApiKey.ShareFetch, 1, {
          groupId: 'sg-gone',
          memberId,
          shareSessionEpoch: 0,
          maxWaitMs,
          minBytes: 1,
          maxBytes: 1 << 20,
          maxRecords: 5,
          batchSize: 5,
          topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: [] }] }],
        });
      await join('sg-gone', 'gone-member-0000000001');
      fetchOn(gone, 'gone-member-0000000001', 0);
      assert.deepEqual(acquired((await gone.receive<Obj>(ApiKey.ShareFetch, 1)).body), [[0, 4, 1]]);
      gone.close();
      await join('sg-gone', 'stay-member-0000000001');
      // Within the 30 s lock: the closed connection's records are the other member's now.
      await sleep(200);
      assert.deepEqual(acquired(await shareFetch('sg-gone', 'stay-member-0000000001', 0, 5)), [[0, 4, 2]]);

      // A fetch parked when its connection closes acquires nothing once records come.
      const parked = await WireClient.open(kb.port);
      await join('sg-gone', 'park-member-0000000001');
      // Everything there is handed out, so the parked fetch waits for new records.
      const rest = acquired(await shareFetch('sg-gone', 'stay-member-0000000001', 1, 500));
      const end = (rest.at(-1)?.[1] ?? 4) + 1;
      fetchOn(parked, 'park-member-0000000001', 5000);
      await sleep(200);
      parked.close();
      await sleep(200);
      await produce('shared', 5);
      const fresh = acquired(await shareFetch('sg-gone', 'stay-member-0000000001', 2, 5));
      assert.deepEqual(
        fresh,
        [[end, end + 4, 1]],
        'the new records were not taken for the closed connection',
      );
    });

    test('a member that never acknowledges: its records go to another once the lock expires', async () => {
      await earliest('sg-idle', 1000);
      await join('sg-idle', 'idle-member-0000000001');
      assert.deepEqual(acquired(await shareFetch('sg-idle', 'idle-member-0000000001', 0, 5)), [[0, 4, 1]]);
      await join('sg-idle', 'busy-member-0000000001');
      await sleep(1500);
      // b's share of the partition starts with what a held and let lapse, delivered a second time.
      const r = await shareFetch('sg-idle', 'busy-member-0000000001', 0, 5);
      assert.deepEqual(acquired(r), [[0, 4, 2]]);
      const late = await acknowledge('sg-idle', 'idle-member-0000000001', 1, [batch(0, 4, [1])]);
      assert.equal(codeOf(late), KafkaError.invalidRecordState, 'a lapsed lock is no longer the member’s');
      const described = await wire.request<Obj>(ApiKey.ShareGroupDescribe, 1, {
        groupIds: ['sg-idle'],
        includeAuthorizedOperations: false,
      });
      assert.deepEqual(described.groups[0].members.map((m: Obj) => m.memberId).sort(), [
        'busy-member-0000000001',
        'idle-member-0000000001',
      ]);
    });
  });

  describe('transactions (KIP-98, KIP-447)', () => {
    const init = (transactionalId: string) => openTransaction(wire, transactionalId, undefined);
    const describeTxn = async (id: string) =>
      (await wire.request<Obj>(ApiKey.DescribeTransactions, 0, { transactionalIds: [id] }))
        .transactionStates[0];
    const committedOffsets = async (groupId: string, topic: string, partitions: number[]) => {
      const r = await wire.request<Obj>(ApiKey.OffsetFetch, 7, {
        groupId,
        topics: [{ name: topic, partitionIndexes: partitions }],
        requireStable: true,
      });
      return r.topics[0].partitions.map((p: Obj) => p.committedOffset);
    };

    before(async () => {
      await createTopic('txn', 2);
    });

    test('TxnOffsetCommit of offsets a group cannot hold is refused, not acknowledged and then dropped', async () => {
      const ids = await init('txn-offsets');
      const added = await wire.request<Obj>(ApiKey.AddOffsetsToTxn, 3, { ...ids, groupId: 'g-offsets' });
      assert.equal(added.errorCode, KafkaError.none);
      for (const offset of [int64Max, -7n, 9_007_199_254_740_993n]) {
        const r = await wire.request<Obj>(ApiKey.TxnOffsetCommit, 3, {
          ...ids,
          groupId: 'g-offsets',
          topics: [{ name: 'txn', partitions: [{ partitionIndex: 0, committedOffset: offset }] }],
        });
        assert.equal(r.topics[0].partitions[0].errorCode, KafkaError.invalidRequest, String(offset));
      }
      const good = await wire.request<Obj>(ApiKey.TxnOffsetCommit, 3, {
        ...ids,
        groupId: 'g-offsets',
        topics: [{ name: 'txn', partitions: [{ partitionIndex: 1, committedOffset: 5n }] }],
      });
      assert.equal(good.topics[0].partitions[0].errorCode, KafkaError.none);
      const ended = await wire.request<Obj>(ApiKey.EndTxn, 3, { ...ids, committed: true });
      assert.equal(ended.errorCode, KafkaError.none);
      assert.deepEqual(await committedOffsets('g-offsets', 'txn', [0, 1]), [-1n, 5n]);
    });

    test('one partition named 100,000 times joins once; the commit carries it', async () => {
      const ids = await init('txn-repeated');
      const r = await meanwhile(ApiKey.AddPartitionsToTxn, 3, {
        v3AndBelowTransactionalId: ids.transactionalId,
        v3AndBelowProducerId: ids.producerId,
        v3AndBelowProducerEpoch: ids.producerEpoch,
        v3AndBelowTopics: [{ name: 'txn', partitions: Array.from({ length: hugeCount }, () => 0) }],
      });
      const codes = new Set(
        r.resultsByTopicV3AndBelow[0].resultsByPartition.map((p: Obj) => p.partitionErrorCode),
      );
      assert.deepEqual([...codes], [KafkaError.none]);
      const described = await describeTxn('txn-repeated');
      assert.equal(described.transactionState, 'Ongoing');
      assert.deepEqual(described.topics, [{ topic: 'txn', partitions: [0] }]);
      const ended = await wire.request<Obj>(ApiKey.EndTxn, 3, { ...ids, committed: true });
      assert.equal(ended.errorCode, KafkaError.none);
      assert.equal((await describeTxn('txn-repeated')).transactionState, 'CompleteCommit');
    });

    test('1,000 EndTxn pipelined, commit and abort alternating: answered in order, as Kafka would', async () => {
      const ids = await init('txn-flood');
      const added = await wire.request<Obj>(ApiKey.AddOffsetsToTxn, 3, { ...ids, groupId: 'g-flood' });
      assert.equal(added.errorCode, KafkaError.none);
      const sent = Array.from({ length: pipelined }, (_, i) =>
        wire.send(ApiKey.EndTxn, 3, { ...ids, committed: i % 2 === 0 }),
      );
      const pong = other.send(ApiKey.ApiVersions, 0, {});
      assert.equal((await other.receive(ApiKey.ApiVersions, 0, othersAnsweredWithinMs)).correlationId, pong);
      for (const [i, id] of sent.entries()) {
        const got = await wire.receive<Obj>(ApiKey.EndTxn, 3, 20_000);
        assert.equal(got.correlationId, id, 'in request order');
        // The first commits; a commit again is a retry of what is done, an abort is refused.
        assert.equal(got.body.errorCode, i % 2 === 0 ? KafkaError.none : KafkaError.invalidTxnState, `#${i}`);
      }
      assert.equal((await describeTxn('txn-flood')).transactionState, 'CompleteCommit');
    });

    test('a client that disconnects mid-transaction: the transaction times out and aborts', async () => {
      const quitter = await WireClient.open(kb.port);
      const r = await openTransaction(quitter, 'txn-quitter', { topic: 'txn', partitions: [0, 1] }, 1000);
      quitter.close();
      const listOngoing = async () =>
        (
          await wire.request<Obj>(ApiKey.ListTransactions, 1, {
            stateFilters: ['Ongoing'],
            producerIdFilters: [],
            durationFilter: -1n,
          })
        ).transactionStates.map((s: Obj) => s.transactionalId);
      assert.ok((await listOngoing()).includes('txn-quitter'));
      await sleep(2500);
      assert.ok(!(await listOngoing()).includes('txn-quitter'));
      // Aborted and its producer fenced by a new epoch, as Kafka's coordinator does at the timeout,
      // and described as Kafka describes it: CompleteAbort with the new epoch.
      const after = await describeTxn('txn-quitter');
      assert.deepEqual([after.transactionState, after.producerEpoch], ['CompleteAbort', r.producerEpoch + 1]);
      const late = await wire.request<Obj>(ApiKey.EndTxn, 3, {
        transactionalId: 'txn-quitter',
        producerId: r.producerId,
        producerEpoch: r.producerEpoch,
        committed: true,
      });
      assert.equal(late.errorCode, KafkaError.producerFenced, 'the quitter cannot commit it later');
    });
  });

  describe('configs (KIP-339)', () => {
    const incremental = (resources: object[]) =>
      wire.request<Obj>(ApiKey.IncrementalAlterConfigs, 1, { resources, validateOnly: false });
    const retention = async (topic: string) => {
      const r = await wire.request<Obj>(ApiKey.DescribeConfigs, 4, {
        resources: [{ resourceType: 2, resourceName: topic, configurationKeys: ['retention.ms'] }],
        includeSynonyms: false,
        includeDocumentation: false,
      });
      return r.results[0].configs[0].value;
    };

    before(async () => {
      await createTopic('configured');
    });

    test('a resource named twice is refused each time and changes nothing', async () => {
      const before = await retention('configured');
      const set = (value: string) => ({
        resourceType: 2,
        resourceName: 'configured',
        configs: [{ name: 'retention.ms', configOperation: 0, value }],
      });
      const r = await meanwhile(ApiKey.IncrementalAlterConfigs, 1, {
        resources: Array.from({ length: hugeCount }, (_, i) => set(String(60_000 + i))),
        validateOnly: false,
      });
      assert.equal(r.responses.length, hugeCount);
      for (const answer of [r.responses[0], r.responses[hugeCount - 1]]) {
        assert.equal(answer.errorCode, KafkaError.invalidRequest);
        assert.equal(answer.errorMessage, 'Each resource must appear at most once.');
      }
      const legacy = await wire.request<Obj>(ApiKey.AlterConfigs, 2, {
        resources: [1, 2].map(() => ({
          resourceType: 2,
          resourceName: 'configured',
          configs: [{ name: 'retention.ms', value: '1' }],
        })),
        validateOnly: false,
      });
      assert.deepEqual(
        legacy.responses.map((a: Obj) => a.errorCode),
        [KafkaError.invalidRequest, KafkaError.invalidRequest],
      );
      assert.equal(await retention('configured'), before, 'unchanged');
    });

    test('an operation KIP-339 does not define is INVALID_REQUEST', async () => {
      for (const configOperation of [4, 7, -1]) {
        const r = await incremental([
          {
            resourceType: 2,
            resourceName: 'configured',
            configs: [{ name: 'retention.ms', configOperation, value: '5' }],
          },
        ]);
        assert.equal(r.responses[0].errorCode, KafkaError.invalidRequest, `operation ${configOperation}`);
      }
    });

    test('APPEND, SUBTRACT or SET without a value is INVALID_REQUEST', async () => {
      for (const configOperation of [0, 2, 3]) {
        const r = await incremental([
          {
            resourceType: 2,
            resourceName: 'configured',
            configs: [{ name: 'cleanup.policy', configOperation, value: null }],
          },
        ]);
        assert.equal(r.responses[0].errorCode, KafkaError.invalidRequest, `operation ${configOperation}`);
        assert.equal(r.responses[0].errorMessage, 'Null value not supported for : cleanup.policy');
      }
    });

    test('DescribeConfigs of one topic 100,000 times describes it once', async () => {
      const r = await meanwhile(ApiKey.DescribeConfigs, 4, {
        resources: Array.from({ length: hugeCount }, () => ({
          resourceType: 2,
          resourceName: 'configured',
          configurationKeys: null,
        })),
        includeSynonyms: true,
        includeDocumentation: true,
      });
      assert.equal(r.results.length, hugeCount);
      assert.equal(r.results[0].errorCode, KafkaError.none);
      assert.ok(r.results[0].configs.length > 10);
      assert.equal(r.results[1].errorCode, KafkaError.invalidRequest);
      assert.deepEqual(r.results[1].configs, []);
    });
  });

  describe('consumer groups (KIP-848)', () => {
    test('a join without a rebalance timeout, or claiming partitions, is INVALID_REQUEST; stale and future epochs are fenced', async () => {
      const heartbeat = (body: object) =>
        wire.request<Obj>(ApiKey.ConsumerGroupHeartbeat, 1, {
          groupId: 'cg-careless',
          memberId: 'careless-member-000001',
          memberEpoch: 0,
          rebalanceTimeoutMs: 30_000,
          subscribedTopicNames: ['txn'],
          topicPartitions: [],
          ...body,
        });
      const refusals: Array<[object, string]> = [
        [{ rebalanceTimeoutMs: -1 }, 'RebalanceTimeoutMs must be provided in first request.'],
        [{ topicPartitions: null }, 'TopicPartitions must be empty when (re-)joining.'],
        [
          { topicPartitions: [{ topicId: '00000000-0000-0000-0000-000000000001', partitions: [0] }] },
          'TopicPartitions must be empty when (re-)joining.',
        ],
      ];
      for (const [body, message] of refusals) {
        const r = await heartbeat(body);
        assert.equal(r.errorCode, KafkaError.invalidRequest, message);
        assert.equal(r.errorMessage, message);
      }
      const joined = await heartbeat({});
      assert.equal(joined.errorCode, KafkaError.none);
      for (const memberEpoch of [joined.memberEpoch + 1, 2_147_483_647, -5]) {
        const r = await heartbeat({ memberEpoch, subscribedTopicNames: null, topicPartitions: null });
        assert.equal(r.errorCode, KafkaError.fencedMemberEpoch, `epoch ${memberEpoch}`);
      }
    });
  });

  describe('compacted topics', () => {
    test('keyless records are refused whole, tombstones kept; a topic created again under the name is not compacted', async () => {
      const created = await wire.request<Obj>(ApiKey.CreateTopics, 7, {
        topics: [
          {
            name: 'compacted',
            numPartitions: 1,
            replicationFactor: 1,
            assignments: [],
            configs: [{ name: 'cleanup.policy', value: 'compact' }],
          },
        ],
        timeoutMs: 5000,
        validateOnly: false,
      });
      assert.equal(created.topics[0].errorCode, KafkaError.none);
      const utf8 = (text: string) => new TextEncoder().encode(text);
      const produceRecords = (records: Array<{ key: Uint8Array | null; value: Uint8Array | null }>) =>
        wire.request<Obj>(ApiKey.Produce, 9, {
          transactionalId: null,
          acks: -1,
          timeoutMs: 5000,
          topicData: [
            {
              name: 'compacted',
              partitionData: [
                { index: 0, records: encodeRecordBatch({ baseTimestamp: BigInt(Date.now()), records }) },
              ],
            },
          ],
        });
      const partitionOf = (r: Obj) => r.responses[0].partitionResponses[0];
      // KIP-467: the batch is refused whole, its keyless records named.
      const mixed = partitionOf(
        await produceRecords([
          { key: utf8('k'), value: utf8('v') },
          { key: null, value: utf8('no key') },
        ]),
      );
      assert.equal(mixed.errorCode, KafkaError.invalidRecord);
      assert.deepEqual(
        mixed.recordErrors.map((e: Obj) => e.batchIndex),
        [1],
      );
      const tombstones = partitionOf(
        await produceRecords(Array.from({ length: 100 }, (_, i) => ({ key: utf8(`k${i}`), value: null }))),
      );
      assert.equal(tombstones.errorCode, KafkaError.none);
      assert.equal(tombstones.baseOffset, 0n, 'nothing of the refused batch was stored');
      await compactAndRecreate();
      const plain = partitionOf(await produceRecords([{ key: null, value: utf8('keyless is fine now') }]));
      assert.equal(plain.errorCode, KafkaError.none);
      assert.equal(plain.baseOffset, 0n);
    });

    /** Compaction asked for at once, then the topic deleted and created again without configs. */
    async function compactAndRecreate(): Promise<void> {
      const compacting = await wire.request<Obj>(ApiKey.AlterConfigs, 0, compactNowRequest('compacted'));
      assert.equal(compacting.responses[0].errorCode, KafkaError.none);
      await deleteTopic('compacted');
      await createTopic('compacted');
    }
  });

  describe('a topic deleted and created again under its users', () => {
    test('a transaction, a share group and a KIP-848 group on it carry on with the new topic', async () => {
      const oldId = await createTopic('reborn', 2);
      await produce('reborn', 10);
      // A transaction holding both partitions.
      const ids = await openTransaction(wire, 'txn-reborn', { topic: 'reborn', partitions: [0, 1] });
      // A share group member holding records, and a KIP-848 member owning both partitions.
      await wire.request<Obj>(ApiKey.IncrementalAlterConfigs, 1, {
        resources: [
          {
            resourceType: 32,
            resourceName: 'sg-reborn',
            configs: [{ name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' }],
          },
        ],
        validateOnly: false,
      });
      const shareMember = 'reborn-share-member-001';
      await wire.request<Obj>(ApiKey.ShareGroupHeartbeat, 1, {
        groupId: 'sg-reborn',
        memberId: shareMember,
        memberEpoch: 0,
        subscribedTopicNames: ['reborn'],
      });
      const shareFetch = (topicId: string, epoch: number, forgottenTopicsData: object[] = []) =>
        wire.request<Obj>(ApiKey.ShareFetch, 1, {
          forgottenTopicsData,
          groupId: 'sg-reborn',
          memberId: shareMember,
          shareSessionEpoch: epoch,
          maxWaitMs: 0,
          minBytes: 1,
          maxBytes: 1 << 20,
          maxRecords: 100,
          batchSize: 100,
          topics: [
            {
              topicId,
              partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, acknowledgementBatches: [] })),
            },
          ],
        });
      const first = await shareFetch(oldId, 0);
      assert.equal(first.errorCode, KafkaError.none);
      const heartbeat = (memberEpoch: number, topicPartitions: object[] | null) =>
        wire.request<Obj>(ApiKey.ConsumerGroupHeartbeat, 1, {
          groupId: 'cg-reborn',
          memberId: 'reborn-consumer-member-1',
          memberEpoch,
          instanceId: null,
          rackId: null,
          rebalanceTimeoutMs: 30_000,
          subscribedTopicNames: memberEpoch === 0 ? ['reborn'] : null,
          subscribedTopicRegex: null,
          serverAssignor: null,
          topicPartitions,
        });
      const joined = await heartbeat(0, []);
      assert.equal(joined.errorCode, KafkaError.none);

      await deleteTopic('reborn');
      const newId = await createTopic('reborn', 2);
      assert.notEqual(newId, oldId);

      // The transaction's partitions went with the topic: its commit neither fails nor writes markers
      // into the new topic, and DescribeTransactions says it ended.
      const ended = await wire.request<Obj>(ApiKey.EndTxn, 3, { ...ids, committed: true });
      assert.equal(ended.errorCode, KafkaError.none);
      const described = await wire.request<Obj>(ApiKey.DescribeTransactions, 0, {
        transactionalIds: ['txn-reborn'],
      });
      assert.equal(described.transactionStates[0].transactionState, 'CompleteCommit');
      const ends = await wire.request<Obj>(ApiKey.ListOffsets, 7, {
        replicaId: -1,
        isolationLevel: 1,
        topics: [
          {
            name: 'reborn',
            partitions: [0, 1].map((partitionIndex) => ({ partitionIndex, timestamp: -1n })),
          },
        ],
      });
      assert.deepEqual(
        ends.topics[0].partitions.map((p: Obj) => p.offset),
        [0n, 0n],
        'the new topic is empty: no marker of the old transaction',
      );

      // The share session still names the old id: told so until it forgets it; the new id reads afresh.
      const stale = await shareFetch(oldId, 1);
      assert.ok(
        stale.responses.every((t: Obj) =>
          t.partitions.every((p: Obj) => p.errorCode === KafkaError.unknownTopicId),
        ),
      );
      await produce('reborn', 3);
      const fresh = await shareFetch(newId, 2, [{ topicId: oldId, partitions: [0, 1] }]);
      assert.equal(fresh.errorCode, KafkaError.none);
      const shareDescribed = await wire.request<Obj>(ApiKey.ShareGroupDescribe, 1, {
        groupIds: ['sg-reborn'],
        includeAuthorizedOperations: false,
      });
      assert.deepEqual(
        shareDescribed.groups[0].members[0].assignment.topicPartitions.map((t: Obj) => t.topicId),
        [newId],
      );

      // The KIP-848 member reports the old id's partitions: they are dropped, and the new topic's assigned.
      const owned = [{ topicId: oldId, partitions: [0, 1] }];
      let next = await heartbeat(joined.memberEpoch, owned);
      for (let i = 0; i < 5 && next.errorCode === KafkaError.none; i++) {
        const assigned = next.assignment?.topicPartitions ?? null;
        if (assigned?.some((t: Obj) => t.topicId === newId)) break;
        next = await heartbeat(next.memberEpoch, assigned ?? owned);
      }
      assert.equal(next.errorCode, KafkaError.none);
      const groups = await wire.request<Obj>(ApiKey.ConsumerGroupDescribe, 1, {
        groupIds: ['cg-reborn'],
        includeAuthorizedOperations: false,
      });
      const member = groups.groups[0].members[0];
      assert.deepEqual(
        member.targetAssignment.topicPartitions.map((t: Obj) => [t.topicId, t.partitions]),
        [[newId, [0, 1]]],
      );
    });
  });
});
