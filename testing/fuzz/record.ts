/**
 * Records the fuzzers' seed corpora: runs short scripted sessions of the real clients (amqplib,
 * mqtt.js over TCP and WebSocket, kafkajs, Node's fetch for the admin API, kubemq-js, grpc-js, fetch and
 * ws for KubeMQ; ./record-kubemq.ts) against a `switchyard start` child and writes what each client
 * wrote on each connection, cut into frames, under `testing/fuzz/corpus/<protocol>/`. To capture exactly
 * the bytes a library hands to its socket, the recorder wraps `net.Socket#write` in its own process (the
 * broker runs in another one).
 *
 *   npm run fuzz:record                          every protocol
 *   npm run fuzz:record -- kubemq-grpc kubemq-rest   only these (the others' corpora are left alone)
 */
import { readFileSync } from 'node:fs';
import { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import amqp from 'amqplib';
import { CompressionTypes, Kafka, logLevel } from 'kafkajs';
import mqtt, { type IClientOptions } from 'mqtt';
import { listenerFlags, type RunningCli, startCli } from '../server-cli.js';
import { adminFetch } from '../server-helpers.js';
import { saveCorpus } from './corpus.js';
import { concat, type Dialect } from './dialect.js';
import { dialects, isProtocol, type Protocol } from './dialects/index.js';
import { fuzzJwtKeys } from './jwt.js';
import { kafkaPlatformSession } from './record-kafka-platform.js';
import * as kubemq from './record-kubemq.js';

interface Written {
  /** The broker port it talked to (a closed socket no longer tells). */
  port: number | undefined;
  readonly chunks: Uint8Array[];
}

const written: Written[] = [];
const writtenBy = new WeakMap<Socket, Written>();
const originalWrite = Socket.prototype.write;

function installTap(): void {
  Socket.prototype.write = function tap(this: Socket, chunk: unknown, ...rest: unknown[]) {
    let entry = writtenBy.get(this);
    if (entry === undefined) {
      const created: Written = { port: this.remotePort, chunks: [] };
      this.once('connect', () => (created.port = this.remotePort));
      writtenBy.set(this, created);
      written.push(created);
      entry = created;
    }
    entry.port ??= this.remotePort;
    const encoding = typeof rest[0] === 'string' ? (rest[0] as BufferEncoding) : 'utf8';
    entry.chunks.push(
      typeof chunk === 'string' ? Buffer.from(chunk, encoding) : Uint8Array.from(chunk as Uint8Array),
    );
    return (originalWrite as (...args: unknown[]) => boolean).call(this, chunk, ...rest);
  } as typeof Socket.prototype.write;
}

function version(pkg: string): string {
  const path = fileURLToPath(new URL(`../../../node_modules/${pkg}/package.json`, import.meta.url));
  return (JSON.parse(readFileSync(path, 'utf8')) as { version: string }).version;
}

interface Recorded {
  name: string;
  frames: Uint8Array[];
  comment: string;
}

/** Runs `script`, then turns every connection it opened to `port` into a session. */
async function record(
  dialect: Dialect,
  port: number,
  name: string,
  client: string,
  script: () => Promise<void>,
): Promise<Recorded[]> {
  const before = written.length;
  await script();
  await new Promise((resolve) => setTimeout(resolve, 100));
  const mine = written.slice(before).filter((w) => w.port === port && w.chunks.length > 0);
  return mine.map((w, i) => {
    const bytes = concat(w.chunks);
    const frames = dialect.split(bytes);
    if (Buffer.compare(concat(frames), bytes) !== 0) throw new Error(`${name}: frames do not add up`);
    return {
      name: mine.length === 1 ? name : `${name}-${i + 1}`,
      frames,
      comment: `${client}, script "${name}", connection ${i + 1} of ${mine.length}: what the client wrote, one frame a line.\nRecorded by testing/fuzz/record.ts (npm run fuzz:record).`,
    };
  });
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---- AMQP -------------------------------------------------------------------------------------

const properties = {
  persistent: true,
  contentType: 'application/json',
  contentEncoding: 'identity',
  headers: { str: 'v', int: 42, neg: -7, big: 2 ** 40, float: 1.5, bool: true, nested: { a: [1, 'two'] } },
  priority: 3,
  correlationId: 'corr-1',
  replyTo: 'replies',
  expiration: '60000',
  messageId: 'm-1',
  timestamp: 1_700_000_000,
  type: 'order.created',
  userId: 'guest',
  appId: 'fuzz-recorder',
};

async function amqpConfirmConsume(url: string): Promise<void> {
  const connection = await amqp.connect(url);
  const ch = await connection.createConfirmChannel();
  await ch.assertExchange('fz.topic', 'topic', { durable: true });
  await ch.assertQueue('fz.q', {
    durable: true,
    arguments: { 'x-message-ttl': 600_000, 'x-max-length': 1000, 'x-dead-letter-exchange': 'fz.dlx' },
  });
  await ch.bindQueue('fz.q', 'fz.topic', 'orders.*');
  for (let i = 0; i < 5; i++) ch.publish('fz.topic', 'orders.new', Buffer.from(`{"n":${i}}`), properties);
  await ch.waitForConfirms();
  await ch.prefetch(10);
  const got: amqp.ConsumeMessage[] = [];
  const { consumerTag } = await ch.consume('fz.q', (m) => m && got.push(m));
  while (got.length < 5) await sleep(10);
  ch.ack(got[0]!);
  ch.nack(got[1]!, false, true);
  ch.reject(got[2]!, false);
  ch.ack(got[4]!, true);
  await ch.cancel(consumerTag);
  const one = await ch.get('fz.q');
  if (one) ch.ack(one);
  await ch.purgeQueue('fz.q');
  await ch.unbindQueue('fz.q', 'fz.topic', 'orders.*');
  await ch.deleteQueue('fz.q');
  await ch.deleteExchange('fz.topic');
  await connection.close();
}

/** tx.select / tx.commit through amqplib's method-id rpc (its API has no tx calls). */
async function tx(ch: amqp.Channel, methodId: number): Promise<void> {
  const id = (90 << 16) | methodId;
  await (ch as unknown as { rpc(m: number, f: object, r: number): Promise<unknown> }).rpc(id, {}, id + 1);
}

async function amqpTxAndErrors(url: string): Promise<void> {
  const connection = await amqp.connect(url);
  const ch = await connection.createChannel();
  await ch.assertExchange('fz.headers', 'headers', { durable: false, autoDelete: true });
  await ch.assertExchange('fz.fanout', 'fanout', { durable: false });
  await ch.bindExchange('fz.headers', 'fz.fanout', '');
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, 'fz.headers', '', { 'x-match': 'any', kind: 'a' });
  await ch.prefetch(5, true);
  ch.publish('fz.fanout', '', Buffer.from('headers'), { headers: { kind: 'a' } });
  await ch.assertQueue('fz.tx', { durable: false });
  await tx(ch, 10); // tx.select
  ch.sendToQueue('fz.tx', Buffer.from('in tx'));
  await tx(ch, 20); // tx.commit
  const m = await ch.get('fz.tx', { noAck: false });
  if (m) ch.nack(m, false, true);
  await ch.recover();
  await ch.consume(queue, () => {}, { exclusive: true, noAck: true, priority: 5 });
  await ch.deleteQueue('fz.tx');
  await ch.unbindExchange('fz.headers', 'fz.fanout', '');
  await ch.deleteExchange('fz.fanout');
  const bad = await connection.createChannel();
  bad.on('error', () => {});
  await bad.checkQueue('fz.missing').catch(() => {});
  await connection.close();
}

async function amqpStream(url: string): Promise<void> {
  const connection = await amqp.connect(url);
  const ch = await connection.createConfirmChannel();
  await ch.assertQueue('fz.stream', { durable: true, arguments: { 'x-queue-type': 'stream' } });
  for (let i = 0; i < 3; i++) ch.sendToQueue('fz.stream', Buffer.from(`s${i}`), { persistent: true });
  await ch.waitForConfirms();
  await ch.prefetch(10);
  const got: amqp.ConsumeMessage[] = [];
  await ch.consume('fz.stream', (m) => m && got.push(m), { arguments: { 'x-stream-offset': 'first' } });
  while (got.length < 3) await sleep(10);
  ch.ack(got[2]!, true);
  await connection.close();
}

async function amqpBigBody(url: string): Promise<void> {
  const connection = await amqp.connect(`${url}?frameMax=4096&heartbeat=30`);
  const ch = await connection.createChannel();
  await ch.assertQueue('fz.big', { autoDelete: true });
  ch.sendToQueue('fz.big', Buffer.alloc(10_000, 0x61), { headers: { part: 'big' } });
  const m = await ch.get('fz.big', { noAck: true });
  if (!m) throw new Error('big body not read back');
  await ch.deleteQueue('fz.big');
  await connection.close();
}

async function recordAmqp(port: number): Promise<Recorded[]> {
  const url = `amqp://guest:guest@127.0.0.1:${port}`;
  const client = `amqplib ${version('amqplib')}`;
  const d = dialects.amqp;
  return [
    ...(await record(d, port, 'confirm-consume', client, () => amqpConfirmConsume(url))),
    ...(await record(d, port, 'tx-headers-errors', client, () => amqpTxAndErrors(url))),
    ...(await record(d, port, 'stream', client, () => amqpStream(url))),
    ...(await record(d, port, 'big-body', client, () => amqpBigBody(url))),
  ];
}

// ---- MQTT -------------------------------------------------------------------------------------

async function connected(url: string, options: IClientOptions): Promise<mqtt.MqttClient> {
  const client = mqtt.connect(url, { reconnectPeriod: 0, connectTimeout: 5000, ...options });
  await new Promise<void>((resolve, reject) => {
    client.once('connect', () => resolve());
    client.once('error', reject);
  });
  return client;
}

async function received(client: mqtt.MqttClient, count: number): Promise<void> {
  let n = 0;
  await new Promise<void>((resolve) => {
    client.on('message', () => {
      if (++n === count) resolve();
    });
  });
}

async function mqttV5(url: string): Promise<void> {
  const client = await connected(url, {
    protocolVersion: 5,
    clientId: 'fz-v5',
    clean: false,
    keepalive: 30,
    properties: {
      sessionExpiryInterval: 60,
      receiveMaximum: 20,
      topicAliasMaximum: 5,
      maximumPacketSize: 100_000,
      userProperties: { device: 'd1' },
    },
    will: {
      topic: 'fz/will',
      payload: Buffer.from('gone'),
      qos: 1,
      retain: false,
      properties: { willDelayInterval: 5, contentType: 'text/plain', messageExpiryInterval: 60 },
    },
  });
  await client.subscribeAsync(
    { 'fz/a/+': { qos: 1, nl: true, rap: true, rh: 1 }, 'fz/b/#': { qos: 2 } },
    { properties: { subscriptionIdentifier: 7, userProperties: { s: '1' } } },
  );
  await client.subscribeAsync('$share/g/fz/shared', { qos: 1 });
  const inbox = received(client, 3);
  await client.publishAsync('fz/b/x', 'q0', { qos: 0 });
  await client.publishAsync('fz/b/y', 'q1', {
    qos: 1,
    properties: {
      payloadFormatIndicator: true,
      messageExpiryInterval: 30,
      contentType: 'text/plain',
      responseTopic: 'fz/reply',
      correlationData: Buffer.from('c-1'),
      userProperties: { k: 'v', list: ['a', 'b'] },
    },
  });
  await client.publishAsync('fz/b/z', 'q2', { qos: 2, retain: true, properties: { topicAlias: 1 } });
  await inbox;
  await client.publishAsync('fz/shared', 'one', { qos: 1 });
  await client.unsubscribeAsync(['fz/a/+', 'fz/b/#']);
  await client.publishAsync('fz/b/z', '', { qos: 1, retain: true });
  await client.endAsync(false, { reasonCode: 0x04, properties: { sessionExpiryInterval: 0 } });
}

async function mqttV311(url: string): Promise<void> {
  const client = await connected(url, {
    protocolVersion: 4,
    clientId: 'fz-311',
    clean: false,
    username: 'guest',
    password: 'guest',
    will: { topic: 'fz/will/311', payload: Buffer.from('bye'), qos: 2, retain: true },
  });
  await client.subscribeAsync({ 'fz/311/#': { qos: 2 }, 'fz/+/x': { qos: 0 } });
  const inbox = received(client, 3);
  for (const qos of [0, 1, 2] as const)
    await client.publishAsync('fz/311/t', `m${qos}`, { qos, retain: qos === 1 });
  await inbox;
  await client.unsubscribeAsync('fz/+/x');
  await client.publishAsync('fz/311/t', '', { qos: 0, retain: true });
  await client.endAsync();
}

async function mqttV31(url: string): Promise<void> {
  const client = await connected(url, {
    protocolVersion: 3,
    protocolId: 'MQIsdp',
    clientId: 'fz-31',
    clean: true,
  });
  await client.subscribeAsync('fz/31', { qos: 1 });
  const inbox = received(client, 1);
  await client.publishAsync('fz/31', 'hello', { qos: 1 });
  await inbox;
  await client.endAsync();
}

async function recordMqtt(dialect: Dialect, port: number, url: string): Promise<Recorded[]> {
  const client = `mqtt.js ${version('mqtt')}`;
  return [
    ...(await record(dialect, port, 'v5-session', client, () => mqttV5(url))),
    ...(await record(dialect, port, 'v311-will-retain', client, () => mqttV311(url))),
    ...(await record(dialect, port, 'v31', client, () => mqttV31(url))),
  ];
}

// ---- Kafka ------------------------------------------------------------------------------------

async function kafkaSession(bootstrap: string): Promise<void> {
  const kafka = new Kafka({ clientId: 'fz-kafkajs', brokers: [bootstrap], logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({
    topics: [
      { topic: 'fz-orders', numPartitions: 2, configEntries: [{ name: 'retention.ms', value: '3600000' }] },
      { topic: 'fz-audit', numPartitions: 1 },
    ],
  });
  await admin.createPartitions({ topicPartitions: [{ topic: 'fz-audit', count: 2 }] });
  await admin.describeConfigs({ resources: [{ type: 2, name: 'fz-orders' }], includeSynonyms: false });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  await producer.send({
    topic: 'fz-orders',
    acks: -1,
    messages: [
      { key: 'k1', value: 'v1', headers: { h: 'x' } },
      { key: 'k2', value: 'v2', partition: 1 },
      { value: null, key: 'tombstone' },
    ],
  });
  await producer.send({
    topic: 'fz-audit',
    compression: CompressionTypes.GZIP,
    messages: [{ value: 'zipped' }],
  });
  await producer.disconnect();
  const consumer = kafka.consumer({ groupId: 'fz-group', sessionTimeout: 6000, heartbeatInterval: 500 });
  await consumer.connect();
  await consumer.subscribe({ topics: ['fz-orders', 'fz-audit'], fromBeginning: true });
  let seen = 0;
  await consumer.run({ eachMessage: async () => void seen++ });
  while (seen < 4) await sleep(20);
  await consumer.commitOffsets([{ topic: 'fz-orders', partition: 0, offset: '2' }]);
  await consumer.disconnect();
  await admin.fetchOffsets({ groupId: 'fz-group', topics: ['fz-orders'] });
  await admin.fetchTopicOffsets('fz-orders');
  await admin.describeGroups(['fz-group']);
  await admin.listGroups();
  await admin.deleteGroups(['fz-group']);
  await admin.deleteTopics({ topics: ['fz-orders', 'fz-audit'] });
  await admin.disconnect();
}

// ---- HTTP -------------------------------------------------------------------------------------

/** Logged in as the seeded guest, as every route but /api/health needs; the unauthenticated form is a mutation away. */
async function httpSession(base: string): Promise<void> {
  const paths = ['/api/health', '/api/overview', '/api/vhosts', '/api/queues', '/api/queues/%2F'];
  for (const path of [
    ...paths,
    '/api/exchanges/%2F',
    '/api/bindings',
    '/api/streams',
    '/metrics',
    '/api/nope',
  ]) {
    await (await adminFetch(base + path)).arrayBuffer();
  }
  await (await adminFetch(`${base}/api/health`, { method: 'HEAD' })).arrayBuffer();
  await (await adminFetch(`${base}/api/queues`, { method: 'POST', body: '{"name":"q"}' })).arrayBuffer();
}

// ---- KubeMQ -----------------------------------------------------------------------------------

async function recordKubemqGrpc(port: number): Promise<Recorded[]> {
  const proxy = await kubemq.grpcProxy(port);
  const address = `127.0.0.1:${proxy.port}`;
  const client = `kubemq-js ${version('kubemq-js')}`;
  const d = dialects['kubemq-grpc'];
  try {
    return [
      ...(await record(d, port, 'events', client, () => kubemq.grpcEvents(address))),
      ...(await record(d, port, 'events-store', client, () => kubemq.grpcEventsStore(address))),
      ...(await record(d, port, 'queues', client, () => kubemq.grpcQueues(address))),
      ...(await record(d, port, 'commands', client, () =>
        kubemq.grpcCommandResponder(address, () => kubemq.grpcCommandSender(address)),
      )),
      ...(await record(d, port, 'raw', `@grpc/grpc-js ${version('@grpc/grpc-js')}`, () =>
        kubemq.grpcRaw(address),
      )),
    ];
  } finally {
    await proxy.close();
  }
}

async function recordKubemqRest(port: number): Promise<Recorded[]> {
  const base = `http://127.0.0.1:${port}`;
  const ws = `ws://127.0.0.1:${port}`;
  const d = dialects['kubemq-rest'];
  const fetchClient = `Node ${process.version} fetch`;
  const wsClient = `ws ${version('ws')} and Node ${process.version} fetch`;
  return [
    ...(await record(d, port, 'requests', fetchClient, () => kubemq.restRequests(base))),
    ...(await record(d, port, 'subscribe', wsClient, () => kubemq.restSubscribe(ws, base))),
    ...(await record(d, port, 'streams', wsClient, () => kubemq.restStreams(ws, base))),
  ];
}

// ---- main -------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const asked = process.argv.slice(2);
  for (const name of asked) if (!isProtocol(name)) throw new Error(`unknown protocol ${name}`);
  const wanted = (protocol: Protocol) => asked.length === 0 || asked.includes(protocol);
  const broker: RunningCli = await startCli([
    '--storage',
    'memory',
    '--jwt-keys',
    fuzzJwtKeys(),
    ...listenerFlags({
      amqp: 'auto',
      mqtt: 'auto',
      'mqtt-ws': 'auto',
      kafka: 'auto',
      http: 'auto',
      grpc: 'auto',
      rest: 'auto',
    }),
  ]);
  installTap();
  try {
    const p = broker.ports as Required<typeof broker.ports>;
    const recorders: Record<Protocol, () => Promise<Recorded[]>> = {
      amqp: () => recordAmqp(p.amqp),
      mqtt: () => recordMqtt(dialects.mqtt, p.mqtt, `mqtt://127.0.0.1:${p.mqtt}`),
      'mqtt-ws': () => recordMqtt(dialects['mqtt-ws'], p['mqtt-ws'], `ws://127.0.0.1:${p['mqtt-ws']}/mqtt`),
      kafka: async () => [
        ...(await record(dialects.kafka, p.kafka, 'kafkajs', `kafkajs ${version('kafkajs')}`, () =>
          kafkaSession(`127.0.0.1:${p.kafka}`),
        )),
        ...(await record(dialects.kafka, p.kafka, 'platform', 'raw requests (testing/kafka-wire.ts)', () =>
          kafkaPlatformSession(p.kafka),
        )),
      ],
      http: () =>
        record(dialects.http, p.http, 'fetch', `Node ${process.version} fetch`, () =>
          httpSession(`http://127.0.0.1:${p.http}`),
        ),
      'kubemq-grpc': () => recordKubemqGrpc(p.grpc),
      'kubemq-rest': () => recordKubemqRest(p.rest),
    };
    for (const [protocol, recorder] of Object.entries(recorders) as Array<
      [Protocol, () => Promise<Recorded[]>]
    >) {
      if (!wanted(protocol)) continue;
      const sessions = await recorder();
      saveCorpus(protocol, sessions);
      const frames = sessions.reduce((n, s) => n + s.frames.length, 0);
      console.log(`${protocol}: ${sessions.length} sessions, ${frames} frames`);
    }
  } finally {
    Socket.prototype.write = originalWrite;
    await broker.stop();
  }
}

await main();
