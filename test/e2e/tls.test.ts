/**
 * TLS on every listener, driven by real clients: amqplib (amqps://), mqtt.js (mqtts:// and wss://),
 * mosquitto_pub/sub, kafkajs and kcat (security.protocol=SSL), fetch against the HTTPS admin API,
 * and @grpc/grpc-js and HTTPS against KubeMQ. Certificates come from testing/tls.ts.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import { credentials } from '@grpc/grpc-js';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { Broker } from '../../src/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { hasCommand, TestKafka, until } from '../../testing/kafka-helpers.js';
import { runTool } from '../../testing/kafka-tools.js';
import { call, rawClient } from '../../testing/kubemq-harness.js';
import { allPortsOff } from '../../testing/server-helpers.js';
import { makeTestPki, opensslMissing, plaintextAnswer, type TestPki } from '../../testing/tls.js';

const waitMs = 10_000;
const mosquittoMissing = hasCommand('mosquitto_pub', ['--help'])
  ? undefined
  : 'mosquitto-clients not installed';
const kcatMissing = hasCommand('kcat') ? undefined : 'kcat not installed';

const tlsPortsAuto = {
  amqpsPort: 'auto',
  mqttsPort: 'auto',
  mqttWssPort: 'auto',
  kafkaTlsPort: 'auto',
  httpsPort: 'auto',
  grpcPort: 'auto',
  restPort: 'auto',
} as const;

async function startTlsBroker(pki: TestPki, clientAuth: 'request' | 'require'): Promise<Broker> {
  return Broker.start({
    storage: 'memory',
    fsync: 'never',
    logger: silentLogger(),
    ...allPortsOff,
    amqpPort: 'auto',
    ...tlsPortsAuto,
    tlsCertFile: pki.server.cert,
    tlsKeyFile: pki.server.key,
    tlsCaFile: pki.caFile,
    tlsClientAuth: clientAuth,
  });
}

/** Runs `node -e script url` with the test CA trusted through NODE_EXTRA_CA_CERTS. */
function nodeWithCa(pki: TestPki, script: string, url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--input-type=module', '-e', script, url],
      { env: { ...process.env, NODE_EXTRA_CA_CERTS: pki.caFile }, timeout: waitMs },
      (err, stdout, stderr) =>
        err === null ? resolve(stdout) : reject(new Error(`${err.message}: ${stderr}`)),
    );
  });
}

// Every listener over TLS, with real clients, on one broker (tlsClientAuth request).
const skip = opensslMissing;
let pki: TestPki;
let broker: Broker;
let ca: Buffer;
before(async () => {
  if (skip !== undefined) return;
  pki = makeTestPki();
  ca = pki.read(pki.caFile);
  broker = await startTlsBroker(pki, 'request');
});
after(async () => {
  await broker?.stop();
  pki?.remove();
});

test('one certificate turns on every TLS listener; the plain ones stay on', { skip }, () => {
  for (const key of ['amqpPort', ...Object.keys(tlsPortsAuto)] as const)
    assert.ok((broker.ports[key as keyof typeof broker.ports] ?? 0) > 0, `${key} is listening`);
  assert.match(broker.readyLine(), /amqps=\d+ .*mqtts=\d+ .*mqtt-wss=\d+ .*kafka-tls=\d+ .*https=\d+/);
});

test('amqplib over amqps:// publishes to and consumes from a durable queue', { skip }, async () => {
  const connection = await amqp.connect(`amqps://guest:guest@127.0.0.1:${broker.ports.amqpsPort}`, {
    ca: [ca],
  });
  try {
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue('tls.jobs', { durable: true });
    channel.sendToQueue('tls.jobs', Buffer.from('over tls'), { persistent: true });
    await channel.waitForConfirms();
    const got = await channel.get('tls.jobs', { noAck: true });
    assert.equal(got === false ? undefined : got.content.toString(), 'over tls');
  } finally {
    await connection.close();
  }
});

test('a client that does not trust the CA is refused by its own side', { skip }, async () => {
  await assert.rejects(amqp.connect(`amqps://guest:guest@127.0.0.1:${broker.ports.amqpsPort}`));
  await assert.rejects(fetch(`https://127.0.0.1:${broker.ports.httpsPort}/api/health`));
});

