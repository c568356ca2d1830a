/**
 * Idempotent kafkajs producers (acks=all) at full rate and a group's offsets committed as fast as they
 * are answered, with `switchyard start` SIGKILLed mid-rate and started again on the same port. The
 * producers go on through the restart, retrying the batch the kill interrupted with its sequence
 * (KIP-98), so the broker must recognise a batch it stored before the kill. Afterwards every answered
 * record is in the topic exactly once, nothing is there twice, and the group's committed offset is the
 * last answered commit or one sent after it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Admin, Kafka, Producer } from 'kafkajs';
import { ApiKey, type OffsetCommitResponse } from '../../../src/protocols/kafka/codec/index.js';
import { kafkaClient, until } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import {
  duplicates,
  killMidRate,
  missing,
  startKillBroker,
  Window,
  withKillBroker,
} from '../../../testing/kill-at-rate.js';
import { freePort } from '../../../testing/server-cli.js';

const topic = 'kill-rate';
const group = 'kill-rate-offsets';
const partitions = 2;
const producers = 3;
const recordsPerBatch = 20;
const batchesPerProducerMax = 2_000;
/** Batches each producer has answered after the restart before the load stops. */
const batchesAfterRestart = 10;
const confirmedMin = 1_500;
const commitsMax = 5_000;

/** Retries long enough to ride out a restart on a loaded machine (kafkajs backs off to 1 s). */
const client = (bootstrap: string, clientId: string): Kafka =>
  kafkaClient(bootstrap, clientId, { retries: 40, initialRetryTime: 100, maxRetryTime: 1000 });

interface Produced {
  readonly answered: string[];
  /** Every record sent, answered or not. */
  readonly sent: string[];
  /** Batches answered since the restart. */
  afterRestart: number;
}

async function produceAtRate(producer: Producer, index: number, out: Produced, stop: () => boolean) {
  for (let b = 0; b < batchesPerProducerMax && !stop(); b++) {
    const values = Array.from({ length: recordsPerBatch }, (_, r) => `p${index}-${b}-${r}`);
    out.sent.push(...values);
    try {
      await producer.send({
        topic,
        acks: -1,
        messages: values.map((value) => ({ key: `k${b % partitions}`, value })),
      });
      out.answered.push(...values);
      out.afterRestart++;
    } catch {
      // Retries ran out: the batch may or may not be stored, and the producer goes on.
    }
  }
}

/**
 * Commits offsets 1, 2, 3… for both partitions by raw OffsetCommit v8 (a group without members, as
 * admin tools commit), one answered commit at a time; returns the last answered and the last sent.
 */
async function commitAtRate(wire: WireClient, window: Window): Promise<{ answered: number; sent: number }> {
  let answered = 0;
  let sent = 0;
  for (let offset = 1; offset <= commitsMax && !window.stopped; offset++) {
    sent = offset;
    const commit = wire.request<OffsetCommitResponse>(ApiKey.OffsetCommit, 8, commitBody(offset)).then(
      (r) => r.topics.every((tp) => tp.partitions.every((pp) => pp.errorCode === 0)),
      () => false,
    );
    if (!(await Promise.race([commit, window.whenStopped.then(() => false)]))) break;
    answered = offset;
  }
  return { answered, sent };
}

function commitBody(offset: number): object {
  const committed = (partitionIndex: number) => ({
    partitionIndex,
    committedOffset: BigInt(offset),
    committedLeaderEpoch: -1,
    committedMetadata: null,
  });
  return {
    groupId: group,
    generationIdOrMemberEpoch: -1,
    memberId: '',
    groupInstanceId: null,
    topics: [{ name: topic, partitions: [committed(0), committed(1)] }],
  };
}

/** Every value in the topic, read by a consumer of its own group up to the end offsets. */
async function readTopic(kafka: Kafka, admin: Admin): Promise<string[]> {
  const ends = await admin.fetchTopicOffsets(topic);
  const total = ends.reduce((n, p) => n + Number(p.high), 0);
  const consumer = kafka.consumer({ groupId: `reader-${Math.random()}`, maxWaitTimeInMs: 100 });
  const got: string[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({
      eachMessage: async ({ message }) => void got.push(message.value?.toString() ?? ''),
    });
    await until(
      () => got.length >= total,
      20_000,
      () => `${total} records (got ${got.length})`,
    );
  } finally {
    await consumer.disconnect();
  }
  return got;
}

test('idempotent acks=all producers and committed offsets survive SIGKILL at full rate', {
  timeout: 150_000,
}, async (t) => {
  const port = await freePort();
  const bootstrap = `127.0.0.1:${port}`;
  await withKillBroker(
    () => startKillBroker({ kafka: port }, 'kafka-rate'),
    async (first, track) => {
      const kafka = client(bootstrap, 'kill-rate');
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: partitions }] });
      const window = new Window(1);
      const produced: Produced[] = [];
      const running: Array<Promise<void>> = [];
      const clients: Producer[] = [];
      let done = false;
      for (let i = 0; i < producers; i++) {
        const producer = client(bootstrap, `p${i}`).producer({ idempotent: true, maxInFlightRequests: 1 });
        await producer.connect();
        clients.push(producer);
        produced.push({ answered: [], sent: [], afterRestart: 0 });
        running.push(produceAtRate(producer, i, produced[i]!, () => done));
      }
      const wire = await WireClient.open(port);
      const committing = commitAtRate(wire, window);
      await killMidRate(first, () => produced.reduce((n, p) => n + p.answered.length, 0), confirmedMin);
      window.stop();
      const commits = await committing;
      wire.close();
      for (const p of produced) p.afterRestart = 0;
      track(await first.restart());
      await until(
        () => produced.every((p) => p.afterRestart >= batchesAfterRestart),
        30_000,
        'every producer answered again after the restart',
      );
      done = true;
      await Promise.all(running);
      await Promise.all(clients.map((p) => p.disconnect()));

      const reader = client(bootstrap, 'kill-reader');
      const readerAdmin = reader.admin();
      await readerAdmin.connect();
      try {
        const stored = await readTopic(reader, readerAdmin);
        assert.deepEqual(duplicates(stored), [], 'no record stored twice');
        const answered = produced.flatMap((p) => p.answered);
        assert.deepEqual(
          missing(answered, new Set(stored)).slice(0, 10),
          [],
          'every answered record is there',
        );
        const sent = new Set(produced.flatMap((p) => p.sent));
        assert.deepEqual(
          stored.filter((v) => !sent.has(v)),
          [],
          'nothing but what was sent',
        );
        const [offsets] = await readerAdmin.fetchOffsets({ groupId: group, topics: [topic] });
        for (const p of offsets?.partitions ?? []) {
          const committed = Number(p.offset);
          assert.ok(
            committed >= commits.answered && committed <= commits.sent,
            `partition ${p.partition}: committed ${committed} within [${commits.answered}, ${commits.sent}]`,
          );
        }
        t.diagnostic(
          `answered ${answered.length} of ${sent.size} records, stored ${stored.length}; commits ${commits.answered}/${commits.sent}`,
        );
      } finally {
        await readerAdmin.disconnect();
        await admin.disconnect().catch(() => {});
      }
    },
  );
});
