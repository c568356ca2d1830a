/**
 * How long one large Kafka request holds the broker's event loop: an in-process broker (memory
 * storage), each request of `count` entries sent on its own connection, the loop's longest delay
 * while it was decoded, handled and answered (`monitorEventLoopDelay`), and its answer's time.
 * Not a test: `node dist/testing/loop-hold-kafka.js [count] [api…]` prints one line per request.
 */

import { once } from 'node:events';
import { connect } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import {
  ApiKey,
  decodeMessage,
  encodeRecordBatch,
  frameRequest,
  KafkaReader,
  KafkaWriter,
  kafkaApiByKey,
  writeMessage,
} from '../src/protocols/kafka/codec/index.js';
import { startKafkaBroker } from './kafka-helpers.js';
import { WireClient } from './kafka-wire.js';

const count = Number(process.argv[2] ?? 100_000);
const only = process.argv.slice(3);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const names = (n: number) => range(n).map((i) => `hold-topic-${i}`);
const batch = encodeRecordBatch({
  baseOffset: 0n,
  baseTimestamp: 0n,
  records: [{ value: new Uint8Array(8) }],
});

/** api name → [api key, version, body]. */
const requests: Record<string, () => [number, number, object]> = {
  metadataNames: () => [
    ApiKey.Metadata,
    12,
    { topics: names(count).map((name) => ({ name })), allowAutoTopicCreation: false },
  ],
  listOffsets: () => [
    ApiKey.ListOffsets,
    7,
    {
      replicaId: -1,
      topics: [{ name: 't', partitions: range(count).map((p) => ({ partitionIndex: p, timestamp: -1n })) }],
    },
  ],
  offsetCommit: () => [
    ApiKey.OffsetCommit,
    8,
    {
      groupId: 'g',
      generationIdOrMemberEpoch: -1,
      topics: [
        { name: 't', partitions: range(count).map((p) => ({ partitionIndex: p, committedOffset: 0n })) },
      ],
    },
  ],
  offsetFetch: () => [
    ApiKey.OffsetFetch,
    7,
    { groupId: 'g', topics: [{ name: 't', partitionIndexes: range(count) }] },
  ],
  deleteRecords: () => [
    ApiKey.DeleteRecords,
    2,
    {
      topics: [{ name: 't', partitions: range(count).map((p) => ({ partitionIndex: p, offset: 0n })) }],
      timeoutMs: 5000,
    },
  ],
  createTopicsValidate: () => [
    ApiKey.CreateTopics,
    7,
    {
      topics: names(count).map((name) => ({ name, numPartitions: 1, replicationFactor: 1 })),
      timeoutMs: 5000,
      validateOnly: true,
    },
  ],
  describeConfigs: () => [
    ApiKey.DescribeConfigs,
    4,
    {
      resources: names(count).map((resourceName) => ({
        resourceType: 2,
        resourceName,
        configurationKeys: null,
      })),
    },
  ],
  produce: () => [
    ApiKey.Produce,
    9,
    {
      acks: 1,
      timeoutMs: 5000,
      topicData: [{ name: 't', partitionData: range(count).map((index) => ({ index, records: batch })) }],
    },
  ],
  fetch: () => [
    ApiKey.Fetch,
    12,
    {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      sessionEpoch: -1,
      topics: [
        { topic: 't', partitions: range(count).map((partition) => ({ partition, partitionMaxBytes: 1024 })) },
      ],
    },
  ],
  describeGroups: () => [ApiKey.DescribeGroups, 5, { groups: names(count) }],
  deleteGroups: () => [ApiKey.DeleteGroups, 2, { groupsNames: names(count) }],
  offsetDelete: () => [
    ApiKey.OffsetDelete,
    0,
    {
      groupId: 'g',
      topics: [{ name: 't', partitions: range(count).map((partitionIndex) => ({ partitionIndex })) }],
    },
  ],
};

/** Sends one request on a fresh connection and waits for its answer's size (or the close). */
async function answerSize(port: number, api: number, version: number, body: object): Promise<string> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.write(
    frameRequest(
      { requestApiKey: ApiKey.ApiVersions, requestApiVersion: 0, correlationId: 1, clientId: 'h' },
      () => undefined,
    ),
  );
  const kafkaApi = kafkaApiByKey.get(api);
  if (kafkaApi === undefined) throw new Error(`api ${api}`);
  const frame = frameRequest(
    { requestApiKey: api, requestApiVersion: version, correlationId: 2, clientId: 'h' },
    (w) => writeMessage(w, kafkaApi.request, body, version),
  );
  let got = 0;
  let sent = false;
  let expected = -1;
  return new Promise((resolve) => {
    socket.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (!sent && got >= 4 && got >= 4 + chunk.readInt32BE(0)) {
        sent = true;
        got = 0;
        histogram.reset();
        started = performance.now();
        socket.write(frame);
        return;
      }
      if (sent && expected < 0 && chunk.length >= 4) expected = chunk.readInt32BE(0) + 4;
      if (sent && expected >= 0 && got >= expected) {
        socket.destroy();
        resolve(`answered ${expected} B`);
      }
    });
    socket.on('close', () => resolve(sent ? `closed after ${got} B` : 'closed before'));
    socket.on('error', () => undefined);
  });
}

/** The request's body decoded on its own, as the connection decodes it. */
function decodeTime(api: number, version: number, body: object): number {
  const schema = kafkaApiByKey.get(api)?.request;
  if (schema === undefined) throw new Error(`api ${api}`);
  const w = new KafkaWriter();
  writeMessage(w, schema, body, version);
  const bytes = w.finish();
  const start = performance.now();
  decodeMessage(schema, new KafkaReader(bytes), version);
  return performance.now() - start;
}

let started = 0;
const histogram = monitorEventLoopDelay({ resolution: 5 });

async function main(): Promise<void> {
  const kb = await startKafkaBroker();
  const setup = await WireClient.open(kb.port);
  await setup.request(ApiKey.CreateTopics, 7, {
    topics: [{ name: 't', numPartitions: 1, replicationFactor: 1 }],
    timeoutMs: 5000,
    validateOnly: false,
  });
  histogram.enable();
  // Every request twice: the first of each may meet code still to load or compile.
  const runs = Object.entries(requests).flatMap((entry) => [entry, entry]);
  for (const [name, make] of runs) {
    if (only.length > 0 && !only.includes(name)) continue;
    const [api, version, body] = make();
    const outcome = await answerSize(kb.port, api, version, body);
    const tookMs = performance.now() - started;
    // The delay of a held turn is recorded when the monitor's timer fires after it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    const heldMs = histogram.max / 1e6;
    const decodeMs = decodeTime(api, version, body);
    console.log(
      `${name} ×${count}: loop held ${heldMs.toFixed(0)} ms, ${outcome} in ${tookMs.toFixed(0)} ms; request decoded alone in ${decodeMs.toFixed(0)} ms`,
    );
  }
  histogram.disable();
  setup.close();
  await kb.stop();
}

await main();
