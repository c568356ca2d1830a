import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeAddPartitionsToTxnRequest,
  decodeAddPartitionsToTxnResponse,
  decodeApiVersionsRequest,
  decodeApiVersionsResponse,
  decodeFetchRequest,
  decodeFetchResponse,
  decodeJoinGroupRequest,
  decodeJoinGroupResponse,
  decodeMetadataRequest,
  decodeMetadataResponse,
  decodeOffsetCommitRequest,
  decodeOffsetCommitResponse,
  decodeProduceRequest,
  decodeProduceResponse,
  encodeAddPartitionsToTxnRequest,
  encodeAddPartitionsToTxnResponse,
  encodeApiVersionsRequest,
  encodeApiVersionsResponse,
  encodeFetchRequest,
  encodeFetchResponse,
  encodeJoinGroupRequest,
  encodeJoinGroupResponse,
  encodeMetadataRequest,
  encodeMetadataResponse,
  encodeOffsetCommitRequest,
  encodeOffsetCommitResponse,
  encodeProduceRequest,
  encodeProduceResponse,
  encodeRecordBatch,
  isKafkaCodecError,
  KafkaCodecReason,
  KafkaReader,
  KafkaWriter,
  metadataRequestSchema,
  readBatchHeader,
  writeMessage,
} from '../../src/protocols/kafka/codec/index.js';

