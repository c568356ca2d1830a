/**
 * A client that pipelines requests with large answers and does not read them: the broker stops
 * handling its requests once `outboundBytesMax` of answers wait unsent on its socket, instead of
 * working out every answer and holding them all; another client is served meanwhile, and once the
 * slow one reads it gets every answer, whole and in order. Fetch has its own bound (fetch-slow-reader);
 * this one holds for every API, here Metadata, whose answer lists every topic. A classic group member's
 * protocol metadata, which its group keeps as long as the member stays, is bounded too.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;

const mib = 1024 * 1024;
const outboundBytesMax = 1 * mib;
/** Topics with long names: each Metadata answer is about 250 KB on the wire, several times that in objects. */
const topics = 1000;
const requestsPipelined = 240;
const memberMetadataBytesMax = 64 * 1024;

let kb: KafkaTestBroker;

async function connect(): Promise<WireClient> {
  const c = await WireClient.open(kb.port);
  await c.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'test', clientSoftwareVersion: '1' });
  return c;
}

const everyTopic = { topics: null, allowAutoTopicCreation: false, includeTopicAuthorizedOperations: false };

function held(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

before(async () => {
  kb = await startKafkaBroker({ kafka: { outboundBytesMax, memberMetadataBytesMax } });
  const client = kb.broker.client('/');
  for (let i = 0; i < topics; i++)
    await client.createStream(`slow-answers-${String(i).padStart(4, '0')}-${'x'.repeat(150)}`, {
      partitions: 1,
    });
});

after(async () => {
  await kb.stop();
});

test('a client that does not read its answers makes the broker hold a bounded amount, and gets every answer later', async () => {
  const slow = await connect();
  const other = await connect();
  try {
    const one = await other.request<Obj>(ApiKey.Metadata, 12, everyTopic);
    assert.equal(one.topics.length, topics);
    slow.pause();
    const before = held();
    const sent: number[] = [];
    for (let i = 0; i < requestsPipelined; i++) sent.push(slow.send(ApiKey.Metadata, 12, everyTopic));
    let peak = 0;
    for (const until = Date.now() + 3000; Date.now() < until; ) {
      peak = Math.max(peak, held() - before);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // What the broker reports holding for it (the admin API's send_pend): up to the bound and one answer.
    const pending = kb.broker
      .client('/')
      .listConnections()
      .map((c) => c.description.traffic().sendPend);
    const most = Math.max(...pending);
    assert.ok(most > 0 && most <= outboundBytesMax + mib, `${most} bytes unsent`);
    // Another client is served while the slow one holds back.
    const answer = await other.request<Obj>(ApiKey.Metadata, 12, everyTopic);
    assert.equal(answer.topics.length, topics);
    assert.ok(peak < 24 * mib, `held ${(peak / mib).toFixed(0)} MiB for a client that does not read`);
    slow.resume();
    for (const correlationId of sent) {
      const got = await slow.receive<Obj>(ApiKey.Metadata, 12, 30_000);
      assert.equal(got.correlationId, correlationId);
      assert.equal(got.body.topics.length, topics);
    }
  } finally {
    slow.close();
    other.close();
  }
});

test('a JoinGroup whose protocols carry more metadata than memberMetadataBytesMax gets INVALID_REQUEST; at the bound it joins', async () => {
  const client = await connect();
  try {
    const join = (bytes: number) =>
      client.request<Obj>(ApiKey.JoinGroup, 3, {
        groupId: 'metadata-bound',
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 10_000,
        memberId: '',
        protocolType: 'consumer',
        protocols: [
          { name: 'range', metadata: new Uint8Array(bytes / 2) },
          { name: 'roundrobin', metadata: new Uint8Array(bytes / 2) },
        ],
      });
    const refused = await join(memberMetadataBytesMax + 2);
    assert.equal(refused.errorCode, KafkaError.invalidRequest);
    assert.equal(refused.generationId, -1);
    const joined = await join(memberMetadataBytesMax);
    assert.equal(joined.errorCode, KafkaError.none);
    assert.equal(joined.members.length, 1);
  } finally {
    client.close();
  }
});
