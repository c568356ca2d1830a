/**
 * SASL users meeting Kafka's ACLs, end to end with real clients on a SASL_PLAINTEXT port: an
 * administrator creates the bindings through kafkajs's createAcls; SCRAM users with vhost permissions
 * then produce and consume through kafkajs, kcat and confluent-kafka. What a binding allows goes
 * through; a DENY beats an ALLOW; a PREFIXED binding covers every topic it begins; a binding naming one
 * user leaves another refused; an ACL's ALLOW does not widen the user's vhost permissions (both must
 * allow); refusals are TOPIC_AUTHORIZATION_FAILED and GROUP_AUTHORIZATION_FAILED and store nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import kafkajs, { type Admin, type Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { fullPermission } from '../../../src/core/permissions.js';
import { Broker } from '../../../src/index.js';
import {
  confluentMissing,
  hasCommand,
  saslPlaintextSettings,
  TestKafka,
  until,
} from '../../../testing/kafka-helpers.js';
import { confluentConsumeScript, runTool } from '../../../testing/kafka-tools.js';

const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;
const waitMs = 10_000;
const kcatMissing = hasCommand('kcat') ? undefined : 'kcat not installed';

type Operation = (typeof AclOperationTypes)[keyof typeof AclOperationTypes];

/** One binding for `User:alice` unless `principal` says otherwise. */
function acl(
  resourceType: 'TOPIC' | 'GROUP',
  name: string,
  operation: Operation,
  options: { prefixed?: boolean; deny?: boolean; principal?: string } = {},
) {
  return {
    resourceType: AclResourceTypes[resourceType],
    resourceName: name,
    resourcePatternType: options.prefixed ? ResourcePatternTypes.PREFIXED : ResourcePatternTypes.LITERAL,
    principal: options.principal ?? 'User:alice',
    host: '*',
    operation,
    permissionType: options.deny ? AclPermissionTypes.DENY : AclPermissionTypes.ALLOW,
  };
}

let broker: Broker;
let bootstrap: string;
let boss: Admin;

function client(username: string, password: string, mechanism = 'scram-sha-512'): Kafka {
  return new TestKafka({
    clientId: `acl-${username}`,
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 },
    connectionTimeout: 3000,
    sasl: { mechanism, username, password } as SASLOptions,
  });
}

before(async () => {
  broker = await Broker.start({
    ...saslPlaintextSettings,
  });
  bootstrap = `127.0.0.1:${broker.ports.kafkaPort}`;
  const admin = broker.client();
  await admin.putUser('boss', 'boss-pw', ['administrator']);
  await admin.setPermission('/', 'boss', fullPermission);
  // The vhost permissions: the team's topics only, for both users.
  for (const user of ['alice', 'bob']) {
    await admin.putUser(user, `${user}-pw`, []);
    await admin.setPermission('/', user, { configure: '', write: '^team\\.', read: '^team\\.' });
  }
  for (const topic of ['team.orders', 'team.locked', 'team.kcat', 'vault'])
    await admin.createStream(topic, { partitions: 1 });
  boss = client('boss', 'boss-pw').admin();
  await boss.connect();
  await boss.createAcls({
    acl: [
      acl('TOPIC', 'team.', AclOperationTypes.WRITE, { prefixed: true }),
      acl('TOPIC', 'team.', AclOperationTypes.READ, { prefixed: true }),
      acl('TOPIC', 'team.', AclOperationTypes.DESCRIBE, { prefixed: true }),
      acl('TOPIC', 'team.locked', AclOperationTypes.WRITE, { deny: true }),
      // Allowed by an ACL, not by alice's vhost permissions: still refused.
      acl('TOPIC', 'vault', AclOperationTypes.ALL),
      // The group may be found (DESCRIBE, as FindCoordinator needs) but not joined (READ).
      acl('GROUP', 'blocked', AclOperationTypes.DESCRIBE),
      acl('GROUP', 'blocked', AclOperationTypes.READ, { deny: true }),
    ],
  });
});

after(async () => {
  await boss?.disconnect();
  await broker?.stop();
});

const stored = (topic: string) => broker.client().partition(topic, 0).endOffset;

async function refusedProduce(kafka: Kafka, topic: string): Promise<void> {
  const producer = kafka.producer({ retry: { retries: 0 } });
  await producer.connect();
  try {
    await assert.rejects(
      producer.send({ topic, messages: [{ value: 'refused' }] }),
      (err: Error & { type?: string }) => {
        // kafkajs reports it from Metadata (a topic the user may not describe) or from Produce.
        const refused =
          err.type === 'TOPIC_AUTHORIZATION_FAILED' || /Topic authorization failed/.test(err.message);
        assert.ok(refused, `${topic}: ${err.message}`);
        return true;
      },
    );
  } finally {
    await producer.disconnect();
  }
}

