/**
 * Kafka SASL on ports where it is required (SASL_PLAINTEXT and SASL_SSL): kafkajs with PLAIN and
 * SCRAM-SHA-512 over TLS, kcat and confluent-kafka with SCRAM-SHA-256 over SASL_SSL, refusals (a wrong
 * password, no SASL at all, requests before the login), the v0 handshake's bare tokens, permissions of
 * the logged-in user, and re-authentication (KIP-368) with kafkajs and by hand.
 */
import assert from 'node:assert/strict';
import { pbkdf2Sync } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { type Kafka, logLevel, type SASLOptions } from 'kafkajs';
import { fullPermission } from '../../../src/core/permissions.js';
import { Broker } from '../../../src/index.js';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { silentLogger } from '../../../src/shared/logger.js';
import {
  hasCommand,
  hasPythonModule,
  saslPlaintextSettings,
  TestKafka,
  until,
} from '../../../testing/kafka-helpers.js';
import { confluentConsumeScript, runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { ScramClient } from '../../../testing/scram-client.js';
import { allPortsOff } from '../../../testing/server-helpers.js';
import { makeTestPki, opensslMissing, type TestPki } from '../../../testing/tls.js';

const waitMs = 10_000;
/** Kafka's ConfigResource type of a broker. */
const brokerResource = 4;
const kcatMissing = hasCommand('kcat') ? undefined : 'kcat not installed';
const confluentMissing = hasPythonModule('confluent_kafka')
  ? undefined
  : 'python3-confluent-kafka is not installed (apt-get install python3-confluent-kafka)';

async function startSaslBroker(pki: TestPki | undefined, sessionLifetimeMs = 0): Promise<Broker> {
  const broker = await Broker.start({
    ...saslPlaintextSettings,
    kafkaSaslSessionLifetimeMs: sessionLifetimeMs,
    ...(pki === undefined
      ? {}
      : { kafkaTlsPort: 'auto', tlsCertFile: pki.server.cert, tlsKeyFile: pki.server.key }),
  });
  const admin = broker.client();
  await admin.putUser('app', 's3cret', []);
  await admin.setPermission('/', 'app', fullPermission);
  await admin.putUser('other', 'other-pw', []);
  await admin.setPermission('/', 'other', fullPermission);
  await admin.putUser('boss', 'boss-pw', ['administrator']);
  await admin.setPermission('/', 'boss', fullPermission);
  // May read and describe everything, write nothing.
  await admin.putUser('reader', 'reader-pw', []);
  await admin.setPermission('/', 'reader', { configure: '', write: '', read: '.*' });
  return broker;
}

/** A broker with a SASL_PLAINTEXT port for the tests of one `describe`. */
function saslPlaintextBroker(sessionLifetimeMs = 0): { readonly broker: Broker; readonly port: number } {
  let broker: Broker | undefined;
  before(async () => {
    broker = await startSaslBroker(undefined, sessionLifetimeMs);
  });
  after(() => broker?.stop());
  return {
    get broker() {
      return broker!;
    },
    get port() {
      return broker!.ports.kafkaPort!;
    },
  };
}

function kafkajs(bootstrap: string, sasl: SASLOptions | undefined, ca?: Buffer, extra: object = {}): Kafka {
  return new TestKafka({
    clientId: 'sasl-test',
    brokers: [bootstrap],
    logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 },
    connectionTimeout: 3000,
    ...(sasl === undefined ? {} : { sasl }),
    ...(ca === undefined ? {} : { ssl: { ca: [ca] } }),
    ...extra,
  });
}

async function roundTrip(kafka: Kafka, topic: string, values: string[]): Promise<string[]> {
  const producer = kafka.producer();
  const consumer = kafka.consumer({
    groupId: `${topic}-group`,
    sessionTimeout: 6000,
    heartbeatInterval: 300,
  });
  try {
    await producer.connect();
    await producer.send({ topic, messages: values.map((value) => ({ value })) });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
    await until(() => seen.length === values.length, waitMs, `${topic} consumed`);
    return seen;
  } finally {
    await Promise.all([producer.disconnect(), consumer.disconnect()]);
  }
}

/** ApiVersions, then a v1 handshake: the client is ready for SaslAuthenticate. */
async function handshake(
  client: WireClient,
  mechanism: string,
  version = 1,
): Promise<Record<string, unknown>> {
  return client.request(ApiKey.SaslHandshake, version, { mechanism });
}