// ---- byte builders for hand-written expectations ----
const i16 = (n: number): number[] => [(n >> 8) & 0xff, n & 0xff];
const i32 = (n: number): number[] => [(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff];
const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
const str = (s: string): number[] => [...i16(s.length), ...ascii(s)];
const cstr = (s: string): number[] => [s.length + 1, ...ascii(s)];
const bytes = (...parts: number[][]): Uint8Array => Uint8Array.from(parts.flat());
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

/** Encodes, checks the bytes (if given), decodes, and checks that re-encoding is byte-identical. */
function roundTrip<T>(
  encode: (msg: never, version: number) => Uint8Array,
  decode: (r: KafkaReader, version: number) => T,
  msg: unknown,
  version: number,
  expected?: Uint8Array,
): T {
  const encoded = encode(msg as never, version);
  if (expected !== undefined) assert.equal(hex(encoded), hex(expected));
  const r = new KafkaReader(encoded);
  const decoded = decode(r, version);
  assert.equal(r.remaining, 0, 'decoder consumed every byte');
  assert.equal(hex(encode(decoded as never, version)), hex(encoded), 're-encoding is byte-identical');
  return decoded;
}

describe('ApiVersions', () => {
  it('v0 request is an empty body', () => {
    roundTrip(encodeApiVersionsRequest, decodeApiVersionsRequest, {}, 0, new Uint8Array(0));
  });

  it('v3 request uses compact strings and an empty tagged-field section', () => {
    const expected = bytes(cstr('kcat'), cstr('1.7.1'), [0]);
    const decoded = roundTrip(
      encodeApiVersionsRequest,
      decodeApiVersionsRequest,
      { clientSoftwareName: 'kcat', clientSoftwareVersion: '1.7.1' },
      3,
      expected,
    );
    assert.deepEqual(decoded, { clientSoftwareName: 'kcat', clientSoftwareVersion: '1.7.1' });
  });

  const apiKeys = [
    { apiKey: 0, minVersion: 0, maxVersion: 7 },
    { apiKey: 18, minVersion: 0, maxVersion: 3 },
  ];

  it('v0 response matches hand-built bytes', () => {
    const expected = bytes(i16(0), i32(2), i16(0), i16(0), i16(7), i16(18), i16(0), i16(3));
    const decoded = roundTrip(encodeApiVersionsResponse, decodeApiVersionsResponse, { apiKeys }, 0, expected);
    assert.deepEqual(decoded.apiKeys, apiKeys);
    assert.equal(decoded.throttleTimeMs, 0, 'absent field takes its default');
    assert.equal(decoded.finalizedFeaturesEpoch, -1n, 'absent field takes its schema default');
  });

  it('v3 response has compact arrays, per-struct tags and a non-default tagged field', () => {
    const expected = bytes(
      i16(0),
      [3],
      i16(0),
      i16(0),
      i16(7),
      [0],
      i16(18),
      i16(0),
      i16(3),
      [0],
      i32(0),
      [1, 1, 8, 0, 0, 0, 0, 0, 0, 0, 5],
    );
    const msg = { errorCode: 0, apiKeys, throttleTimeMs: 0, finalizedFeaturesEpoch: 5n };
    const decoded = roundTrip(encodeApiVersionsResponse, decodeApiVersionsResponse, msg, 3, expected);
    assert.equal(decoded.finalizedFeaturesEpoch, 5n);
    assert.equal(decoded.zkMigrationReady, false);
  });

  it('keeps unknown tagged fields and writes them back in tag order', () => {
    const input = bytes(i16(0), [1], i32(0), [2, 1, 8, ...Array(7).fill(0), 9, 7, 2, 0xab, 0xcd]);
    const decoded = decodeApiVersionsResponse(new KafkaReader(input), 3);
    assert.equal(decoded.finalizedFeaturesEpoch, 9n);
    assert.deepEqual(decoded.unknownTaggedFields, [{ tag: 7, data: Uint8Array.from([0xab, 0xcd]) }]);
    assert.equal(hex(encodeApiVersionsResponse(decoded, 3)), hex(input));
  });

  it('refuses a version outside validVersions', () => {
    assert.throws(
      () => encodeApiVersionsRequest({}, 99),
      (e) => isKafkaCodecError(e) && e.reason === KafkaCodecReason.unsupportedVersion,
    );
  });
});

const v0Response = {
  brokers: [{ nodeId: 1, host: 'localhost', port: 9092 }],
  topics: [
    {
      errorCode: 0,
      name: 'a',
      partitions: [{ errorCode: 0, partitionIndex: 0, leaderId: 1, replicaNodes: [1], isrNodes: [1] }],
    },
  ],
};

describe('Metadata', () => {
  it('v0 request matches hand-built bytes', () => {
    const expected = bytes(i32(2), str('a'), str('bc'));
    const decoded = roundTrip(
      encodeMetadataRequest,
      decodeMetadataRequest,
      { topics: [{ name: 'a' }, { name: 'bc' }] },
      0,
      expected,
    );
    assert.equal(decoded.allowAutoTopicCreation, true, 'v0 implies auto-creation (schema default)');
  });

  it('null topics means "all topics" from v1, and cannot be sent at v0', () => {
    roundTrip(encodeMetadataRequest, decodeMetadataRequest, { topics: null }, 1, bytes(i32(-1)));
    assert.throws(() => encodeMetadataRequest({ topics: null }, 0), isKafkaCodecError);
  });

  it('refuses a non-default value for a field the version lacks', () => {
    assert.throws(
      () => encodeMetadataRequest({ topics: [], allowAutoTopicCreation: false }, 3),
      (e) => isKafkaCodecError(e) && e.reason === KafkaCodecReason.unsupportedVersion,
    );
  });

  it('written pruned, a field the version lacks is left out, as if absent', () => {
    const pruned = new KafkaWriter();
    writeMessage(pruned, metadataRequestSchema, { topics: [], allowAutoTopicCreation: false }, 3, true);
    assert.deepEqual(pruned.finish(), encodeMetadataRequest({ topics: [] }, 3));
  });

  it('v0 response matches hand-built bytes', () => {
    const expected = bytes(
      i32(1),
      i32(1),
      str('localhost'),
      i32(9092),
      i32(1),
      i16(0),
      str('a'),
      i32(1),
      i16(0),
      i32(0),
      i32(1),
      i32(1),
      i32(1),
      i32(1),
      i32(1),
    );
    const decoded = roundTrip(encodeMetadataResponse, decodeMetadataResponse, v0Response, 0, expected);
    assert.equal(decoded.brokers[0]?.rack, null);
    assert.equal(decoded.controllerId, -1);
  });

  it('v9 (flexible) round-trips requests and responses', () => {
    const request = roundTrip(
      encodeMetadataRequest,
      decodeMetadataRequest,
      { topics: [{ name: 'orders' }], allowAutoTopicCreation: false, includeTopicAuthorizedOperations: true },
      9,
      bytes([2], cstr('orders'), [0], [0, 0, 1, 0]),
    );
    assert.equal(request.topics?.[0]?.name, 'orders');
    const response = roundTrip(
      encodeMetadataResponse,
      decodeMetadataResponse,
      {
        throttleTimeMs: 0,
        brokers: [{ nodeId: 1, host: 'localhost', port: 9092, rack: null }],
        clusterId: 'switchyard',
        controllerId: 1,
        topics: [{ ...v0Response.topics[0], isInternal: false, topicAuthorizedOperations: 8 }],
        clusterAuthorizedOperations: -2147483648,
      },
      9,
    );
    assert.equal(response.clusterId, 'switchyard');
    assert.equal(response.topics[0]?.partitions[0]?.leaderEpoch, -1);
  });
});

const batch = encodeRecordBatch({
  baseTimestamp: 1_700_000_000_000n,
  records: [{ key: null, value: Uint8Array.from([104, 105]) }],
});

describe('Produce', () => {
  it('v3 carries the record batch unchanged', () => {
    const request = roundTrip(
      encodeProduceRequest,
      decodeProduceRequest,
      {
        transactionalId: null,
        acks: -1,
        timeoutMs: 30000,
        topicData: [{ name: 'orders', partitionData: [{ index: 0, records: batch }] }],
      },
      3,
    );
    const records = request.topicData[0]?.partitionData[0]?.records;
    assert.ok(records instanceof Uint8Array);
    assert.equal(hex(records), hex(batch));
    assert.equal(readBatchHeader(records).recordsCount, 1);
    roundTrip(
      encodeProduceResponse,
      decodeProduceResponse,
      {
        responses: [{ name: 'orders', partitionResponses: [{ index: 0, errorCode: 0, baseOffset: 42n }] }],
        throttleTimeMs: 0,
      },
      3,
    );
  });
});

describe('Fetch', () => {
  it('v11 round-trips with rack id, sessions and aborted transactions', () => {
    const request = roundTrip(
      encodeFetchRequest,
      decodeFetchRequest,
      {
        replicaId: -1,
        maxWaitMs: 500,
        minBytes: 1,
        maxBytes: 52428800,
        isolationLevel: 1,
        sessionId: 0,
        sessionEpoch: -1,
        topics: [
          {
            topic: 'orders',
            partitions: [
              {
                partition: 0,
                currentLeaderEpoch: -1,
                fetchOffset: 5n,
                logStartOffset: -1n,
                partitionMaxBytes: 1048576,
              },
            ],
          },
        ],
        forgottenTopicsData: [],
        rackId: 'rack-a',
      },
      11,
    );
    assert.equal(request.topics[0]?.partitions[0]?.fetchOffset, 5n);
    const response = roundTrip(
      encodeFetchResponse,
      decodeFetchResponse,
      {
        throttleTimeMs: 0,
        errorCode: 0,
        sessionId: 0,
        responses: [
          {
            topic: 'orders',
            partitions: [
              {
                partitionIndex: 0,
                errorCode: 0,
                highWatermark: 6n,
                lastStableOffset: 6n,
                logStartOffset: 0n,
                abortedTransactions: [{ producerId: 7n, firstOffset: 3n }],
                preferredReadReplica: -1,
                records: batch,
              },
            ],
          },
        ],
      },
      11,
    );
    assert.equal(response.responses[0]?.partitions[0]?.abortedTransactions?.[0]?.producerId, 7n);
  });
});

describe('JoinGroup', () => {
  it('v5 round-trips static membership fields', () => {
    const request = roundTrip(
      encodeJoinGroupRequest,
      decodeJoinGroupRequest,
      {
        groupId: 'g',
        sessionTimeoutMs: 10000,
        rebalanceTimeoutMs: 60000,
        memberId: '',
        groupInstanceId: 'instance-1',
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata: Uint8Array.from([0, 1, 2]) }],
      },
      5,
    );
    assert.equal(request.groupInstanceId, 'instance-1');
    roundTrip(
      encodeJoinGroupResponse,
      decodeJoinGroupResponse,
      {
        throttleTimeMs: 0,
        errorCode: 0,
        generationId: 1,
        protocolName: 'range',
        leader: 'm-1',
        memberId: 'm-1',
        members: [{ memberId: 'm-1', groupInstanceId: null, metadata: Uint8Array.from([9]) }],
      },
      5,
    );
  });
});