describe('SCRAM users under ACLs with kafkajs', () => {
  test('the CreateAcls of an administrator are listed; a user without the tag may not create any', async () => {
    const described = await boss.describeAcls({
      resourceType: AclResourceTypes.ANY,
      resourcePatternType: ResourcePatternTypes.ANY,
      operation: AclOperationTypes.ANY,
      permissionType: AclPermissionTypes.ANY,
    });
    assert.equal(described.resources.flatMap((r) => r.acls).length, 7);
    const alice = client('alice', 'alice-pw').admin();
    await alice.connect();
    await assert.rejects(
      alice.createAcls({ acl: [acl('TOPIC', 'team.', AclOperationTypes.ALL, { prefixed: true })] }),
      /CLUSTER_AUTHORIZATION_FAILED|Cluster authorization failed/i,
    );
    await alice.disconnect();
  });

  test('alice produces under the PREFIXED ALLOW; the DENY on team.locked beats it; vault stays refused', async () => {
    const alice = client('alice', 'alice-pw');
    const producer = alice.producer();
    await producer.connect();
    await producer.send({ topic: 'team.orders', messages: [{ value: 'a1' }, { value: 'a2' }] });
    await producer.disconnect();
    assert.equal(stored('team.orders'), 2);
    await refusedProduce(alice, 'team.locked');
    await refusedProduce(alice, 'vault');
    assert.equal(stored('team.locked'), 0);
    assert.equal(stored('vault'), 0);
  });

  test('bob, whom no binding names, is refused where the bindings are, though his permissions allow', async () => {
    await refusedProduce(client('bob', 'bob-pw', 'scram-sha-256'), 'team.orders');
    assert.equal(stored('team.orders'), 2);
  });

  test('alice consumes in a group no binding names; a group with a DENY is GROUP_AUTHORIZATION_FAILED', async () => {
    const alice = client('alice', 'alice-pw');
    const seen: string[] = [];
    const consumer = alice.consumer({ groupId: 'alice-group', sessionTimeout: 6000, heartbeatInterval: 300 });
    await consumer.connect();
    await consumer.subscribe({ topic: 'team.orders', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
    await until(() => seen.length === 2, waitMs, 'team.orders consumed');
    await consumer.disconnect();
    assert.deepEqual(seen, ['a1', 'a2']);

    const blocked = alice.consumer({ groupId: 'blocked', maxWaitTimeInMs: 100 });
    const crashed = new Promise<Error & { type?: string }>((resolve) => {
      blocked.on(blocked.events.CRASH, (e) => resolve(e.payload.error));
    });
    await blocked.connect();
    await blocked.subscribe({ topic: 'team.orders', fromBeginning: true });
    await blocked.run({ eachMessage: async () => {} });
    const error = await crashed;
    assert.equal(error.type, 'GROUP_AUTHORIZATION_FAILED', error.message);
    await blocked.disconnect();
    assert.deepEqual(broker.client().groupOffsets('blocked'), [], 'no offset stored for the group');
  });
});

describe('SCRAM users under ACLs with librdkafka', () => {
  const scram = (user: string) => [
    ...['-b', bootstrap, '-X', 'security.protocol=SASL_PLAINTEXT', '-X', 'sasl.mechanisms=SCRAM-SHA-256'],
    ...['-X', `sasl.username=${user}`, '-X', `sasl.password=${user}-pw`],
  ];

  test('kcat as alice produces under the prefix; team.locked is Topic authorization failed', {
    skip: kcatMissing,
  }, async () => {
    const produced = await runTool('kcat', [...scram('alice'), '-t', 'team.kcat', '-P'], 'k1\nk2\n');
    assert.equal(produced.code, 0, produced.stderr);
    assert.equal(stored('team.kcat'), 2);
    const refused = await runTool('kcat', [...scram('alice'), '-t', 'team.locked', '-P'], 'no\n');
    assert.match(refused.stderr, /Topic authorization failed/i);
    assert.equal(stored('team.locked'), 0);
  });

  test('confluent-kafka as alice consumes in her group and is refused the blocked one', {
    skip: kcatMissing ?? confluentMissing(),
  }, async () => {
    const setup = `conf = {'bootstrap.servers': sys.argv[1], 'security.protocol': 'SASL_PLAINTEXT',
  'sasl.mechanisms': 'SCRAM-SHA-256', 'sasl.username': 'alice', 'sasl.password': 'alice-pw'}`;
    const consumed = await runTool(
      '/usr/bin/python3',
      ['-c', confluentConsumeScript(setup, 'team.kcat', 'alice-py', 2), bootstrap],
      '',
      40_000,
    );
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.equal(consumed.stdout.trim(), 'k1,k2');
    const blocked = `
import sys
from confluent_kafka import Consumer
${setup}
c = Consumer({**conf, 'group.id': 'blocked', 'auto.offset.reset': 'earliest'})
c.subscribe(['team.kcat'])
error = ''
for _ in range(100):
    m = c.poll(0.2)
    if m is not None and m.error() is not None:
        error = m.error().name()
        break
c.close()
print(error)
`;
    const refused = await runTool('/usr/bin/python3', ['-c', blocked, bootstrap], '', 40_000);
    assert.equal(refused.code, 0, refused.stderr);
    assert.equal(refused.stdout.trim(), 'GROUP_AUTHORIZATION_FAILED');
  });
});
