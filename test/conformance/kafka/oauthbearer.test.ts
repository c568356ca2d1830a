/**
 * Kafka SASL/OAUTHBEARER (KIP-255, RFC 7628) with JWT bearer tokens: kafkajs over SASL_SSL and
 * confluent-kafka (librdkafka's `oauth_cb`) over SASL_PLAINTEXT produce and consume within the token's
 * scopes; what the scopes or an ACL do not allow is refused with Kafka's codes and nothing is stored; a
 * refused token is SASL_AUTHENTICATION_FAILED with a message naming what is wrong and RFC 7628's error
 * (`{"status":"invalid_token"}`), after a v0 handshake as the server's challenge; the session ends with
 * the token or the configured lifetime, whichever is sooner (KIP-368), and kafkajs re-authenticates
 * with fresh tokens on its own.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import kafkajs, { type Kafka, logLevel } from 'kafkajs';
import { fullPermission } from '../../../src/core/permissions.js';
import { Broker } from '../../../src/index.js';
import { ApiKey } from '../../../src/protocols/kafka/codec/index.js';
import { KafkaError } from '../../../src/protocols/kafka/errors.js';
import { makeIssuer, type TestIssuer } from '../../../testing/jwt.js';
import { confluentMissing, saslPlaintextSettings, TestKafka, until } from '../../../testing/kafka-helpers.js';
import { confluentConsumeScript, runTool } from '../../../testing/kafka-tools.js';
import { WireClient } from '../../../testing/kafka-wire.js';
import { makeTestPki, opensslMissing, type TestPki } from '../../../testing/tls.js';

const { AclOperationTypes, AclPermissionTypes, AclResourceTypes, ResourcePatternTypes } = kafkajs;
const waitMs = 10_000;
const lifetimeMs = 60_000;
/** Topics (queues) under `app.` are the token's; a group needs only some permission in the vhost. */
const appScopes = ['configure:%2F/app.*', 'write:%2F/app.*', 'read:%2F/app.*'].map((s) => `switchyard.${s}`);

let issuer: TestIssuer;
let pki: TestPki | undefined;
let broker: Broker;
const appToken = (claims: Record<string, unknown> = {}) =>
  issuer.token({ sub: 'app', scope: appScopes.join(' '), ...claims });
const plainPort = () => broker.ports.kafkaPort!;

before(async () => {
  issuer = makeIssuer();
  pki = opensslMissing === undefined ? makeTestPki() : undefined;
  broker = await Broker.start({
    ...saslPlaintextSettings,
    kafkaSaslSessionLifetimeMs: lifetimeMs,
    // Refused tokens count as failed logins: those refused on purpose here must not slow the rest.
    loginFailuresBeforeDelay: 100_000,
    ...issuer.settings({ jwtLeewaySeconds: 0 }),
    ...(pki === undefined
      ? {}
      : { kafkaTlsPort: 'auto', tlsCertFile: pki.server.cert, tlsKeyFile: pki.server.key }),
  });
  await broker.client().putUser('boss', 'boss-pw', ['administrator']);
  await broker.client().setPermission('/', 'boss', fullPermission);
});

after(async () => {
  await broker?.stop();
  issuer?.remove();
  pki?.remove();
});

function client(port: number, token: () => string, extra: object = {}): Kafka {
  return new TestKafka({
    clientId: 'oauth-test',
    brokers: [`127.0.0.1:${port}`],
    logLevel: logLevel.NOTHING,
    retry: { retries: 1, initialRetryTime: 50, maxRetryTime: 200 },
    connectionTimeout: 3000,
    sasl: { mechanism: 'oauthbearer', oauthBearerProvider: async () => ({ value: token() }) },
    ...extra,
  });
}

/** A v1 handshake and one SaslAuthenticate (v2) carrying `message`. */
async function authenticate(wire: WireClient, message: string) {
  const handshake = await wire.request<{ errorCode: number }>(ApiKey.SaslHandshake, 1, {
    mechanism: 'OAUTHBEARER',
  });
  assert.equal(handshake.errorCode, 0);
  return wire.request<{
    errorCode: number;
    errorMessage: string | null;
    authBytes: Uint8Array;
    sessionLifetimeMs: bigint;
  }>(ApiKey.SaslAuthenticate, 2, { authBytes: Buffer.from(message) });
}