async function plainLogin(client: WireClient, user: string, password: string, version = 2) {
  await handshake(client, 'PLAIN');
  const authBytes = Buffer.from(`\u0000${user}\u0000${password}`);
  return client.request<{ errorCode: number; errorMessage: string | null; sessionLifetimeMs: bigint }>(
    ApiKey.SaslAuthenticate,
    version,
    { authBytes },
  );
}

describe('SASL over TLS with real clients', { skip: opensslMissing }, () => {
  let pki: TestPki;
  let broker: Broker;
  let ca: Buffer;
  let tls: string;
  before(async () => {
    pki = makeTestPki();
    ca = pki.read(pki.caFile);
    broker = await startSaslBroker(pki);
    tls = `127.0.0.1:${broker.ports.kafkaTlsPort}`;
  });
  after(async () => {
    await broker?.stop();
    pki?.remove();
  });

  test('kafkajs with SASL PLAIN over SSL produces and consumes', async () => {
    const kafka = kafkajs(tls, { mechanism: 'plain', username: 'app', password: 's3cret' }, ca);
    assert.deepEqual(await roundTrip(kafka, 'sasl-plain', ['p1', 'p2']), ['p1', 'p2']);
  });

  test('kafkajs with SCRAM-SHA-512 over SSL produces and consumes', async () => {
    const kafka = kafkajs(tls, { mechanism: 'scram-sha-512', username: 'app', password: 's3cret' }, ca);
    assert.deepEqual(await roundTrip(kafka, 'sasl-scram', ['s1', 's2']), ['s1', 's2']);
  });

  test("a wrong password is refused with Kafka's messages, PLAIN and SCRAM alike", async () => {
    for (const [mechanism, message] of [
      ['plain', /Authentication failed: Invalid username or password/],
      ['scram-sha-512', /invalid credentials with SASL mechanism SCRAM-SHA-512|Invalid|failed/],
    ] as const) {
      const admin = kafkajs(
        tls,
        { mechanism, username: 'app', password: 'wrong' } as SASLOptions,
        ca,
      ).admin();
      await assert.rejects(admin.connect(), (err: Error) => {
        assert.match(err.message, message);
        return true;
      });
      await admin.disconnect();
    }
  });

  test('a client without SASL on a required port is refused', async () => {
    const admin = kafkajs(tls, undefined, ca).admin();
    await assert.rejects(admin.connect().then(() => admin.listTopics()));
    await admin.disconnect();
  });

  test('kcat produces and confluent-kafka consumes with SASL_SSL and SCRAM-SHA-256', {
    skip: kcatMissing ?? confluentMissing,
  }, async () => {
    const sasl = [
      ...['-b', tls, '-X', 'security.protocol=SASL_SSL', '-X', `ssl.ca.location=${pki.caFile}`],
      ...['-X', 'sasl.mechanisms=SCRAM-SHA-256', '-X', 'sasl.username=app', '-X', 'sasl.password=s3cret'],
    ];
    const produced = await runTool('kcat', [...sasl, '-t', 'sasl-kcat', '-P'], 'one\ntwo\n');
    assert.equal(produced.code, 0, produced.stderr);
    const script = confluentConsumeScript(
      `conf = {'bootstrap.servers': sys.argv[1], 'security.protocol': 'SASL_SSL', 'ssl.ca.location': sys.argv[2],
  'sasl.mechanisms': 'SCRAM-SHA-256', 'sasl.username': 'app', 'sasl.password': 's3cret'}`,
      'sasl-kcat',
      'py-sasl',
      2,
    );
    const consumed = await runTool('/usr/bin/python3', ['-c', script, tls, pki.caFile], '', 40_000);
    assert.equal(consumed.code, 0, consumed.stderr);
    assert.equal(consumed.stdout.trim(), 'one,two');
    const refused = await runTool('kcat', [
      ...sasl.slice(0, -1),
      'sasl.password=wrong',
      ...['-L', '-m', '5'],
    ]);
    assert.notEqual(refused.code, 0, 'a wrong SCRAM password fails kcat');
  });
});

