/**
 * Kafka's ACLs end to end: kafkajs's createAcls / describeAcls / deleteAcls against the broker, and
 * the bindings enforced on the requests of an unauthenticated client (`User:ANONYMOUS`) — a produce,
 * a fetch and a group join refused with Kafka's error codes and nothing of them stored, a DENY winning
 * over an ALLOW, prefixed patterns, and the bindings surviving a restart.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import kafkajs, {
  type Acl,
  type Admin,
  type AclOperationTypes as Operation,
  type ResourcePatternTypes as PatternType,
  type AclResourceTypes as ResourceType,
} from 'kafkajs';
import { ApiKey, encodeRecordBatch } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import {
  hasCommand,
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
} from '../../../testing/kafka-helpers.js';
import { runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';

// Responses are checked field by field; the generated types would only add casts here.
// biome-ignore lint/suspicious/noExplicitAny: decoded test responses
type Obj = any;
// kafkajs's enums are plain properties of its CommonJS exports, which Node's named imports miss.
const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;
const anonymous = 'User:ANONYMOUS';

function binding(
  over: Partial<Acl & { resourceType: ResourceType; resourceName: string; resourcePatternType: PatternType }>,
) {
  return {
    resourceType: AclResourceTypes.TOPIC,
    resourceName: 'orders',
    resourcePatternType: ResourcePatternTypes.LITERAL,
    principal: anonymous,
    host: '*',
    operation: AclOperationTypes.READ,
    permissionType: AclPermissionTypes.ALLOW,
    ...over,
  };
}

const anyFilter = {
  resourceType: AclResourceTypes.ANY,
  resourcePatternType: ResourcePatternTypes.ANY,
  operation: AclOperationTypes.ANY,
  permissionType: AclPermissionTypes.ANY,
};

function records(value: string): Uint8Array {
  return encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: [{ value: new TextEncoder().encode(value) }],
  });
}

describe('kafka ACLs', () => {
  let kb: KafkaTestBroker;
  let admin: Admin;
  let wire: WireClient;
  before(async () => {
    kb = await startKafkaBroker();
    admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    wire = await WireClient.open(kb.port);
  });
  after(async () => {
    wire.close();
    await admin.disconnect();
    await kb.stop();
  });

  test('createAcls, describeAcls and deleteAcls through kafkajs', async () => {
    await admin.createAcls({
      acl: [
        binding({ resourceName: 'ledger', operation: AclOperationTypes.WRITE }),
        binding({ resourceName: 'ledger', principal: 'User:*', operation: AclOperationTypes.DESCRIBE }),
        binding({
          resourceType: AclResourceTypes.GROUP,
          resourceName: 'audit-',
          resourcePatternType: ResourcePatternTypes.PREFIXED,
        }),
      ],
    });
    const all = await admin.describeAcls(anyFilter);
    const ledger = all.resources.find((r) => r.resourceName === 'ledger');
    assert.equal(ledger?.resourcePatternType, ResourcePatternTypes.LITERAL);
    assert.deepEqual(ledger?.acls.map((a) => a.principal).sort(), ['User:*', anonymous]);
    const prefixed = await admin.describeAcls({
      ...anyFilter,
      resourceType: AclResourceTypes.GROUP,
      resourceName: 'audit-team',
      resourcePatternType: ResourcePatternTypes.MATCH,
    });
    assert.deepEqual(
      prefixed.resources.map((r) => [r.resourceName, r.resourcePatternType]),
      [['audit-', ResourcePatternTypes.PREFIXED]],
    );
    const deleted = await admin.deleteAcls({
      filters: [
        { ...anyFilter, resourceName: 'ledger', resourceType: AclResourceTypes.TOPIC },
        { ...anyFilter, principal: 'User:nobody' },
      ],
    });
    assert.equal(deleted.filterResponses[0]?.matchingAcls.length, 2);
    assert.equal(deleted.filterResponses[1]?.matchingAcls.length, 0);
    const left = await admin.describeAcls(anyFilter);
    assert.deepEqual(
      left.resources.map((r) => r.resourceName),
      ['audit-'],
    );
    await admin.deleteAcls({ filters: [anyFilter] });
  });

  test('a bad creation is refused on its own with INVALID_REQUEST; the others are created', async () => {
    const body = await wire.request<Obj>(ApiKey.CreateAcls, 3, {
      creations: [
        {
          resourceType: 4,
          resourceName: 'not-the-cluster',
          resourcePatternType: 3,
          principal: anonymous,
          host: '*',
          operation: 7,
          permissionType: 3,
        },
        {
          resourceType: 2,
          resourceName: 'fine',
          resourcePatternType: 3,
          principal: 'alice',
          host: '*',
          operation: 3,
          permissionType: 3,
        },
        {
          resourceType: 2,
          resourceName: 'fine',
          resourcePatternType: 2,
          principal: anonymous,
          host: '*',
          operation: 3,
          permissionType: 3,
        },
        {
          resourceType: 2,
          resourceName: 'fine',
          resourcePatternType: 3,
          principal: anonymous,
          host: '*',
          operation: 3,
          permissionType: 3,
        },
      ],
    });
    assert.deepEqual(
      body.results.map((r: Obj) => r.errorCode),
      [KafkaError.invalidRequest, KafkaError.invalidRequest, KafkaError.invalidRequest, 0],
    );
    assert.match(
      body.results[0].errorMessage,
      /The only valid name for the CLUSTER resource is kafka-cluster/,
    );
    const bad = await wire.request<Obj>(ApiKey.DescribeAcls, 3, {
      resourceTypeFilter: 0,
      resourceNameFilter: null,
      patternTypeFilter: 1,
      principalFilter: null,
      hostFilter: null,
      operation: 1,
      permissionType: 1,
    });
    assert.equal(bad.errorCode, KafkaError.invalidRequest);
    await admin.deleteAcls({ filters: [anyFilter] });
  });

  test('a produce refused by a DENY over an ALLOW stores nothing; READ still works', async () => {
    await admin.createTopics({ topics: [{ topic: 'guarded' }] });
    await admin.createAcls({
      acl: [
        binding({ resourceName: 'guarded', principal: 'User:*', operation: AclOperationTypes.ALL }),
        binding({
          resourceName: 'guarded',
          operation: AclOperationTypes.WRITE,
          permissionType: AclPermissionTypes.DENY,
        }),
      ],
    });
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    await assert.rejects(
      producer.send({ topic: 'guarded', messages: [{ value: 'no' }] }),
      (err: Obj) => err.type === 'TOPIC_AUTHORIZATION_FAILED' || /authoriz/i.test(String(err.message)),
    );
    await producer.disconnect();
    const produce = await wire.request<Obj>(ApiKey.Produce, 9, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'guarded', partitionData: [{ index: 0, records: records('no') }] }],
    });
    assert.equal(produce.responses[0].partitionResponses[0].errorCode, KafkaError.topicAuthorizationFailed);
    if (hasCommand('kcat')) {
      // librdkafka hears the same refusal and reports it for the message.
      const kcat = await runTool('kcat', ['-b', kb.bootstrap, '-P', '-t', 'guarded'], 'no\n');
      assert.match(kcat.stderr, /Topic authorization failed/i);
    }
    assert.equal(kb.broker.client().partition('guarded', 0).endOffset, 0, 'nothing was appended');
    const offsets = await admin.fetchTopicOffsets('guarded');
    assert.equal(offsets[0]?.high, '0');
    await admin.deleteAcls({ filters: [anyFilter] });
  });

  test('a fetch and a group join refused: TOPIC_ and GROUP_AUTHORIZATION_FAILED, no offsets stored', async () => {
    await admin.createTopics({ topics: [{ topic: 'sealed' }] });
    await wire.request(ApiKey.Produce, 9, {
      acks: -1,
      timeoutMs: 5000,
      topicData: [{ name: 'sealed', partitionData: [{ index: 0, records: records('kept') }] }],
    });
    await admin.createAcls({
      acl: [
        binding({ resourceName: 'sealed', operation: AclOperationTypes.WRITE }),
        // The group may be found (DESCRIBE) but not joined (READ).
        binding({
          resourceType: AclResourceTypes.GROUP,
          resourceName: 'closed',
          principal: 'User:*',
          operation: AclOperationTypes.DESCRIBE,
        }),
        binding({
          resourceType: AclResourceTypes.GROUP,
          resourceName: 'closed',
          principal: 'User:*',
          operation: AclOperationTypes.READ,
          permissionType: AclPermissionTypes.DENY,
        }),
      ],
    });
    const fetched = await wire.request<Obj>(ApiKey.Fetch, 11, {
      replicaId: -1,
      maxWaitMs: 10_000,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [
        { topic: 'sealed', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] },
      ],
    });
    const partition = fetched.responses[0].partitions[0];
    assert.equal(partition.errorCode, KafkaError.topicAuthorizationFailed);
    assert.equal(partition.records?.length ?? 0, 0, 'no records handed out');
    const join = await wire.request<Obj>(ApiKey.JoinGroup, 5, {
      groupId: 'closed',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 10_000,
      memberId: '',
      groupInstanceId: null,
      protocolType: 'consumer',
      protocols: [{ name: 'range', metadata: new Uint8Array(0) }],
    });
    assert.equal(join.errorCode, KafkaError.groupAuthorizationFailed);
    const commit = await wire.request<Obj>(ApiKey.OffsetCommit, 8, {
      groupId: 'closed',
      generationIdOrMemberEpoch: -1,
      memberId: '',
      groupInstanceId: null,
      topics: [
        {
          name: 'sealed',
          partitions: [
            { partitionIndex: 0, committedOffset: 1n, committedLeaderEpoch: -1, committedMetadata: null },
          ],
        },
      ],
    });
    assert.equal(commit.topics[0].partitions[0].errorCode, KafkaError.groupAuthorizationFailed);
    assert.deepEqual(kb.broker.client().groupOffsets('closed'), [], 'no offset was stored');
    const consumer = kafkaClient(kb.bootstrap).consumer({ groupId: 'closed', maxWaitTimeInMs: 100 });
    const crashed = new Promise<Obj>((resolve) => {
      consumer.on(consumer.events.CRASH, (e) => resolve(e.payload.error));
    });
    await consumer.connect();
    await consumer.subscribe({ topics: ['sealed'], fromBeginning: true });
    await consumer.run({ eachMessage: async () => {} });
    const error = await crashed;
    assert.equal(error.type, 'GROUP_AUTHORIZATION_FAILED', String(error.message));
    await consumer.disconnect();
    await admin.deleteAcls({ filters: [anyFilter] });
  });

  test('a prefixed pattern hides every topic it begins, and only those', async () => {
    await admin.createTopics({ topics: [{ topic: 'private.keys' }, { topic: 'public.news' }] });
    await admin.createAcls({
      acl: [
        binding({
          resourceName: 'private.',
          resourcePatternType: ResourcePatternTypes.PREFIXED,
          operation: AclOperationTypes.ALL,
          permissionType: AclPermissionTypes.DENY,
        }),
      ],
    });
    const named = await wire.request<Obj>(ApiKey.Metadata, 12, {
      topics: [
        { topicId: '00000000-0000-0000-0000-000000000000', name: 'private.keys' },
        { topicId: '00000000-0000-0000-0000-000000000000', name: 'public.news' },
      ],
      allowAutoTopicCreation: false,
      includeTopicAuthorizedOperations: true,
    });
    const byName = new Map<string, Obj>(named.topics.map((t: Obj) => [t.name, t]));
    assert.equal(byName.get('private.keys')?.errorCode, KafkaError.topicAuthorizationFailed);
    assert.equal(byName.get('public.news')?.errorCode, 0);
    assert.notEqual(byName.get('public.news')?.topicAuthorizedOperations, 0);
    const listed = await admin.listTopics();
    assert.ok(listed.includes('public.news'));
    assert.ok(!listed.includes('private.keys'), 'a topic the client may not describe is not listed');
    await admin.deleteAcls({ filters: [anyFilter] });
  });
});

test('ACLs are kept in the definitions and come back after a restart', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-acls-'));
  try {
    let kb = await startKafkaBroker({ storage: 'file', dataDir });
    let admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    await admin.createAcls({
      acl: [binding({ resourceName: 'kept', operation: AclOperationTypes.DESCRIBE })],
    });
    await admin.disconnect();
    await kb.stop();
    kb = await startKafkaBroker({ storage: 'file', dataDir });
    admin = kafkaClient(kb.bootstrap).admin();
    await admin.connect();
    const after = await admin.describeAcls(anyFilter);
    assert.deepEqual(
      after.resources.map((r) => [r.resourceName, r.acls.map((a) => a.operation)]),
      [['kept', [AclOperationTypes.DESCRIBE]]],
    );
    await admin.disconnect();
    await kb.stop();
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});