const firstMessage = (token: string, authzid = '') =>
  `n,${authzid === '' ? '' : `a=${authzid}`},\u0001auth=Bearer ${token}\u0001\u0001`;

describe('OAUTHBEARER with real clients', () => {
  test('kafkajs over SASL_SSL produces and consumes within the scopes', {
    skip: opensslMissing,
  }, async () => {
    const kafka = client(broker.ports.kafkaTlsPort!, () => appToken(), {
      ssl: { ca: [pki!.read(pki!.caFile)] },
    });
    const producer = kafka.producer();
    const consumer = kafka.consumer({ groupId: 'app-readers', sessionTimeout: 6000, heartbeatInterval: 300 });
    try {
      await producer.connect();
      await producer.send({ topic: 'app.orders', messages: [{ value: 'o1' }, { value: 'o2' }] });
      const seen: string[] = [];
      await consumer.connect();
      await consumer.subscribe({ topic: 'app.orders', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
      await until(() => seen.length === 2, waitMs, 'app.orders consumed');
      assert.deepEqual(seen, ['o1', 'o2']);
    } finally {
      await Promise.all([producer.disconnect(), consumer.disconnect()]);
    }
  });

  test('outside its scopes, or under a DENY ACL, the token user is refused and nothing is stored', async () => {
    const admin = broker.client();
    await admin.createStream('ledger', { partitions: 1 });
    await admin.createStream('app.audit', { partitions: 1 });
    const boss = new TestKafka({
      clientId: 'oauth-admin',
      brokers: [`127.0.0.1:${plainPort()}`],
      logLevel: logLevel.NOTHING,
      sasl: { mechanism: 'plain', username: 'boss', password: 'boss-pw' },
    }).admin();
    await boss.connect();
    await boss.createAcls({
      acl: [
        {
          resourceType: AclResourceTypes.TOPIC,
          resourceName: 'app.audit',
          resourcePatternType: ResourcePatternTypes.LITERAL,
          principal: 'User:app',
          host: '*',
          operation: AclOperationTypes.WRITE,
          permissionType: AclPermissionTypes.DENY,
        },
      ],
    });
    const producer = client(plainPort(), () => appToken()).producer({ retry: { retries: 0 } });
    await producer.connect();
    for (const topic of ['ledger', 'app.audit']) {
      await assert.rejects(
        producer.send({ topic, messages: [{ value: 'x' }] }),
        (err: Error & { type?: string }) => {
          // kafkajs reports it from Metadata (the topic is hidden) or from Produce.
          const type =
            err.type ?? (/Topic authorization failed/.test(err.message) ? 'TOPIC_AUTHORIZATION_FAILED' : '');
          assert.equal(type, 'TOPIC_AUTHORIZATION_FAILED', `${topic}: ${err.message}`);
          return true;
        },
      );
      assert.equal(admin.partition(topic, 0).endOffset, 0, `nothing stored in ${topic}`);
    }
    await producer.disconnect();
    await boss.deleteAcls({
      filters: [
        {
          resourceType: AclResourceTypes.ANY,
          resourcePatternType: ResourcePatternTypes.ANY,
          operation: AclOperationTypes.ANY,
          permissionType: AclPermissionTypes.ANY,
        },
      ],
    });
    await boss.disconnect();
  });

  test('an expired token is refused by kafkajs with the reason', async () => {
    const expired = appToken({ exp: Math.floor(Date.now() / 1000) - 60 });
    const admin = client(plainPort(), () => expired).admin();
    await assert.rejects(admin.connect(), (err: Error) => {
      assert.match(
        err.message,
        /SASL OAUTHBEARER authentication failed: Authentication failed: the token has expired/,
      );
      return true;
    });
    await admin.disconnect();
  });

  test('kafkajs re-authenticates with fresh tokens as each one nears its end (KIP-368)', async () => {
    let issued = 0;
    // Each token lives 2–3 s (`exp` is in whole seconds); kafkajs logs in again 800 ms before the end.
    const shortLived = () => {
      issued += 1;
      return appToken({ exp: Math.floor(Date.now() / 1000) + 3 });
    };
    const producer = client(plainPort(), shortLived, { reauthenticationThreshold: 800 }).producer();
    await producer.connect();
    const deadline = Date.now() + 4000;
    let sent = 0;
    while (Date.now() < deadline && sent < 40) {
      await producer.send({ topic: 'app.reauth', messages: [{ value: String(sent) }] });
      sent += 1;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await producer.disconnect();
    assert.equal(broker.client().partition('app.reauth', 0).endOffset, sent);
    assert.ok(issued >= 2, `a fresh token was asked for (${issued} issued)`);
  });

  test('confluent-kafka (oauth_cb) produces and consumes', { skip: confluentMissing() }, async () => {
    const setup = `
token = sys.argv[2]
conf = {'bootstrap.servers': sys.argv[1], 'security.protocol': 'SASL_PLAINTEXT',
  'sasl.mechanisms': 'OAUTHBEARER', 'oauth_cb': lambda _: (token, time.time() + 3600)}
from confluent_kafka import Producer
p = Producer(conf)
for v in ['c1', 'c2']:
    p.produce('app.py', v.encode())
assert p.flush(20) == 0`;
    const script = confluentConsumeScript(setup, 'app.py', 'app-py', 2);
    const ran = await runTool(
      '/usr/bin/python3',
      ['-c', script, `127.0.0.1:${plainPort()}`, appToken()],
      '',
      40_000,
    );
    assert.equal(ran.code, 0, ran.stderr);
    assert.equal(ran.stdout.trim(), 'c1,c2');
    const refused = `
import sys, time
from confluent_kafka import Producer
errors = []
p = Producer({'bootstrap.servers': sys.argv[1], 'security.protocol': 'SASL_PLAINTEXT',
  'sasl.mechanisms': 'OAUTHBEARER', 'oauth_cb': lambda _: (sys.argv[2], time.time() + 3600),
  'error_cb': lambda e: errors.append(e.str())})
for _ in range(50):
    p.poll(0.1)
    if errors:
        break
print(errors[0] if errors else '')
`;
    const bad = await runTool(
      '/usr/bin/python3',
      ['-c', refused, `127.0.0.1:${plainPort()}`, issuer.confused({ sub: 'app' })],
      '',
      40_000,
    );
    assert.equal(bad.code, 0, bad.stderr);
    assert.match(bad.stdout, /the token's algorithm does not fit its key/);
  });
});

describe('OAUTHBEARER by hand', () => {
  test('the handshake lists OAUTHBEARER after the password mechanisms', async () => {
    const wire = await WireClient.open(plainPort());
    const answer = await wire.request<{ mechanisms: string[] }>(ApiKey.SaslHandshake, 1, {
      mechanism: 'GSSAPI',
    });
    assert.deepEqual(answer.mechanisms, ['PLAIN', 'SCRAM-SHA-256', 'SCRAM-SHA-512', 'OAUTHBEARER']);
    wire.close();
  });

  test('the session lasts until the token ends or the configured lifetime, whichever is sooner', async () => {
    const long = await WireClient.open(plainPort());
    const ok = await authenticate(long, firstMessage(appToken(), 'app'));
    assert.equal(ok.errorCode, 0, String(ok.errorMessage));
    assert.equal(ok.sessionLifetimeMs, BigInt(lifetimeMs), 'an hour-long token: the configured lifetime');
    long.close();
    const short = await WireClient.open(plainPort());
    const exp = Math.floor(Date.now() / 1000) + 30;
    const answer = await authenticate(short, firstMessage(appToken({ exp })));
    assert.equal(answer.errorCode, 0);
    assert.ok(
      answer.sessionLifetimeMs > 25_000n && answer.sessionLifetimeMs <= 30_000n,
      String(answer.sessionLifetimeMs),
    );
    short.close();
  });

  test('refused tokens: SASL_AUTHENTICATION_FAILED with the reason and RFC 7628 error, then the connection closes', async () => {
    const [h, p] = appToken().split('.');
    const cases: Array<[string, RegExp]> = [
      [appToken({ exp: Math.floor(Date.now() / 1000) - 5 }), /the token has expired/],
      [`${h}.${p}.${Buffer.from('not the signature').toString('base64url')}`, /signature does not verify/],
      [appToken({ aud: 'elsewhere' }), /not meant for this broker/],
      [issuer.confused({ sub: 'app' }), /algorithm does not fit its key/],
    ];
    for (const [token, reason] of cases) {
      const wire = await WireClient.open(plainPort());
      const answer = await authenticate(wire, firstMessage(token));
      assert.equal(answer.errorCode, KafkaError.saslAuthenticationFailed);
      assert.match(String(answer.errorMessage), reason);
      assert.equal(Buffer.from(answer.authBytes).toString(), '{"status":"invalid_token"}');
      assert.equal(await wire.nextFrame(), null, 'closed after the refusal');
    }
  });

  test('a malformed first message or another authorization id is refused without the token error', async () => {
    const cases: Array<[string, RegExp]> = [
      [`n,,\u0001auth=Basic ${appToken()}\u0001\u0001`, /invalid OAUTHBEARER client first message/],
      [`p=tls-unique,,\u0001auth=Bearer ${appToken()}\u0001\u0001`, /GS2 header/],
      [`n,,\u0001auth=Bearer ${appToken()}\u0001`, /two %x01/],
      [firstMessage(appToken(), 'root'), /authorization id 'root' is not the token's user 'app'/],
    ];
    for (const [message, reason] of cases) {
      const wire = await WireClient.open(plainPort());
      const answer = await authenticate(wire, message);
      assert.equal(answer.errorCode, KafkaError.saslAuthenticationFailed);
      assert.match(String(answer.errorMessage), reason);
      assert.equal(answer.authBytes.length, 0);
      assert.equal(await wire.nextFrame(), null);
    }
  });

  test('after a v0 handshake a refused token is answered with the error as a challenge, then closed', async () => {
    const wire = await WireClient.open(plainPort());
    await wire.request(ApiKey.SaslHandshake, 0, { mechanism: 'OAUTHBEARER' });
    wire.sendRaw(sized(Buffer.from(firstMessage(appToken({ exp: 1 })))));
    assert.equal(Buffer.from((await wire.nextFrame())!).toString(), '{"status":"invalid_token"}');
    wire.sendRaw(sized(Buffer.from('\u0001')));
    assert.equal(await wire.nextFrame(), null);
    const good = await WireClient.open(plainPort());
    await good.request(ApiKey.SaslHandshake, 0, { mechanism: 'OAUTHBEARER' });
    good.sendRaw(sized(Buffer.from(firstMessage(appToken()))));
    assert.equal((await good.nextFrame())?.length, 0, 'success: an empty token');
    const metadata = await good.request<{ topics: unknown[] }>(ApiKey.Metadata, 1, { topics: null });
    assert.ok(Array.isArray(metadata.topics));
    good.close();
  });

  test("a token with the administrator tag is a super user; a stored administrator's name lends nothing", async () => {
    const acls = (wire: WireClient) =>
      wire.request<{ errorCode: number }>(ApiKey.DescribeAcls, 1, {
        resourceTypeFilter: 1,
        resourceNameFilter: null,
        patternTypeFilter: 1,
        principalFilter: null,
        hostFilter: null,
        operation: 1,
        permissionType: 1,
      });
    const namesBoss = await WireClient.open(plainPort());
    await authenticate(namesBoss, firstMessage(issuer.token({ sub: 'boss', scope: appScopes.join(' ') })));
    assert.equal((await acls(namesBoss)).errorCode, KafkaError.clusterAuthorizationFailed);
    namesBoss.close();
    const tagged = await WireClient.open(plainPort());
    const scope = [...appScopes, 'switchyard.tag:administrator'].join(' ');
    await authenticate(tagged, firstMessage(issuer.token({ sub: 'ops', scope })));
    assert.equal((await acls(tagged)).errorCode, 0);
    tagged.close();
  });
});

function sized(token: Uint8Array): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(token.byteLength);
  return Buffer.concat([size, token]);
}
