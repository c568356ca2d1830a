/**
 * Fetch sessions (KIP-227) over the wire: a consumer opens a session with a full Fetch, then sends
 * incremental ones naming only what changed and gets back only partitions with news. kafkajs and
 * Debian's librdkafka never open sessions, so raw requests drive this.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey, type FetchResponse } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, kafkaClient, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

const topic = 'sessions';
const version = 12;

interface Pos {
  partition: number;
  fetchOffset: bigint;
}

function fetchBody(sessionId: number, sessionEpoch: number, positions: Pos[], forget: number[] = []) {
  return {
    replicaId: -1,
    maxWaitMs: 20,
    minBytes: 1,
    maxBytes: 1024 * 1024,
    sessionId,
    sessionEpoch,
    topics:
      positions.length === 0
        ? []
        : [{ topic, partitions: positions.map((p) => ({ ...p, partitionMaxBytes: 65536 })) }],
    forgottenTopicsData: forget.length === 0 ? [] : [{ topic, partitions: forget }],
  };
}

/** Partition index → records' byte count, for what an answer carries. */
function carried(body: FetchResponse): Map<number, number> {
  const out = new Map<number, number>();
  for (const t of body.responses)
    for (const p of t.partitions) out.set(p.partitionIndex, p.records?.length ?? 0);
  return out;
}

describe('Kafka fetch sessions', () => {
  let kb: KafkaTestBroker;
  let wire: WireClient;
  const send = async (partition: number, value: string) => {
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    await producer.send({ topic, messages: [{ partition, value }] });
    await producer.disconnect();
  };

  before(async () => {
    kb = await startKafkaBroker();
    const admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createTopics({ topics: [{ topic, numPartitions: 3 }] });
    await admin.disconnect();
    await send(0, 'a');
    wire = await WireClient.open(kb.port);
  });
  after(async () => {
    wire.close();
    await kb.stop();
  });

  test('full, then incremental fetches answering only partitions with news', async () => {
    const start = [0, 1, 2].map((partition) => ({ partition, fetchOffset: 0n }));
    const opened = await wire.request<FetchResponse>(ApiKey.Fetch, version, fetchBody(0, 0, start));
    assert.equal(opened.errorCode, KafkaError.none);
    assert.notEqual(opened.sessionId, 0, 'a session was opened');
    const first = carried(opened);
    assert.deepEqual([...first.keys()].sort(), [0, 1, 2], 'a full answer names every partition');
    assert.ok((first.get(0) ?? 0) > 0);

    // The consumer moved past 'a' on partition 0 and says so; nothing else changed.
    const quiet = await wire.request<FetchResponse>(
      ApiKey.Fetch,
      version,
      fetchBody(opened.sessionId, 1, [{ partition: 0, fetchOffset: 1n }]),
    );
    assert.equal(quiet.errorCode, KafkaError.none);
    assert.equal(quiet.sessionId, opened.sessionId);
    assert.deepEqual([...carried(quiet).keys()], [], 'nothing new, nothing answered');

    await send(2, 'b');
    // Partition 2 is fetched from the position the session keeps (0), without being named.
    const news = await wire.request<FetchResponse>(ApiKey.Fetch, version, fetchBody(opened.sessionId, 2, []));
    assert.deepEqual([...carried(news).keys()], [2]);
    assert.ok((carried(news).get(2) ?? 0) > 0);

    // Forgotten partitions are no longer fetched.
    await wire.request<FetchResponse>(
      ApiKey.Fetch,
      version,
      fetchBody(opened.sessionId, 3, [{ partition: 2, fetchOffset: 1n }], [1]),
    );
    await send(1, 'c');
    const forgotten = await wire.request<FetchResponse>(
      ApiKey.Fetch,
      version,
      fetchBody(opened.sessionId, 4, []),
    );
    assert.deepEqual([...carried(forgotten).keys()], []);
  });

  test('a stale epoch and an unknown session are refused; epoch -1 closes the session', async () => {
    const opened = await wire.request<FetchResponse>(
      ApiKey.Fetch,
      version,
      fetchBody(0, 0, [{ partition: 0, fetchOffset: 0n }]),
    );
    const id = opened.sessionId;
    const stale = await wire.request<FetchResponse>(ApiKey.Fetch, version, fetchBody(id, 5, []));
    assert.equal(stale.errorCode, KafkaError.invalidFetchSessionEpoch);
    assert.equal(stale.responses.length, 0);
    // Another connection may go on with the session: sessions belong to the broker.
    const other = await WireClient.open(kb.port);
    try {
      const next = await other.request<FetchResponse>(ApiKey.Fetch, version, fetchBody(id, 1, []));
      assert.equal(next.errorCode, KafkaError.none);
    } finally {
      other.close();
    }
    const closed = await wire.request<FetchResponse>(
      ApiKey.Fetch,
      version,
      fetchBody(id, -1, [{ partition: 0, fetchOffset: 0n }]),
    );
    assert.equal(closed.sessionId, 0);
    assert.ok((carried(closed).get(0) ?? 0) > 0, 'epoch -1 is served as a full request');
    const gone = await wire.request<FetchResponse>(ApiKey.Fetch, version, fetchBody(id, 2, []));
    assert.equal(gone.errorCode, KafkaError.fetchSessionIdNotFound);
  });

  test('Fetch before v7 never opens a session', async () => {
    const body = await wire.request<FetchResponse>(
      ApiKey.Fetch,
      6,
      fetchBody(0, 0, [{ partition: 0, fetchOffset: 0n }]),
    );
    assert.equal(body.sessionId, 0);
  });
});