test('mqtt.js over mqtts:// and wss:// with a client certificate: QoS 1 both ways', { skip }, async () => {
  const options = {
    ca,
    cert: pki.read(pki.client.cert),
    key: pki.read(pki.client.key),
    protocolVersion: 5 as const,
  };
  const sub = await mqtt.connectAsync(`mqtts://127.0.0.1:${broker.ports.mqttsPort}`, options);
  const pub = await mqtt.connectAsync(`wss://127.0.0.1:${broker.ports.mqttWssPort}/mqtt`, options);
  try {
    const got: string[] = [];
    sub.on('message', (_topic, payload) => got.push(payload.toString()));
    await sub.subscribeAsync('tls/+', { qos: 1 });
    await pub.publishAsync('tls/a', 'from wss', { qos: 1 });
    await until(() => got.length === 1, waitMs, 'mqtts subscriber gets the wss publish');
    assert.deepEqual(got, ['from wss']);
  } finally {
    await Promise.all([sub.endAsync(), pub.endAsync()]);
  }
});

test('mosquitto_pub and mosquitto_sub with --cafile', { skip: skip ?? mosquittoMissing }, async () => {
  const where = ['-h', '127.0.0.1', '-p', String(broker.ports.mqttsPort), '--cafile', pki.caFile];
  const published = await runTool('mosquitto_pub', [
    ...where,
    '-t',
    'tls/mosquitto',
    '-m',
    'kept',
    '-r',
    '-q',
    '1',
  ]);
  assert.equal(published.code, 0, published.stderr);
  const read = await runTool('mosquitto_sub', [...where, '-t', 'tls/mosquitto', '-C', '1', '-W', '10']);
  assert.equal(read.code, 0, read.stderr);
  assert.equal(read.stdout.trim(), 'kept');
});

test('kafkajs with ssl produces and consumes; Metadata advertises the TLS port', { skip }, async () => {
  const bootstrap = `127.0.0.1:${broker.ports.kafkaTlsPort}`;
  const kafka = new TestKafka({
    clientId: 'tls',
    brokers: [bootstrap],
    ssl: { ca: [ca] },
    logLevel: logLevel.NOTHING,
  });
  const admin = kafka.admin();
  const producer = kafka.producer();
  const consumer = kafka.consumer({
    groupId: 'tls-group',
    sessionTimeout: 6000,
    heartbeatInterval: 300,
    maxWaitTimeInMs: 100,
  });
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'tls-topic', numPartitions: 1 }] });
    const cluster = await admin.describeCluster();
    assert.deepEqual(
      cluster.brokers.map((b) => b.port),
      [broker.ports.kafkaTlsPort],
    );
    await producer.connect();
    await producer.send({ topic: 'tls-topic', messages: [{ value: 'k1' }, { value: 'k2' }] });
    const seen: string[] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: 'tls-topic', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(String(message.value)) });
    await until(() => seen.length === 2, waitMs, 'kafkajs consumer over TLS');
    assert.deepEqual(seen, ['k1', 'k2']);
  } finally {
    await Promise.all([admin.disconnect(), producer.disconnect(), consumer.disconnect()]);
  }
});

test('kcat with security.protocol=SSL and a client certificate', { skip: skip ?? kcatMissing }, async () => {
  const ssl = [
    ...['-b', `127.0.0.1:${broker.ports.kafkaTlsPort}`, '-X', 'security.protocol=SSL'],
    ...['-X', `ssl.ca.location=${pki.caFile}`, '-X', `ssl.certificate.location=${pki.client.cert}`],
    ...['-X', `ssl.key.location=${pki.client.key}`],
  ];
  const produced = await runTool('kcat', [...ssl, '-t', 'tls-kcat', '-P'], 'one\ntwo\n');
  assert.equal(produced.code, 0, produced.stderr);
  const consumed = await runTool('kcat', [
    ...ssl,
    '-C',
    '-t',
    'tls-kcat',
    '-o',
    'beginning',
    '-c',
    '2',
    '-e',
  ]);
  assert.equal(consumed.code, 0, consumed.stderr);
  assert.deepEqual(consumed.stdout.trim().split('\n'), ['one', 'two']);
});

