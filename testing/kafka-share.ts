/**
 * A share-group member (KIP-932) by raw requests on one connection, for the tests that kill a broker
 * under a share group: it joins, fetches (partition 0, returning [first, last, deliveryCount] per
 * acquired range) and acknowledges. Assertions fail the test on an error code (an acknowledgement's
 * other than the one it expects).
 */
import assert from 'node:assert/strict';
import {
  ApiKey,
  type IncrementalAlterConfigsResponse,
  type MetadataResponse,
  type ShareAcknowledgeResponse,
  type ShareFetchResponse,
  type ShareGroupHeartbeatResponse,
} from '../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../src/protocols/kafka/errors.js';
import { kafkaClient } from './kafka-helpers.js';
import { WireClient } from './kafka-wire.js';

export interface ShareNames {
  readonly topic: string;
  readonly group: string;
}

/** A share consumer by raw requests on one connection. */
export async function shareMember(port: number, names: ShareNames, memberId: string) {
  const { topic, group } = names;
  const wire = await WireClient.open(port);
  const md = await wire.request<MetadataResponse>(ApiKey.Metadata, 12, { topics: [{ name: topic }] });
  const topicId = md.topics[0]!.topicId;
  const joined = await wire.request<ShareGroupHeartbeatResponse>(ApiKey.ShareGroupHeartbeat, 1, {
    groupId: group,
    memberId,
    memberEpoch: 0,
    subscribedTopicNames: [topic],
  });
  assert.equal(joined.errorCode, KafkaError.none, joined.errorMessage ?? '');
  const fetch = async (epoch: number, maxRecords: number) => {
    const r = await wire.request<ShareFetchResponse>(ApiKey.ShareFetch, 1, {
      groupId: group,
      memberId,
      shareSessionEpoch: epoch,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1024 * 1024,
      maxRecords,
      batchSize: maxRecords,
      topics: [{ topicId, partitions: [{ partitionIndex: 0, acknowledgementBatches: [] }] }],
    });
    assert.equal(r.errorCode, KafkaError.none);
    return r.responses.flatMap((t) =>
      t.partitions.flatMap((p) =>
        p.acquiredRecords.map((a) => [Number(a.firstOffset), Number(a.lastOffset), a.deliveryCount]),
      ),
    );
  };
  const acknowledge = async (
    epoch: number,
    first: number,
    types: number[],
    expected: number = KafkaError.none,
  ) => {
    const r = await wire.request<ShareAcknowledgeResponse>(ApiKey.ShareAcknowledge, 1, {
      groupId: group,
      memberId,
      shareSessionEpoch: epoch,
      topics: [
        {
          topicId,
          partitions: [
            {
              partitionIndex: 0,
              acknowledgementBatches: [
                {
                  firstOffset: BigInt(first),
                  lastOffset: BigInt(first + types.length - 1),
                  acknowledgeTypes: types,
                },
              ],
            },
          ],
        },
      ],
    });
    assert.equal(r.responses[0]?.partitions[0]?.errorCode, expected);
  };
  return { wire, topicId, fetch, acknowledge };
}

/** Sets the group's share.auto.offset.reset to earliest (a GROUP config, KIP-932), so it reads what is there. */
export async function startAtEarliest(wire: WireClient, group: string): Promise<void> {
  const altered = await wire.request<IncrementalAlterConfigsResponse>(ApiKey.IncrementalAlterConfigs, 1, {
    resources: [
      {
        resourceType: 32,
        resourceName: group,
        configs: [{ name: 'share.auto.offset.reset', configOperation: 0, value: 'earliest' }],
      },
    ],
    validateOnly: false,
  });
  assert.equal(altered.responses[0]?.errorCode, KafkaError.none);
}

/** Records produced per request by `createFilled`. */
const fillBatchRecords = 500;

/** Creates `topic` with one partition and produces `values` to it in order. */
export async function createFilled(
  bootstrap: string,
  topic: string,
  values: readonly string[],
): Promise<void> {
  const kafka = kafkaClient(bootstrap);
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: 1 }] });
  await admin.disconnect();
  const producer = kafka.producer();
  await producer.connect();
  for (let i = 0; i < values.length; i += fillBatchRecords)
    await producer.send({
      topic,
      messages: values.slice(i, i + fillBatchRecords).map((value) => ({ value })),
    });
  await producer.disconnect();
}
