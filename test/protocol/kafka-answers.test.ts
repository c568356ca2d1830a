/**
 * A Kafka connection's answers over an in-memory transport (`Broker.accept`): pipelined requests are
 * answered in request order whether their handlers answer at once or later, and acks=0 gets no
 * answer at all (src/protocols/kafka/connection.ts `#writeAnswers`).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  ApiKey,
  encodeRecordBatch,
  frameRequest,
  kafkaApiByKey,
  writeMessage,
} from '../../src/protocols/kafka/codec/index.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { transportPair } from '../../testing/transport-pair.js';
import { until } from '../../testing/wait.js';

let broker: TestBroker;

before(async () => {
  broker = await startTestBroker();
});
after(() => broker.stop());

/** A client end that keeps the correlation id of every answer, in arrival order. */
function connect(): { write(frames: Uint8Array[]): void; readonly answered: number[] } {
  const [brokerEnd, end] = transportPair();
  void broker.broker.accept('kafka', brokerEnd);
  const answered: number[] = [];
  let held = Buffer.alloc(0);
  end.attach({
    data: (chunk) => {
      held = Buffer.concat([held, chunk]);
      while (held.length >= 8 && held.length >= 4 + held.readInt32BE(0)) {
        answered.push(held.readInt32BE(4));
        held = held.subarray(4 + held.readInt32BE(0));
      }
    },
    closed: () => undefined,
  });
  return { write: (frames) => end.write(Buffer.concat(frames)), answered };
}

function request(apiKey: number, version: number, correlationId: number, body: object): Uint8Array {
  const api = kafkaApiByKey.get(apiKey)!;
  return frameRequest(
    { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId: 'test' },
    (w) => writeMessage(w, api.request, body, version),
  );
}

function produce(correlationId: number, acks: number): Uint8Array {
  const records = encodeRecordBatch({ baseTimestamp: 0n, records: [{ value: Buffer.from('v') }] });
  return request(ApiKey.Produce, 7, correlationId, {
    acks,
    timeoutMs: 5000,
    topicData: [{ name: 'answers', partitionData: [{ index: 0, records }] }],
  });
}

const apiVersions = (correlationId: number) => request(ApiKey.ApiVersions, 0, correlationId, {});

test('pipelined requests are answered in request order, those answered later included', async () => {
  const client = connect();
  client.write([
    request(ApiKey.CreateTopics, 4, 1, {
      topics: [{ name: 'answers', numPartitions: 1, replicationFactor: 1 }],
      timeoutMs: 5000,
    }),
  ]);
  await until(() => client.answered.length === 1, 5000, 'CreateTopics answered');
  // Produce answers once the append is durable; ApiVersions at once: it still comes after the Produce before it.
  client.write([produce(10, -1), apiVersions(11), produce(12, 1), apiVersions(13), produce(14, -1)]);
  await until(() => client.answered.length === 6, 5000, 'every request answered');
  assert.deepEqual(client.answered, [1, 10, 11, 12, 13, 14]);
});

test('a Produce with acks=0 gets no answer; the answers around it keep their order', async () => {
  const client = connect();
  client.write([apiVersions(20), produce(21, 0), produce(22, -1), apiVersions(23)]);
  await until(() => client.answered.length === 3, 5000, 'the three answers');
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.deepEqual(client.answered, [20, 22, 23]);
});
