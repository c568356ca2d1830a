/**
 * Kafka's ACLs in the handlers, in memory, with the principal and client address a connection would
 * carry once SASL names them: produce, fetch, metadata and groups as `User:alice` and `User:bob`, super
 * users, a connection's cached decisions following ACL changes and a change of principal, host-bound
 * bindings, KIP-430's authorized operations, and the permissions of a user deciding beside the ACLs.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type AclBinding, anyAcl as anyFilter } from '../../src/core/acls.js';
import { internalContext } from '../../src/core/entry/context.js';
import { ConnectionAcls } from '../../src/protocols/kafka/acls.js';
import { encodeRecordBatch } from '../../src/protocols/kafka/codec/index.js';
import {
  type KafkaBroker,
  Later,
  type Reply,
  type RequestContext,
} from '../../src/protocols/kafka/context.js';
import { KafkaError } from '../../src/protocols/kafka/errors.js';
import { createAclsHandler } from '../../src/protocols/kafka/handlers/acls.js';
import {
  createTopicsHandler,
  deleteTopicsHandler,
  initProducerIdHandler,
} from '../../src/protocols/kafka/handlers/admin.js';
import { fetchHandler } from '../../src/protocols/kafka/handlers/fetch.js';
import { describeGroupsHandler, joinGroupHandler } from '../../src/protocols/kafka/handlers/groups.js';
import { metadataHandler } from '../../src/protocols/kafka/handlers/metadata.js';
import { produceHandler } from '../../src/protocols/kafka/handlers/produce.js';
import { openCore } from '../../testing/core-helpers.js';
import { kafkaBrokerOver, requestContext } from '../../testing/kafka-context.js';

// biome-ignore lint/suspicious/noExplicitAny: handler answers are checked field by field
type Obj = any;

async function answer(reply: Reply | Promise<Reply>): Promise<Obj> {
  const got = await reply;
  return got instanceof Later ? got.bodyOf(await got.response) : got;
}

function acl(over: Partial<AclBinding>): AclBinding {
  return {
    resourceType: 'TOPIC',
    resourceName: 'orders',
    patternType: 'LITERAL',
    principal: 'User:alice',
    host: '*',
    operation: 'WRITE',
    permission: 'ALLOW',
    ...over,
  };
}

function produce(ctx: RequestContext, topic: string, value = 'v'): Promise<number> {
  const records = encodeRecordBatch({
    baseTimestamp: 0n,
    records: [{ value: new TextEncoder().encode(value) }],
  });
  const request = {
    transactionalId: null,
    acks: -1,
    timeoutMs: 1000,
    topicData: [{ name: topic, partitionData: [{ index: 0, records }] }],
  };
  return answer(produceHandler.handle({ ...ctx, apiVersion: 9 }, request)).then(
    (r) => r.responses[0].partitionResponses[0].errorCode,
  );
}

async function fixture(): Promise<{
  broker: KafkaBroker;
  close(): Promise<void>;
  admin: ReturnType<KafkaBroker['core']['connect']>;
}> {
  const core = await openCore();
  const broker = kafkaBrokerOver(core.broker);
  const admin = core.broker.connect(internalContext('/'));
  await admin.createStream('orders', { partitions: 1 });
  await admin.createStream('audit', { partitions: 1 });
  return {
    broker,
    admin,
    close: async () => {
      broker.groups.close();
      broker.consumerGroups.close();
      broker.shareGroups.close();
      await core.broker.close();
    },
  };
}

test('a produce is allowed to the principal an ACL names and refused to another, who stores nothing', async () => {
  const f = await fixture();
  await f.admin.createAcls([acl({})]);
  assert.equal(await produce(requestContext(f.broker, 'User:alice'), 'orders'), KafkaError.none);
  assert.equal(
    await produce(requestContext(f.broker, 'User:bob'), 'orders'),
    KafkaError.topicAuthorizationFailed,
  );
  assert.equal(
    await produce(requestContext(f.broker, 'User:bob'), 'audit'),
    KafkaError.none,
    'no ACL on audit',
  );
  assert.equal(f.admin.partition('orders', 0).endOffset, 1, "only alice's record is stored");
  await f.close();
});

test('super users (the administrator tag) pass every ACL; ANONYMOUS never is one', async () => {
  const f = await fixture();
  await f.admin.putUser('root', 'pw', ['administrator']);
  await f.admin.putUser('ANONYMOUS', 'pw', ['administrator']);
  await f.admin.createAcls([acl({ principal: 'User:*', permission: 'DENY' })]);
  assert.equal(await produce(requestContext(f.broker, 'User:root'), 'orders'), KafkaError.none);
  assert.equal(
    await produce(requestContext(f.broker, 'User:alice'), 'orders'),
    KafkaError.topicAuthorizationFailed,
  );
  const anonymous = await produce(requestContext(f.broker, 'User:ANONYMOUS'), 'orders');
  assert.equal(anonymous, KafkaError.topicAuthorizationFailed);
  await f.close();
});

test("a connection's cached decisions follow ACL changes and a change of its principal", async () => {
  const f = await fixture();
  const acls = new ConnectionAcls(f.broker, '10.0.0.1', () => f.broker.vhost);
  const alice = requestContext(f.broker, 'User:alice', { acls });
  assert.equal(await produce(alice, 'orders'), KafkaError.none);
  await f.admin.createAcls([acl({ permission: 'DENY' })]);
  assert.equal(
    await produce(alice, 'orders'),
    KafkaError.topicAuthorizationFailed,
    'the DENY applies at once',
  );
  const bob = requestContext(f.broker, 'User:bob', { acls });
  assert.equal(
    await produce(bob, 'orders'),
    KafkaError.topicAuthorizationFailed,
    'a binding exists, none for bob',
  );
  await f.admin.createAcls([acl({ principal: 'User:bob' })]);
  assert.equal(await produce(bob, 'orders'), KafkaError.none);
  await f.close();
});

test('a host-bound binding applies from that address only', async () => {
  const f = await fixture();
  await f.admin.createAcls([acl({ host: '10.0.0.1', operation: 'READ' })]);
  const fetch = async (host: string) => {
    const ctx = requestContext(f.broker, 'User:alice', { host, apiVersion: 4 });
    const request = {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      isolationLevel: 0,
      topics: [
        { topic: 'orders', partitions: [{ partition: 0, fetchOffset: 0n, partitionMaxBytes: 1 << 20 }] },
      ],
    };
    const r = await answer(fetchHandler.handle(ctx, request));
    return r.responses[0].partitions[0].errorCode;
  };
  assert.equal(await fetch('10.0.0.1'), KafkaError.none);
  assert.equal(await fetch('10.0.0.2'), KafkaError.topicAuthorizationFailed);
  await f.close();
});

test("Metadata's and DescribeGroups' authorized operations are the real decision (KIP-430)", async () => {
  const f = await fixture();
  await f.admin.createAcls([
    acl({ operation: 'READ' }),
    acl({ resourceType: 'GROUP', resourceName: 'g', operation: 'READ' }),
  ]);
  const alice = requestContext(f.broker, 'User:alice', { apiVersion: 10 });
  const metadata = await answer(
    metadataHandler.handle(alice, {
      topics: [{ topicId: '00000000-0000-0000-0000-000000000000', name: 'orders' }],
      allowAutoTopicCreation: false,
      includeClusterAuthorizedOperations: true,
      includeTopicAuthorizedOperations: true,
    }),
  );
  // READ (3) and the DESCRIBE (8) it implies; nothing else on a topic with bindings.
  assert.equal(metadata.topics[0].topicAuthorizedOperations, (1 << 3) | (1 << 8));
  assert.notEqual(metadata.clusterAuthorizedOperations, 0, 'the cluster has no bindings');
  const groups = await answer(
    describeGroupsHandler.handle(
      { ...alice, apiVersion: 5 },
      { groups: ['g', 'h'], includeAuthorizedOperations: true },
    ),
  );
  assert.equal(groups.groups[0].authorizedOperations, (1 << 3) | (1 << 8));
  assert.equal(groups.groups[1].errorCode, KafkaError.none, 'h has no bindings');
  const bob = requestContext(f.broker, 'User:bob', { apiVersion: 5 });
  const refused = await answer(
    describeGroupsHandler.handle(bob, { groups: ['g'], includeAuthorizedOperations: true }),
  );
  assert.equal(refused.groups[0].errorCode, KafkaError.groupAuthorizationFailed);
  await f.close();
});

test("the user's permissions decide beside the ACLs: both must allow", async () => {
  const core = await openCore();
  const admin = core.broker.connect(internalContext('/'));
  await admin.putUser('app', 'pw', []);
  await admin.setPermission('/', 'app', { configure: '.*', write: '^orders$', read: '.*' });
  await admin.createStream('orders', { partitions: 1 });
  await admin.createStream('audit', { partitions: 1 });
  const broker = kafkaBrokerOver(core.broker, { principal: { user: 'app', tags: [] } });
  const app = requestContext(broker, 'User:app');
  assert.equal(await produce(app, 'orders'), KafkaError.none, 'permission and no ACL');
  assert.equal(await produce(app, 'audit'), KafkaError.topicAuthorizationFailed, 'no write permission');
  await admin.createAcls([acl({ principal: 'User:app', resourceName: 'audit' })]);
  assert.equal(
    await produce(app, 'audit'),
    KafkaError.topicAuthorizationFailed,
    'an ALLOW does not widen the permission',
  );
  const join = await answer(
    joinGroupHandler.handle(
      { ...app, apiVersion: 5 },
      {
        groupId: 'g',
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 10_000,
        memberId: '',
        groupInstanceId: null,
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata: new Uint8Array(0) }],
        reason: null,
      },
    ),
  );
  assert.notEqual(
    join.errorCode,
    KafkaError.groupAuthorizationFailed,
    'a group needs access to the vhost only',
  );
  broker.groups.close();
  broker.consumerGroups.close();
  broker.shareGroups.close();
  await core.broker.close();
});

test('producer ids, the ACL APIs and topic deletion are refused with the cluster, id and topic errors', async () => {
  const f = await fixture();
  await f.admin.createAcls([
    acl({ resourceType: 'CLUSTER', resourceName: 'kafka-cluster', principal: 'User:root', operation: 'ALL' }),
    acl({ resourceType: 'TRANSACTIONAL_ID', resourceName: 'tx', principal: 'User:alice' }),
  ]);
  const init = (ctx: RequestContext, transactionalId: string | null) =>
    answer(
      initProducerIdHandler.handle(
        { ...ctx, apiVersion: 4 },
        {
          transactionalId,
          transactionTimeoutMs: 10_000,
          producerId: -1n,
          producerEpoch: -1,
        },
      ),
    ).then((r) => r.errorCode);
  const alice = requestContext(f.broker, 'User:alice');
  const bob = requestContext(f.broker, 'User:bob');
  assert.equal(await init(alice, 'tx'), KafkaError.none);
  assert.equal(await init(bob, 'tx'), KafkaError.transactionalIdAuthorizationFailed);
  // Idempotence (KIP-679): IDEMPOTENT_WRITE on the cluster, or WRITE on some topic.
  assert.equal(await init(bob, null), KafkaError.none, 'topics without bindings count');
  await f.admin.createAcls([acl({ resourceName: '*', principal: 'User:*', operation: 'READ' })]);
  assert.equal(await init(bob, null), KafkaError.clusterAuthorizationFailed, 'every topic has a binding now');
  await f.admin.createAcls([acl({ principal: 'User:bob', resourceName: 'audit' })]);
  assert.equal(await init(bob, null), KafkaError.none, 'bob may WRITE audit');

  const creation = {
    resourceType: 2,
    resourceName: 'x',
    resourcePatternType: 3,
    principal: 'User:bob',
    host: '*',
    operation: 3,
    permissionType: 3,
  };
  const created = await answer(
    createAclsHandler.handle({ ...bob, apiVersion: 3 }, { creations: [creation] }),
  );
  assert.equal(created.results[0].errorCode, KafkaError.clusterAuthorizationFailed);
  assert.equal(f.admin.listAcls({ ...anyFilter, resourceName: 'x' }).length, 0, 'nothing was created');
  const deleted = await answer(
    deleteTopicsHandler.handle(
      { ...bob, apiVersion: 4 },
      { topicNames: ['orders'], topics: [], timeoutMs: 1000 },
    ),
  );
  assert.equal(deleted.responses[0].errorCode, KafkaError.topicAuthorizationFailed);
  assert.notEqual(f.admin.stream('orders'), undefined, 'the topic is still there');
  await f.admin.createAcls([acl({ principal: 'User:bob', resourceName: 'fresh', operation: 'CREATE' })]);
  const topic = { name: 'fresh', numPartitions: 1, replicationFactor: 1, assignments: [], configs: [] };
  const made = await answer(
    createTopicsHandler.handle(
      { ...bob, apiVersion: 7 },
      { topics: [topic], timeoutMs: 1000, validateOnly: false },
    ),
  );
  assert.equal(made.topics[0].errorCode, KafkaError.none, 'CREATE on the topic is enough');
  assert.equal(
    made.topics[0].topicConfigErrorCode,
    KafkaError.topicAuthorizationFailed,
    'but not DESCRIBE_CONFIGS',
  );
  await f.close();
});
