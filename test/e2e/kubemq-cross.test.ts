/**
 * KubeMQ meets the other protocols on one core (docs/cross-protocol.md, "KubeMQ"), each arrow both
 * ways: MQTT and AMQP ↔ KubeMQ events on `amq.topic`; Kafka topics and AMQP stream queues ↔ KubeMQ
 * events store; AMQP queues ↔ KubeMQ queues; AMQP RPC ↔ KubeMQ commands on core's request path.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import type { KafkaMessage } from 'kafkajs';
import { CommandsClient, EventStoreType, EventsClient, EventsStoreClient, QueuesClient } from 'kubemq-js';
import type { Broker } from '../../src/index.js';
import { startTestBroker } from '../../testing/broker.js';
import { kafkaClient } from '../../testing/kafka-helpers.js';
import { clientId, Subscriptions, sleep, textOf, until, utf8 } from '../../testing/kubemq-harness.js';
import { closeAll, connect, inbox } from '../../testing/mqtt-harness.js';

let broker: Broker;
let amqpUrl: string;
let mqttUrl: string;
let bootstrap: string;
let address: string;
const subscriptions = new Subscriptions();

before(async () => {
  ({ broker } = await startTestBroker({ listeners: ['amqp', 'mqtt', 'kafka', 'grpc'] }));
  amqpUrl = `amqp://guest:guest@127.0.0.1:${broker.ports.amqpPort}`;
  mqttUrl = `mqtt://127.0.0.1:${broker.ports.mqttPort}`;
  bootstrap = `127.0.0.1:${broker.ports.kafkaPort}`;
  address = `127.0.0.1:${broker.ports.grpcPort}`;
});
after(async () => {
  subscriptions.endAll();
  await broker.stop();
});

const kubemq = { reconnectInterval: 0 };

async function withAmqp<T>(work: (channel: amqp.ConfirmChannel) => Promise<T>): Promise<T> {
  const connection = await amqp.connect(amqpUrl);
  try {
    return await work(await connection.createConfirmChannel());
  } finally {
    await connection.close();
  }
}

test('MQTT → KubeMQ events: a publish on x/a reaches subscribers of x.a and x.>, user properties as tags', async () => {
  const events = new EventsClient({ address, clientId: clientId('x'), ...kubemq });
  const exact: Array<{ channel: string; body: string; tags: Map<string, string> }> = [];
  const tail: string[] = [];
  subscriptions.track(
    await events.subscribe({ channel: 'x.a' }, (err, msg) => {
      if (err === null && msg) exact.push({ channel: msg.channel, body: textOf(msg.body), tags: msg.tags });
    }),
  );
  subscriptions.track(
    await events.subscribe({ channel: 'x.>' }, (err, msg) => {
      if (err === null && msg) tail.push(msg.channel);
    }),
  );
  await sleep(200);
  const mqtt = await connect(mqttUrl, { protocolVersion: 5 });
  await mqtt.publishAsync('x/a', 'from mqtt', { qos: 0, properties: { userProperties: { unit: 'C' } } });
  await mqtt.publishAsync('x', 'not one-or-more', { qos: 0 });
  await until(() => exact.length === 1 && tail.length === 1);
  await sleep(100);
  assert.equal(exact[0]!.channel, 'x.a');
  assert.equal(exact[0]!.body, 'from mqtt');
  assert.equal(exact[0]!.tags.get('unit'), 'C');
  assert.deepEqual(tail, ['x.a'], '> is one or more tokens: x itself does not match x.>');
  await closeAll(mqtt);
  events.close();
});

test('KubeMQ events → MQTT and AMQP: metadata and client id as headers, tags as user properties', async () => {
  const mqtt = await connect(mqttUrl, { protocolVersion: 5 });
  await mqtt.subscribeAsync('y/+', { qos: 0 });
  const got = inbox(mqtt);
  const amqpGot = await withAmqp(async (ch) => {
    const { queue } = await ch.assertQueue('', { exclusive: true });
    await ch.bindQueue(queue, 'amq.topic', 'y.#');
    const seen: amqp.ConsumeMessage[] = [];
    await ch.consume(queue, (m) => m && seen.push(m), { noAck: true });
    const events = new EventsClient({ address, clientId: 'y-sender', ...kubemq });
    await events.send({ channel: 'y.b', body: utf8('to others'), metadata: 'meta' });
    events.close();
    await until(() => seen.length === 1);
    return seen[0]!;
  });
  const [m] = await got.wait(1);
  assert.equal(m!.topic, 'y/b');
  assert.equal(m!.text, 'to others');
  assert.equal(amqpGot.fields.routingKey, 'y.b');
  assert.equal(amqpGot.content.toString(), 'to others');
  assert.equal(amqpGot.properties.headers?.['x-kubemq-metadata'], 'meta');
  assert.equal(amqpGot.properties.headers?.['x-kubemq-client-id'], 'y-sender');
  await closeAll(mqtt);
});

test('AMQP → KubeMQ events: a publish to amq.topic with key z.c and headers', async () => {
  const events = new EventsClient({ address, clientId: clientId('z'), ...kubemq });
  const seen: Array<{ body: string; tags: Map<string, string> }> = [];
  subscriptions.track(
    await events.subscribe({ channel: 'z.*' }, (err, msg) => {
      if (err === null && msg) seen.push({ body: textOf(msg.body), tags: msg.tags });
    }),
  );
  await sleep(200);
  await withAmqp(async (ch) => {
    ch.publish('amq.topic', 'z.c', Buffer.from('from amqp'), { headers: { colour: 'red', n: 3 } });
    await ch.waitForConfirms();
  });
  await until(() => seen.length === 1);
  assert.equal(seen[0]!.body, 'from amqp');
  assert.equal(seen[0]!.tags.get('colour'), 'red');
  assert.equal(seen[0]!.tags.get('n'), '3');
  events.close();
});

async function readStore(channel: string, count: number) {
  const store = new EventsStoreClient({ address, clientId: clientId('store'), ...kubemq });
  const seen: Array<{ body: string; sequence: number; tags: Map<string, string> }> = [];
  const subscription = subscriptions.track(
    await store.subscribe({ channel, requestType: EventStoreType.StartFromFirst }, (err, msg) => {
      if (err === null && msg) seen.push({ body: textOf(msg.body), sequence: msg.sequence, tags: msg.tags });
    }),
  );
  await until(() => seen.length >= count, 10_000);
  subscription.unsubscribe();
  store.close();
  return seen;
}

test('Kafka → KubeMQ events store: a topic is the channel, sequence = offset + 1, headers as tags', async () => {
  const producer = kafkaClient(bootstrap, 'xp').producer();
  await producer.connect();
  await producer.send({
    topic: 'kt',
    messages: [
      { value: 'k1', headers: { h: 'v' } },
      { value: 'k2', key: 'key2' },
    ],
  });
  await producer.disconnect();
  const seen = await readStore('kt', 2);
  assert.deepEqual(
    seen.map((s) => [s.body, s.sequence]),
    [
      ['k1', 1],
      ['k2', 2],
    ],
  );
  assert.equal(seen[0]!.tags.get('h'), 'v');
  assert.equal(seen[1]!.tags.get('x-kafka-key'), 'key2');
});

test('KubeMQ events store → Kafka and an AMQP stream consumer', async () => {
  const store = new EventsStoreClient({ address, clientId: 'ks-sender', ...kubemq });
  for (const body of ['s1', 's2'])
    assert.equal((await store.send({ channel: 'ks', body: utf8(body), metadata: 'm' })).sent, true);
  store.close();
  const consumer = kafkaClient(bootstrap, 'xp').consumer({ groupId: 'xp-ks', maxWaitTimeInMs: 100 });
  const seen: KafkaMessage[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic: 'ks', fromBeginning: true });
  await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
  await until(() => seen.length === 2, 10_000);
  await consumer.disconnect();
  assert.deepEqual(
    seen.map((m) => m.value?.toString()),
    ['s1', 's2'],
  );
  assert.equal(seen[0]!.headers?.['x-kubemq-metadata']?.toString(), 'm');
  const amqpSeen = await withAmqp(async (ch) => {
    await ch.prefetch(10);
    // As for a Kafka topic: AMQP reads the stream once it declares it as a stream queue.
    await ch.assertQueue('ks', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    const got: amqp.ConsumeMessage[] = [];
    await ch.consume('ks', (m) => m && got.push(m), { arguments: { 'x-stream-offset': 'first' } });
    await until(() => got.length === 2);
    return got.map((m) => m.content.toString());
  });
  assert.deepEqual(amqpSeen, ['s1', 's2']);
});

test('AMQP stream queue → KubeMQ events store', async () => {
  await withAmqp(async (ch) => {
    await ch.assertQueue('as', { durable: true, arguments: { 'x-queue-type': 'stream' } });
    ch.sendToQueue('as', Buffer.from('from an AMQP stream'), { persistent: true });
    await ch.waitForConfirms();
  });
  const seen = await readStore('as', 1);
  assert.equal(seen[0]!.body, 'from an AMQP stream');
  assert.equal(seen[0]!.sequence, 1);
});

test('AMQP queue ↔ KubeMQ queue, both ways, durable', async () => {
  const queues = new QueuesClient({ address, clientId: 'q-side', ...kubemq });
  await withAmqp(async (ch) => {
    await ch.assertQueue('aq', { durable: true });
    ch.sendToQueue('aq', Buffer.from('from amqp'), {
      persistent: true,
      messageId: 'a-1',
      headers: { k: 'v' },
    });
    await ch.waitForConfirms();
  });
  const pulled = await queues.pull({ channel: 'aq', maxNumberOfMessages: 5, waitTimeoutSeconds: 1 });
  assert.equal(pulled.messages.length, 1);
  assert.equal(textOf(pulled.messages[0]!.body!), 'from amqp');
  assert.equal(pulled.messages[0]!.id, 'a-1');
  assert.equal(pulled.messages[0]!.tags?.get('k'), 'v');
  const sent = await queues.send({ channel: 'kq', body: utf8('from kubemq'), metadata: 'm' });
  assert.equal(sent.isError, false, sent.error);
  const got = await withAmqp(async (ch) => {
    await ch.checkQueue('kq');
    const m = await ch.get('kq', { noAck: true });
    return m === false ? undefined : m;
  });
  assert.equal(got?.content.toString(), 'from kubemq');
  assert.equal(got?.properties.deliveryMode, 2, 'persistent');
  assert.equal(got?.properties.headers?.['x-kubemq-metadata'], 'm');
  queues.close();
});

test('headers named like KubeMQ policy fields steer nothing: an AMQP header cannot dead-letter a message into another queue', async () => {
  const queues = new QueuesClient({ address, clientId: 'steer', ...kubemq });
  await withAmqp(async (ch) => {
    await ch.assertQueue('steered', { durable: true });
    await ch.assertQueue('victim', { durable: true });
    ch.sendToQueue('steered', Buffer.from('payload'), {
      persistent: true,
      headers: { 'x-kubemq-max-receive-count': 1, 'x-kubemq-max-receive-queue': 'victim' },
    });
    await ch.waitForConfirms();
    const first = await ch.get('steered');
    assert.ok(first, 'delivered once over AMQP');
    ch.nack(first, false, true);
  });
  const pulled = await queues.pull({ channel: 'steered', maxNumberOfMessages: 5, waitTimeoutSeconds: 1 });
  assert.deepEqual(
    pulled.messages.map((m) => textOf(m.body!)),
    ['payload'],
    'handed out on its second receive',
  );
  const victim = await withAmqp((ch) => ch.checkQueue('victim'));
  assert.equal(victim.messageCount, 0, 'nothing was routed to the queue a header named');
  queues.close();
});

test('queues and streams share one namespace: the other kind is refused, naming the conflict', async () => {
  const queues = new QueuesClient({ address, clientId: 'ns', ...kubemq });
  const store = new EventsStoreClient({ address, clientId: 'ns', ...kubemq });
  const onStream = await queues.send({ channel: 'ks', body: utf8('x') });
  assert.equal(onStream.isError, true);
  assert.match(onStream.error, /channel 'ks' is an events store/);
  await assert.rejects(store.send({ channel: 'kq', body: utf8('x') }), /channel 'kq' is a queue/);
  queues.close();
  store.close();
});

test('AMQP RPC server ↔ KubeMQ commands on core request path', async () => {
  const connection = await amqp.connect(amqpUrl);
  const ch = await connection.createChannel();
  const { queue } = await ch.assertQueue('', { exclusive: true });
  await ch.bindQueue(queue, 'kubemq.commands', 'rpc.resize');
  await ch.consume(queue, (m) => {
    if (m === null) return;
    const reply = { correlationId: m.properties.correlationId, headers: { 'x-kubemq-executed': true } };
    ch.publish('', m.properties.replyTo as string, Buffer.from('done'), reply);
  });
  const commands = new CommandsClient({ address, clientId: 'rpc-caller', ...kubemq });
  const response = await commands.send({ channel: 'rpc.resize', body: utf8('go'), timeout: 5000, id: 'r-9' });
  assert.equal(response.executed, true);
  assert.equal(response.id, 'r-9');
  commands.close();
  await connection.close();
});
