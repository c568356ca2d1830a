/**
 * Wire-level Kafka behaviour that client libraries hide: ApiVersions quirks, Metadata topic-list
 * semantics, pipelining order, acks=0 silence, offsets, long-poll, idempotent sequences, bad frames.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ApiKey, encodeRecordBatch, readBatchHeader } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { type KafkaTestBroker, startKafkaBroker } from '../../../testing/kafka-helpers.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// Responses are checked field by field; the generated types would only add casts here.
// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;
const utf8 = new TextEncoder();

function batch(values: string[], extra: Obj = {}): Uint8Array {
  return encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: values.map((v) => ({ value: utf8.encode(v) })),
    ...extra,
  });
}

function produceBody(topic: string, records: Uint8Array, acks = 1, partition = 0): Obj {
  return {
    acks,
    timeoutMs: 5000,
    topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
  };
}

describe('kafka wire protocol', () => {
  let kb: KafkaTestBroker;
  let client: WireClient;
  before(async () => {
    kb = await startKafkaBroker();
    client = await WireClient.open(kb.port);
  });
  after(async () => {
    client.close();
    await kb.stop();
  });

  test('ApiVersions v3 (flexible body, v0 header) advertises MinVersion 0 for every API but the share and ACL ones', async () => {
    const body = await client.request<Obj>(ApiKey.ApiVersions, 3, {
      clientSoftwareName: 'wire',
      clientSoftwareVersion: '1',
    });
    assert.equal(body.errorCode, 0);
    const byKey = new Map<number, Obj>(body.apiKeys.map((k: Obj) => [k.apiKey, k]));
    // The share group APIs start at v1, their first stable version (KIP-932; v0 was removed in Kafka 4.1).
    const shareApis = [
      ApiKey.ShareGroupHeartbeat,
      ApiKey.ShareGroupDescribe,
      ApiKey.ShareFetch,
      ApiKey.ShareAcknowledge,
      // The ACL APIs from v1, as Kafka 4 serves them (KIP-896 removed v0).
      ApiKey.DescribeAcls,
      ApiKey.CreateAcls,
      ApiKey.DeleteAcls,
    ];
    for (const k of byKey.values())
      assert.equal(k.minVersion, shareApis.includes(k.apiKey) ? 1 : 0, `api ${k.apiKey} min version`);
    assert.equal(byKey.get(ApiKey.ApiVersions)?.maxVersion, 4);
    assert.ok(byKey.get(ApiKey.Metadata)!.maxVersion >= 6);
    assert.ok(byKey.get(ApiKey.Produce)!.maxVersion >= 7);
    assert.ok(byKey.get(ApiKey.Fetch)!.maxVersion >= 11);
  });

  test('an unsupported ApiVersions version gets UNSUPPORTED_VERSION in the v0 layout', async () => {
    // Version 5 is past the schema, so the request is written by hand: a v2 header, then a body as v4's.
    const id = 77;
    const request = Buffer.from([0, 18, 0, 5, 0, 0, 0, id, 0, 1, 0x77, 0, 2, 0x77, 2, 0x31, 0]);
    const size = Buffer.alloc(4);
    size.writeInt32BE(request.byteLength);
    client.sendRaw(Buffer.concat([size, request]));
    const got = await client.receive<Obj>(ApiKey.ApiVersions, 0);
    assert.equal(got.correlationId, id);
    assert.equal(got.body.errorCode, KafkaError.unsupportedVersion);
    assert.deepEqual(
      got.body.apiKeys.map((k: Obj) => [k.apiKey, k.minVersion, k.maxVersion]),
      [[18, 0, 4]],
    );
  });

  test('Metadata: v0 [] lists every topic, v1 [] none and null every one; the real port is advertised', async () => {
    await kb.broker.client('/').createStream('listed', { partitions: 2 });
    const v0 = await client.request<Obj>(ApiKey.Metadata, 0, { topics: [] });
    assert.ok(v0.topics.some((t: Obj) => t.name === 'listed'));
    assert.equal(v0.brokers[0].port, kb.port);
    const none = await client.request<Obj>(ApiKey.Metadata, 1, { topics: [] });
    assert.deepEqual(none.topics, []);
    const all = await client.request<Obj>(ApiKey.Metadata, 1, { topics: null });
    const listed = all.topics.find((t: Obj) => t.name === 'listed');
    assert.equal(listed.partitions.length, 2);
    assert.equal(all.controllerId, 0);
  });

  test('Metadata auto-creates unknown topics unless the request says not to; bad names are refused', async () => {
    const created = await client.request<Obj>(ApiKey.Metadata, 4, {
      topics: [{ name: 'auto-made' }],
      allowAutoTopicCreation: true,
    });
    assert.equal(created.topics[0].errorCode, 0);
    assert.ok(kb.broker.client('/').stream('auto-made'));
    const refused = await client.request<Obj>(ApiKey.Metadata, 4, {
      topics: [{ name: 'not-made' }],
      allowAutoTopicCreation: false,
    });
    assert.equal(refused.topics[0].errorCode, KafkaError.unknownTopicOrPartition);
    const bad = await client.request<Obj>(ApiKey.Metadata, 1, { topics: [{ name: 'bad name!' }] });
    assert.equal(bad.topics[0].errorCode, KafkaError.invalidTopic);
  });

  test('pipelined requests are answered in order, and acks=0 gets no response at all', async () => {
    await kb.broker.client('/').createStream('pipe', { partitions: 1 });
    const ids = [
      client.send(ApiKey.ApiVersions, 0, {}),
      client.send(ApiKey.Metadata, 0, { topics: [{ name: 'pipe' }] }),
    ];
    client.send(ApiKey.Produce, 3, produceBody('pipe', batch(['silent']), 0));
    ids.push(client.send(ApiKey.Metadata, 1, { topics: null }));
    const got = [
      await client.receive(ApiKey.ApiVersions, 0),
      await client.receive(ApiKey.Metadata, 0),
      await client.receive(ApiKey.Metadata, 1),
    ];
    assert.deepEqual(
      got.map((g) => g.correlationId),
      ids,
    );
    assert.equal(kb.broker.client('/').partition('pipe', 0).endOffset, 1, 'the acks=0 batch was stored');
  });

  test('hundreds of pipelined produce requests, with a large fetch among them, are answered in order', async () => {
    // More requests than one turn of the connection handles, and answers both gathered (small) and
    // written at once (a fetch above the gathering bound): the order must hold across all of them.
    await kb.broker.client('/').createStream('many', { partitions: 1 });
    const big = 'x'.repeat(40 * 1024);
    const first = await client.request<Obj>(ApiKey.Produce, 7, produceBody('many', batch([big])));
    assert.equal(first.responses[0].partitionResponses[0].baseOffset, 0n);
    const requests = 300;
    const sent: Array<{ id: number; fetch: boolean }> = [];
    for (let i = 0; i < requests; i++) {
      if (i === requests / 2) {
        const id = client.send(ApiKey.Fetch, 11, {
          maxWaitMs: 0,
          minBytes: 0,
          maxBytes: 1 << 20,
          isolationLevel: 0,
          sessionEpoch: -1,
          topics: [
            { topic: 'many', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] },
          ],
        });
        sent.push({ id, fetch: true });
      }
      sent.push({ id: client.send(ApiKey.Produce, 7, produceBody('many', batch([`m${i}`]))), fetch: false });
    }
    let offset = 1n;
    for (const { id, fetch } of sent) {
      const got = await client.receive<Obj>(fetch ? ApiKey.Fetch : ApiKey.Produce, fetch ? 11 : 7);
      assert.equal(got.correlationId, id);
      if (fetch) assert.ok(got.body.responses[0].partitions[0].records.length > big.length);
      else assert.equal(got.body.responses[0].partitionResponses[0].baseOffset, offset++);
    }
    assert.equal(kb.broker.client('/').partition('many', 0).endOffset, requests + 1);
  });

  test('Produce assigns contiguous offsets and Fetch returns the stored batches as produced', async () => {
    await kb.broker.client('/').createStream('plain', { partitions: 1 });
    const first = batch(['a', 'b', 'c']);
    const r1 = await client.request<Obj>(ApiKey.Produce, 7, produceBody('plain', first));
    const r2 = await client.request<Obj>(ApiKey.Produce, 7, produceBody('plain', batch(['d'])));
    assert.equal(r1.responses[0].partitionResponses[0].baseOffset, 0n);
    assert.equal(r2.responses[0].partitionResponses[0].baseOffset, 3n);
    const fetched = await client.request<Obj>(ApiKey.Fetch, 11, {
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      isolationLevel: 1,
      sessionEpoch: -1,
      topics: [
        { topic: 'plain', partitions: [{ partition: 0, fetchOffset: 1n, partitionMaxBytes: 1 << 20 }] },
      ],
    });
    const p = fetched.responses[0].partitions[0];
    assert.equal(p.highWatermark, 4n);
    assert.equal(p.lastStableOffset, 4n);
    const records: Uint8Array = p.records;
    assert.deepEqual(
      Uint8Array.from(records.subarray(12, first.length)),
      first.subarray(12),
      'first batch returned byte for byte after baseOffset and length',
    );
    assert.equal(readBatchHeader(records.subarray(first.length)).baseOffset, 3n);
  });

  test('a batch with a bad CRC is CORRUPT_MESSAGE and bad acks INVALID_REQUIRED_ACKS', async () => {
    await kb.broker.client('/').createStream('crc', { partitions: 1 });
    const bad = batch(['x']);
    bad[bad.length - 1]! ^= 0xff;
    const r = await client.request<Obj>(ApiKey.Produce, 3, produceBody('crc', bad));
    assert.equal(r.responses[0].partitionResponses[0].errorCode, KafkaError.corruptMessage);
    const acks = await client.request<Obj>(ApiKey.Produce, 3, produceBody('crc', batch(['y']), 2));
    assert.equal(acks.responses[0].partitionResponses[0].errorCode, KafkaError.invalidRequiredAcks);
    const unknown = await client.request<Obj>(ApiKey.Produce, 3, produceBody('crc', batch(['y']), 1, 5));
    assert.equal(unknown.responses[0].partitionResponses[0].errorCode, KafkaError.unknownTopicOrPartition);
  });

  test('Fetch long-polls: parked at the end, it answers when data arrives; empty after maxWait otherwise', async () => {
    await kb.broker.client('/').createStream('poll', { partitions: 1 });
    const fetchBody = (maxWaitMs: number) => ({
      maxWaitMs,
      minBytes: 1,
      maxBytes: 1 << 20,
      sessionEpoch: -1,
      topics: [
        { topic: 'poll', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] },
      ],
    });
    const empty = await client.request<Obj>(ApiKey.Fetch, 4, fetchBody(100));
    assert.equal(empty.responses[0].partitions[0].records.length, 0);
    const other = await WireClient.open(kb.port);
    try {
      const id = client.send(ApiKey.Fetch, 11, fetchBody(20_000));
      setTimeout(() => other.send(ApiKey.Produce, 7, produceBody('poll', batch(['wake']))), 100);
      const got = await client.receive<Obj>(ApiKey.Fetch, 11, 10_000);
      assert.equal(got.correlationId, id);
      assert.ok(got.body.responses[0].partitions[0].records.length > 0, 'the parked fetch got the new batch');
    } finally {
      other.close();
    }
  });

  test('ListOffsets: earliest, latest and by timestamp; out-of-range fetches are refused', async () => {
    const vhost = kb.broker.client('/');
    await vhost.createStream('times', { partitions: 1 });
    await client.request(
      ApiKey.Produce,
      7,
      produceBody(
        'times',
        encodeRecordBatch({ baseTimestamp: 1000n, records: [{ value: utf8.encode('old') }] }),
      ),
    );
    await client.request(
      ApiKey.Produce,
      7,
      produceBody(
        'times',
        encodeRecordBatch({ baseTimestamp: 5000n, records: [{ value: utf8.encode('new') }] }),
      ),
    );
    const ask = (timestamp: bigint) =>
      client.request<Obj>(ApiKey.ListOffsets, 2, {
        replicaId: -1,
        topics: [{ name: 'times', partitions: [{ partitionIndex: 0, timestamp }] }],
      });
    assert.equal((await ask(-2n)).topics[0].partitions[0].offset, 0n);
    assert.equal((await ask(-1n)).topics[0].partitions[0].offset, 2n);
    assert.equal((await ask(3000n)).topics[0].partitions[0].offset, 1n);
    assert.equal((await ask(9000n)).topics[0].partitions[0].offset, -1n);
    const v0 = await client.request<Obj>(ApiKey.ListOffsets, 0, {
      replicaId: -1,
      topics: [{ name: 'times', partitions: [{ partitionIndex: 0, timestamp: -1n, maxNumOffsets: 1 }] }],
    });
    assert.deepEqual(v0.topics[0].partitions[0].oldStyleOffsets, [2n]);
    const far = await client.request<Obj>(ApiKey.Fetch, 4, {
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      topics: [
        { topic: 'times', partitions: [{ partition: 0, fetchOffset: 99n, partitionMaxBytes: 1 << 20 }] },
      ],
    });
    assert.equal(far.responses[0].partitions[0].errorCode, KafkaError.offsetOutOfRange);
  });

  test('idempotent producer: duplicates answer the first offset, gaps and unknown ids are refused', async () => {
    await kb.broker.client('/').createStream('idem', { partitions: 1 });
    const init = await client.request<Obj>(ApiKey.InitProducerId, 1, {
      transactionalId: null,
      transactionTimeoutMs: 1000,
    });
    assert.equal(init.errorCode, 0);
    const pid = init.producerId as bigint;
    const send = async (baseSequence: number, producerId = pid) => {
      const b = batch(['r1', 'r2'], { producerId, producerEpoch: 0, baseSequence });
      const r = await client.request<Obj>(ApiKey.Produce, 7, produceBody('idem', b, -1));
      return r.responses[0].partitionResponses[0] as Obj;
    };
    assert.equal((await send(0)).baseOffset, 0n);
    assert.equal((await send(2)).baseOffset, 2n);
    const dup = await send(0);
    assert.equal(dup.errorCode, 0);
    assert.equal(dup.baseOffset, 0n, 'a retried batch gets its original offset');
    assert.equal(kb.broker.client('/').partition('idem', 0).endOffset, 4, 'and is not stored twice');
    assert.equal((await send(9)).errorCode, KafkaError.outOfOrderSequenceNumber);
    assert.equal((await send(0, 987654n)).errorCode, KafkaError.unknownProducerId);
  });

  test('bad frames close the connection and the broker keeps serving others', async () => {
    const cases: Array<(c: WireClient) => void> = [
      (c) => c.sendRaw(Uint8Array.of(0, 0, 0, 10, 0x03, 0xe7, 0, 0, 0, 0, 0, 1, 0xff, 0xff)),
      (c) => c.sendRaw(Uint8Array.of(0xff, 0xff, 0xff, 0xf0)),
      (c) => c.sendRaw(Uint8Array.of(0, 0, 0, 3, 0, 3, 0)),
      (c) => c.sendRaw(Uint8Array.of(0x7f, 0xff, 0xff, 0xff)),
      (c) => c.sendRaw(Uint8Array.of(0, 0, 0, 10, 0, 3, 0, 99, 0, 0, 0, 1, 0, 0)),
      (c) => c.sendRaw(Uint8Array.of(0, 0, 0, 12, 0, 3, 0, 1, 0, 0, 0, 1, 0, 0, 0, 9)),
    ];
    for (const [i, misbehave] of cases.entries()) {
      const c = await WireClient.open(kb.port);
      misbehave(c);
      assert.equal(await c.nextFrame(5000), null, `case ${i}: connection closed without a response`);
      c.close();
    }
    const body = await client.request<Obj>(ApiKey.ApiVersions, 2, {});
    assert.equal(body.errorCode, 0, 'still serving');
  });
});
