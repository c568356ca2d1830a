/**
 * One request of 100,000 entries (a valid frame of a few MB) held the one event loop for 0.5–20 s
 * while it was decoded, handled and answered, and no other client was served meanwhile. A request
 * holding more array elements than `kafkaRequestEntriesMax` now closes its connection, as Kafka closes
 * one whose request it will not read (a frame past socket.request.max.bytes), after decoding no more
 * than that many; one within the bound is answered as before.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ApiKey,
  decodeMessage,
  entryBudget,
  KafkaCodecReason,
  KafkaReader,
  KafkaWriter,
  kafkaApiByKey,
  writeMessage,
} from '../../../src/protocols/kafka/codec/index.js';
import { kafkaOptionsDefault } from '../../../src/protocols/kafka/options.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

/** Generous beside a bounded request's tens of milliseconds; the same request held main for seconds. */
const othersAnsweredWithinMs = 2000;
const entriesMax = kafkaOptionsDefault.requestEntriesMax;

const names = (count: number) => Array.from({ length: count }, (_, i) => ({ name: `entries-${i}` }));

describe('a Kafka request past kafkaRequestEntriesMax', () => {
  let kb: KafkaTestBroker;
  let other: WireClient;

  before(async () => {
    kb = await startKafkaBroker();
    other = await WireClient.open(kb.port);
    await other.request(ApiKey.ApiVersions, 0, {});
  });
  after(async () => {
    other.close();
    await kb.stop();
  });

  /** A connection past its first request, which may be 64 KiB at most. */
  const admitted = async () => {
    const client = await WireClient.open(kb.port);
    await client.request(ApiKey.ApiVersions, 0, {});
    return client;
  };

  test('Metadata naming 100,000 topics closes its connection; another is served meanwhile', async () => {
    const hostile = await admitted();
    hostile.send(ApiKey.Metadata, 12, { topics: names(100_000), allowAutoTopicCreation: false });
    const pong = other.send(ApiKey.ApiVersions, 0, {});
    const answered = await other.receive(ApiKey.ApiVersions, 0, othersAnsweredWithinMs);
    assert.equal(answered.correlationId, pong);
    assert.equal(await hostile.nextFrame(10_000), null, 'the hostile connection is closed, unanswered');
    hostile.close();
  });

  test('OffsetCommit of 100,000 partitions and CreateTopics of 100,000 topics close theirs too', async () => {
    const committer = await admitted();
    const partitions = Array.from({ length: 100_000 }, (_, p) => ({
      partitionIndex: p,
      committedOffset: 0n,
    }));
    committer.send(ApiKey.OffsetCommit, 8, {
      groupId: 'entries-group',
      generationIdOrMemberEpoch: -1,
      topics: [{ name: 'entries-topic', partitions }],
    });
    assert.equal(await committer.nextFrame(10_000), null);
    const creator = await admitted();
    creator.send(ApiKey.CreateTopics, 7, {
      topics: names(100_000).map(({ name }) => ({ name, numPartitions: 1, replicationFactor: 1 })),
      timeoutMs: 5000,
      validateOnly: true,
    });
    assert.equal(await creator.nextFrame(10_000), null);
    assert.ok((await other.request(ApiKey.ApiVersions, 0, {})) !== undefined, 'the broker still answers');
  });

  test('a request of exactly the bound is answered', async () => {
    const client = await admitted();
    const answer = await client.request<{ topics: { errorCode: number }[] }>(ApiKey.Metadata, 12, {
      topics: names(entriesMax),
      allowAutoTopicCreation: false,
    });
    assert.equal(answer.topics.length, entriesMax);
    client.close();
  });
});

test('the decoder refuses a message past its entry budget, counting every array together', () => {
  const schema = kafkaApiByKey.get(ApiKey.OffsetFetch)?.request;
  assert.ok(schema !== undefined);
  const w = new KafkaWriter();
  // 2 topics of 3 partitions each: 2 + 6 = 8 entries.
  const topics = ['a', 'b'].map((name) => ({ name, partitionIndexes: [0, 1, 2] }));
  writeMessage(w, schema, { groupId: 'g', topics }, 7);
  const bytes = w.finish();
  const within = new KafkaReader(bytes);
  within.budget = entryBudget(8);
  assert.equal((decodeMessage(schema, within, 7) as { topics: unknown[] }).topics.length, 2);
  const past = new KafkaReader(bytes);
  past.budget = entryBudget(7);
  assert.throws(() => decodeMessage(schema, past, 7), { reason: KafkaCodecReason.tooManyEntries });
});