test('fetch reads the HTTPS admin API', { skip }, async () => {
  const script = 'const r = await fetch(process.argv[1]); console.log(r.status, await r.text());';
  const out = await nodeWithCa(pki, script, `https://127.0.0.1:${broker.ports.httpsPort}/api/health`);
  assert.equal(out.trim(), '200 {"status":"ok"}');
});

test('KubeMQ over TLS: gRPC with grpc-js credentials, REST over HTTPS', { skip }, async () => {
  const creds = credentials.createSsl(ca, pki.read(pki.client.key), pki.read(pki.client.cert));
  const client = rawClient(`127.0.0.1:${broker.ports.grpcPort}`, creds);
  try {
    const pong = await call(client, 'Ping', {});
    assert.ok(pong['Host'], 'Ping answered over TLS');
  } finally {
    client.close();
  }
  const insecure = rawClient(`127.0.0.1:${broker.ports.grpcPort}`);
  try {
    await assert.rejects(call(insecure, 'Ping', {}), 'a plaintext gRPC client gets nothing');
  } finally {
    insecure.close();
  }
  const script = 'const r = await fetch(process.argv[1]); console.log(r.status);';
  const out = await nodeWithCa(pki, script, `https://127.0.0.1:${broker.ports.restPort}/ping`);
  assert.equal(out.trim(), '200');
});

test('no TLS port answers plaintext: each closes with at most a TLS alert', { skip }, async () => {
  const probes: Array<[keyof typeof tlsPortsAuto, Buffer]> = [
    ['amqpsPort', Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')],
    ['mqttsPort', Buffer.from('101000044d5154540402003c0000', 'hex')],
    ['mqttWssPort', Buffer.from('GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n')],
    ['kafkaTlsPort', Buffer.from('0000000d00120003000000010003616263', 'hex')],
    ['httpsPort', Buffer.from('GET /api/health HTTP/1.1\r\nHost: x\r\n\r\n')],
    ['grpcPort', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n')],
    ['restPort', Buffer.from('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n')],
  ];
  for (const [key, bytes] of probes) {
    const received = await plaintextAnswer(broker.ports[key]!, bytes);
    assert.ok(
      received.length === 0 || received[0] === 0x15,
      `${key} answered plaintext: ${received.toString('latin1')}`,
    );
  }
});

describe('tlsClientAuth require on the protocol listeners', { skip: opensslMissing }, () => {
  let pki: TestPki;
  let broker: Broker;
  before(async () => {
    pki = makeTestPki();
    broker = await startTlsBroker(pki, 'require');
  });
  after(async () => {
    await broker?.stop();
    pki?.remove();
  });

  test('amqplib and mqtt.js get in with a certificate the CA signed, and only with one', async () => {
    const ca = pki.read(pki.caFile);
    const mine = { ca: [ca], cert: pki.read(pki.client.cert), key: pki.read(pki.client.key) };
    const url = `amqps://guest:guest@127.0.0.1:${broker.ports.amqpsPort}`;
    await assert.rejects(amqp.connect(url, { ca: [ca] }), 'no certificate');
    const stranger = { ca: [ca], cert: pki.read(pki.stranger.cert), key: pki.read(pki.stranger.key) };
    await assert.rejects(amqp.connect(url, stranger), 'a certificate from another CA');
    const connection = await amqp.connect(url, mine);
    await connection.close();

    const mqttUrl = `mqtts://127.0.0.1:${broker.ports.mqttsPort}`;
    await assert.rejects(mqtt.connectAsync(mqttUrl, { ca, reconnectPeriod: 0, connectTimeout: 5000 }));
    const client = await mqtt.connectAsync(mqttUrl, { ...mine, ca, reconnectPeriod: 0 });
    await client.endAsync();
  });

  test('the HTTPS admin API and KubeMQ gRPC refuse a client without a certificate', async () => {
    await assert.rejects(
      nodeWithCa(
        pki,
        'await fetch(process.argv[1]);',
        `https://127.0.0.1:${broker.ports.httpsPort}/api/health`,
      ),
    );
    const client = rawClient(
      `127.0.0.1:${broker.ports.grpcPort}`,
      credentials.createSsl(pki.read(pki.caFile)),
    );
    try {
      await assert.rejects(call(client, 'Ping', {}));
    } finally {
      client.close();
    }
  });
});