describe('SASL on a SASL_PLAINTEXT port, by hand', () => {
  const on = saslPlaintextBroker();

  test('ApiVersions lists the SASL and SCRAM APIs; anything else before the login closes the connection', async () => {
    const client = await WireClient.open(on.port);
    const versions = await client.request<{ apiKeys: Array<{ apiKey: number; maxVersion: number }> }>(
      ApiKey.ApiVersions,
      3,
      { clientSoftwareName: 'wire', clientSoftwareVersion: '1' },
    );
    const max = (key: number) => versions.apiKeys.find((k) => k.apiKey === key)?.maxVersion;
    assert.equal(max(ApiKey.SaslHandshake), 1);
    assert.equal(max(ApiKey.SaslAuthenticate), 2);
    client.send(ApiKey.Metadata, 1, { topics: null });
    assert.equal(await client.nextFrame(), null, 'Metadata before SASL closes the connection');
    const early = await WireClient.open(on.port);
    early.send(ApiKey.SaslAuthenticate, 1, { authBytes: Buffer.from('\u0000app\u0000s3cret') });
    assert.equal(await early.nextFrame(), null, 'SaslAuthenticate before SaslHandshake closes it too');
  });

  test('a connection that does not log in within the handshake timeout is closed, ApiVersions or not', async () => {
    const broker = await Broker.start({
      storage: 'memory',
      logger: silentLogger(),
      ...allPortsOff,
      kafkaPort: 'auto',
      kafkaSasl: 'required',
      handshakeTimeoutMs: 300,
    });
    try {
      const client = await WireClient.open(broker.ports.kafkaPort!);
      await client.request(ApiKey.ApiVersions, 0, {});
      await handshake(client, 'PLAIN');
      assert.equal(await client.nextFrame(waitMs), null, 'closed while waiting for SaslAuthenticate');
    } finally {
      await broker.stop();
    }
  });

  test('an unknown mechanism gets UNSUPPORTED_SASL_MECHANISM with the list, then the connection closes', async () => {
    const client = await WireClient.open(on.port);
    const answer = await handshake(client, 'GSSAPI');
    assert.equal(answer['errorCode'], KafkaError.unsupportedSaslMechanism);
    assert.deepEqual(answer['mechanisms'], ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512']);
    assert.equal(await client.nextFrame(), null);
  });

  test('PLAIN through SaslAuthenticate; a refusal is SASL_AUTHENTICATION_FAILED and closes', async () => {
    const client = await WireClient.open(on.port);
    const ok = await plainLogin(client, 'app', 's3cret');
    assert.equal(ok.errorCode, 0);
    assert.equal(ok.sessionLifetimeMs, 0n, 'no session lifetime configured');
    const metadata = await client.request<{ topics: unknown[] }>(ApiKey.Metadata, 1, { topics: null });
    assert.ok(Array.isArray(metadata.topics));
    const again = await client.request<{ errorCode: number; errorMessage: string }>(
      ApiKey.SaslAuthenticate,
      1,
      {
        authBytes: Buffer.from('\u0000app\u0000s3cret'),
      },
    );
    assert.equal(again.errorCode, KafkaError.illegalSaslState);
    const wrong = await WireClient.open(on.port);
    const refused = await plainLogin(wrong, 'app', 'nope', 1);
    assert.equal(refused.errorCode, KafkaError.saslAuthenticationFailed);
    assert.equal(refused.errorMessage, 'Authentication failed: Invalid username or password');
    assert.equal(await wrong.nextFrame(), null);
  });

  test('a v0 handshake carries bare tokens: PLAIN answered with an empty token, SCRAM step by step', async () => {
    const plain = await WireClient.open(on.port);
    assert.equal((await handshake(plain, 'PLAIN', 0))['errorCode'], 0);
    plain.sendRaw(sized(Buffer.from('\u0000app\u0000s3cret')));
    assert.deepEqual(Buffer.from((await plain.nextFrame())!), Buffer.alloc(0));
    const metadata = await plain.request<{ topics: unknown[] }>(ApiKey.Metadata, 1, { topics: null });
    assert.ok(Array.isArray(metadata.topics));

    const scram = await WireClient.open(on.port);
    assert.equal((await handshake(scram, 'SCRAM-SHA-256', 0))['errorCode'], 0);
    const client = new ScramClient('sha256', 'app', 's3cret');
    scram.sendRaw(sized(Buffer.from(client.first())));
    const serverFirst = Buffer.from((await scram.nextFrame())!).toString();
    scram.sendRaw(sized(Buffer.from(client.final(serverFirst))));
    assert.equal(Buffer.from((await scram.nextFrame())!).toString(), client.expectedServerFinal);

    const wrong = await WireClient.open(on.port);
    await handshake(wrong, 'PLAIN', 0);
    wrong.sendRaw(sized(Buffer.from('\u0000app\u0000nope')));
    assert.equal(await wrong.nextFrame(), null, 'a failed v0 login just closes');
  });

  test('a user without write permission gets TOPIC_AUTHORIZATION_FAILED on Produce; nothing is stored', async () => {
    const admin = on.broker.client();
    await admin.createStream('guarded', { partitions: 1 });
    const kafka = kafkajs(`127.0.0.1:${on.port}`, {
      mechanism: 'scram-sha-256',
      username: 'reader',
      password: 'reader-pw',
    });
    const producer = kafka.producer({ retry: { retries: 0 } });
    await producer.connect();
    await assert.rejects(
      producer.send({ topic: 'guarded', messages: [{ value: 'x' }] }),
      (err: Error & { type?: string }) => {
        assert.equal(
          err.type ?? (err as { cause?: { type?: string } }).cause?.type,
          'TOPIC_AUTHORIZATION_FAILED',
        );
        return true;
      },
    );
    await producer.disconnect();
    assert.equal(admin.partition('guarded', 0).endOffset, 0);
  });
});

describe('SCRAM credentials through Kafka (KIP-554)', () => {
  const on = saslPlaintextBroker();

  type Results = { results: Array<{ user: string; errorCode: number; errorMessage: string | null }> };
  const salt = Buffer.from('kafka-tools-salt');
  const upsert = (name: string, password: string, iterations = 4096) => ({
    name,
    mechanism: 1,
    iterations,
    salt,
    saltedPassword: pbkdf2Sync(password, salt, iterations, 32, 'sha256'),
  });

  test('an administrator creates a SCRAM user, describes it, and that user logs in with SCRAM', async () => {
    const client = await WireClient.open(on.port);
    await plainLogin(client, 'boss', 'boss-pw');
    const altered = await client.request<Results>(ApiKey.AlterUserScramCredentials, 0, {
      deletions: [],
      upsertions: [upsert('tool-made', 'tool-pw')],
    });
    assert.deepEqual(altered.results, [{ user: 'tool-made', errorCode: 0, errorMessage: null }]);
    const described = await client.request<{
      errorCode: number;
      results: Array<{ user: string; credentialInfos: Array<{ mechanism: number; iterations: number }> }>;
    }>(ApiKey.DescribeUserScramCredentials, 0, { users: [{ name: 'tool-made' }, { name: 'app' }] });
    assert.equal(described.errorCode, 0);
    assert.deepEqual(
      described.results.map((r) => [r.user, r.credentialInfos.map((c) => c.mechanism).sort()]),
      [
        ['tool-made', [1]],
        ['app', [1, 2]],
      ],
    );
    await on.broker.client().setPermission('/', 'tool-made', fullPermission);
    const kafka = kafkajs(`127.0.0.1:${on.port}`, {
      mechanism: 'scram-sha-256',
      username: 'tool-made',
      password: 'tool-pw',
    });
    const admin = kafka.admin();
    await admin.connect();
    await admin.listTopics();
    await admin.disconnect();
  });

  test("refusals in Kafka's words; one refused change leaves the user's others undone", async () => {
    const client = await WireClient.open(on.port);
    await plainLogin(client, 'boss', 'boss-pw');
    const altered = await client.request<Results>(ApiKey.AlterUserScramCredentials, 0, {
      deletions: [
        { name: 'nobody', mechanism: 2 },
        { name: 'app', mechanism: 9 },
      ],
      upsertions: [upsert('weak', 'pw', 1000), upsert('twice', 'a'), upsert('twice', 'b')],
    });
    const byUser = Object.fromEntries(altered.results.map((r) => [r.user, [r.errorCode, r.errorMessage]]));
    assert.deepEqual(byUser, {
      nobody: [KafkaError.resourceNotFound, 'Attempt to delete a user credential that does not exist'],
      app: [KafkaError.unsupportedSaslMechanism, 'Unknown SCRAM mechanism'],
      weak: [KafkaError.unacceptableCredential, 'Too few iterations'],
      twice: [KafkaError.duplicateResource, 'A user credential cannot be altered twice in the same request'],
    });
    assert.equal(on.broker.client().getUser('weak'), undefined);
    const missing = await client.request<{ results: Array<{ errorCode: number }> }>(
      ApiKey.DescribeUserScramCredentials,
      0,
      { users: [{ name: 'nobody' }] },
    );
    assert.equal(missing.results[0]?.errorCode, KafkaError.resourceNotFound);
  });

  test('a user without the administrator tag gets CLUSTER_AUTHORIZATION_FAILED', async () => {
    const client = await WireClient.open(on.port);
    await plainLogin(client, 'app', 's3cret');
    const described = await client.request<{ errorCode: number }>(ApiKey.DescribeUserScramCredentials, 0, {
      users: null,
    });
    assert.equal(described.errorCode, KafkaError.clusterAuthorizationFailed);
    const altered = await client.request<Results>(ApiKey.AlterUserScramCredentials, 0, {
      deletions: [{ name: 'boss', mechanism: 1 }],
      upsertions: [],
    });
    assert.equal(altered.results[0]?.errorCode, KafkaError.clusterAuthorizationFailed);
    assert.ok(on.broker.client().scramCredentials('boss')?.['SCRAM-SHA-256'], 'nothing was deleted');
  });
});

describe('re-authentication (KIP-368)', () => {
  const lifetimeMs = 1500;
  const on = saslPlaintextBroker(lifetimeMs);

  test('SaslAuthenticate v1+ tells the lifetime; past it the next request closes the connection', async () => {
    const client = await WireClient.open(on.port);
    const ok = await plainLogin(client, 'app', 's3cret', 1);
    assert.equal(ok.sessionLifetimeMs, BigInt(lifetimeMs));
    await client.request(ApiKey.Metadata, 1, { topics: null });
    await new Promise((resolve) => setTimeout(resolve, lifetimeMs + 200));
    client.send(ApiKey.Metadata, 1, { topics: null });
    assert.equal(await client.nextFrame(), null);
  });

  test('re-authenticating as the same user renews the session; as another user is refused', async () => {
    const client = await WireClient.open(on.port);
    await plainLogin(client, 'app', 's3cret');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const renewed = await plainLogin(client, 'app', 's3cret');
    assert.equal(renewed.errorCode, 0);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const metadata = await client.request<{ topics: unknown[] }>(ApiKey.Metadata, 1, { topics: null });
    assert.ok(Array.isArray(metadata.topics), 'past the first session, within the renewed one');
    const other = await WireClient.open(on.port);
    await plainLogin(other, 'app', 's3cret');
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const refused = await plainLogin(other, 'other', 'other-pw');
    assert.equal(refused.errorCode, KafkaError.saslAuthenticationFailed);
    assert.equal(
      refused.errorMessage,
      'Cannot change principals during re-authentication from User:app: User:other',
    );
    assert.equal(await other.nextFrame(), null);
  });

  test('the broker describes the lifetime as connections.max.reauth.ms (KIP-368)', async () => {
    // librdkafka's re-authentication test reads it to decide whether the broker re-authenticates.
    const kafka = kafkajs(
      `127.0.0.1:${on.port}`,
      { mechanism: 'scram-sha-256', username: 'boss', password: 'boss-pw' },
      undefined,
      { reauthenticationThreshold: 500 },
    );
    const admin = kafka.admin();
    await admin.connect();
    try {
      const { resources } = await admin.describeConfigs({
        resources: [{ type: brokerResource, name: '0' }],
        includeSynonyms: false,
      });
      const entry = resources[0]!.configEntries.find((e) => e.configName === 'connections.max.reauth.ms');
      assert.equal(entry?.configValue, String(lifetimeMs));
      assert.equal(entry?.readOnly, true, 'read at start');
    } finally {
      await admin.disconnect();
    }
  });

  test('kafkajs re-authenticates on its own and keeps producing past several lifetimes', async () => {
    const kafka = kafkajs(
      `127.0.0.1:${on.port}`,
      { mechanism: 'scram-sha-256', username: 'app', password: 's3cret' },
      undefined,
      { reauthenticationThreshold: 500 },
    );
    const producer = kafka.producer();
    await producer.connect();
    const deadline = Date.now() + 3 * lifetimeMs;
    let sent = 0;
    while (Date.now() < deadline) {
      await producer.send({ topic: 'reauth', messages: [{ value: String(sent) }] });
      sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await producer.disconnect();
    assert.equal(on.broker.client().partition('reauth', 0).endOffset, sent);
  });
});

function sized(token: Uint8Array): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(token.byteLength);
  return Buffer.concat([size, token]);
}