describe('OffsetCommit', () => {
  it('v7 round-trips', () => {
    const request = roundTrip(
      encodeOffsetCommitRequest,
      decodeOffsetCommitRequest,
      {
        groupId: 'g',
        generationIdOrMemberEpoch: 3,
        memberId: 'm-1',
        groupInstanceId: null,
        topics: [
          {
            name: 'orders',
            partitions: [
              { partitionIndex: 0, committedOffset: 10n, committedLeaderEpoch: -1, committedMetadata: null },
            ],
          },
        ],
      },
      7,
    );
    assert.equal(request.topics[0]?.partitions[0]?.committedOffset, 10n);
    roundTrip(
      encodeOffsetCommitResponse,
      decodeOffsetCommitResponse,
      { throttleTimeMs: 0, topics: [{ name: 'orders', partitions: [{ partitionIndex: 0, errorCode: 0 }] }] },
      7,
    );
  });
});

describe('AddPartitionsToTxn v4–5 (KIP-890 part 1: batched, VerifyOnly)', () => {
  const i64 = (n: number): number[] => [0, 0, 0, 0, ...i32(n)];
  const request = {
    transactions: [
      {
        transactionalId: 'tx',
        producerId: 7n,
        producerEpoch: 2,
        verifyOnly: true,
        topics: [{ name: 'o', partitions: [0, 2] }],
      },
    ],
  };
  const requestBytes = bytes(
    [2], // transactions: compact array of 1
    [3, ...ascii('tx')], // transactionalId, compact string
    i64(7), // producerId
    i16(2), // producerEpoch
    [1], // verifyOnly
    [2, 2, ...ascii('o')], // topics: 1, name 'o'
    [3, ...i32(0), ...i32(2)], // partitions: compact array of int32 [0, 2]
    [0, 0, 0], // tagged fields of the topic, the transaction, the request
  );
  const response = {
    throttleTimeMs: 0,
    errorCode: 0,
    resultsByTransaction: [
      {
        transactionalId: 'tx',
        topicResults: [
          {
            name: 'o',
            resultsByPartition: [
              { partitionIndex: 0, partitionErrorCode: 0 },
              { partitionIndex: 2, partitionErrorCode: 120 },
            ],
          },
        ],
      },
    ],
  };
  const responseBytes = bytes(
    i32(0), // throttleTimeMs
    i16(0), // errorCode (top level, v4+)
    [2, 3, ...ascii('tx')], // resultsByTransaction: 1, transactionalId
    [2, 2, ...ascii('o')], // topicResults: 1, name 'o'
    [3, ...i32(0), ...i16(0), 0], // resultsByPartition: 2; partition 0 NONE
    [...i32(2), ...i16(120), 0], // partition 2 TRANSACTION_ABORTABLE
    [0, 0, 0], // tagged fields of the topic, the transaction, the response
  );

  for (const version of [4, 5]) {
    it(`v${version} round-trips byte-exactly, with no v3-and-below fields on the wire`, () => {
      const decoded = roundTrip(
        encodeAddPartitionsToTxnRequest,
        decodeAddPartitionsToTxnRequest,
        request,
        version,
        requestBytes,
      );
      assert.deepEqual(
        decoded.transactions.map((t) => [t.transactionalId, t.producerId, t.verifyOnly, t.topics]),
        [['tx', 7n, true, [{ name: 'o', partitions: [0, 2] }]]],
      );
      roundTrip(
        encodeAddPartitionsToTxnResponse,
        decodeAddPartitionsToTxnResponse,
        response,
        version,
        responseBytes,
      );
    });
  }

  it('mutated and truncated v4–5 bytes decode or fail with KafkaCodecError only', () => {
    let seed = 0x7a11;
    const next = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    for (let i = 0; i < 2000; i++) {
      const source = i % 2 === 0 ? requestBytes : responseBytes;
      const input = Uint8Array.from(source);
      for (let k = 0; k < 1 + (next() % 3); k++) input[next() % input.length] = next() & 0xff;
      for (const b of [input, input.subarray(0, next() % (input.length + 1))]) {
        try {
          const r = new KafkaReader(b);
          if (i % 2 === 0) decodeAddPartitionsToTxnRequest(r, 4 + (i % 4 === 0 ? 1 : 0));
          else decodeAddPartitionsToTxnResponse(r, 5);
        } catch (err) {
          assert.ok(isKafkaCodecError(err), `threw ${String(err)} for ${hex(b)}`);
        }
      }
    }
  });
});
