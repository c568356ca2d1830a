/**
 * MQTT, AMQP and Kafka on one broker at once (docs/cross-protocol.md, "All three at once"): an AMQP
 * stream queue bound to amq.topic is also the Kafka topic of the same name, so what an MQTT sensor
 * publishes, a Kafka consumer reads; what Kafka produces, an AMQP stream consumer reads; and what AMQP
 * publishes to amq.topic reaches both MQTT subscribers and the stream.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { KafkaMessage } from 'kafkajs';
import type { Broker } from '../../src/index.js';
import { startTestBroker } from '../../testing/broker.js';
import { kafkaClient, until } from '../../testing/kafka-helpers.js';
import { closeAll, connect, inbox } from '../../testing/mqtt-harness.js';

const waitMs = 10_000;
const stream = 'telemetry';

/** Runs a fresh kafkajs group over `topic` from the beginning until `done` holds; returns what it saw. */
async function readKafka(
  bootstrap: string,
  groupId: string,
  done: (seen: KafkaMessage[]) => boolean,
): Promise<KafkaMessage[]> {
  const consumer = kafkaClient(bootstrap, 'e2e-three').consumer({
    groupId,
    sessionTimeout: 3000,
    heartbeatInterval: 200,
    maxWaitTimeInMs: 100,
  });
  const seen: KafkaMessage[] = [];
  try {
    await consumer.connect();
    await consumer.subscribe({ topic: stream, fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
    await until(() => done(seen), waitMs, `kafka group ${groupId} reading ${stream}`);
  } finally {
    await consumer.disconnect();
  }
  return seen;
}

/** Reads the stream queue over AMQP from its first offset until `done` holds; returns what it saw. */
async function readAmqpStream(
  url: string,
  done: (seen: amqp.ConsumeMessage[]) => boolean,
): Promise<amqp.ConsumeMessage[]> {
  const connection = await amqp.connect(url);
  const seen: amqp.ConsumeMessage[] = [];
  try {
    const channel = await connection.createChannel();
    await channel.prefetch(100);
    const onMessage = (m: amqp.ConsumeMessage | null) => {
      if (m === null) return;
      seen.push(m);
      channel.ack(m);
    };
    await channel.consume(stream, onMessage, { arguments: { 'x-stream-offset': 'first' } });
    await until(() => done(seen), waitMs, `AMQP stream consumer reading ${stream}`);
  } finally {
    await connection.close();
  }
  return seen;
}

const text = (value: Buffer | string | null | undefined) => value?.toString();
const byValue = (seen: KafkaMessage[], body: string) => seen.find((m) => text(m.value) === body);

interface Endpoints {
  readonly amqpUrl: string;
  readonly mqttUrl: string;
  readonly bootstrap: string;
}

/** One broker on file storage with AMQP, MQTT and Kafka on free ports and everything else off. */
function startBroker(dataDir: string): Promise<Broker> {
  return startTestBroker({
    listeners: ['amqp', 'mqtt', 'kafka'],
    storage: 'file',
    dataDir,
    fsync: 'always',
  }).then((started) => started.broker);
}

/** The stream queue every sensors.* message lands in; Kafka sees it as the topic of the same name. */
async function declareStream(amqpUrl: string): Promise<void> {
  const connection = await amqp.connect(amqpUrl);
  try {
    const channel = await connection.createChannel();
    await channel.assertQueue(stream, { durable: true, arguments: { 'x-queue-type': 'stream' } });
    await channel.bindQueue(stream, 'amq.topic', 'sensors.#');
  } finally {
    await connection.close();
  }
}

async function mqttToKafka({ amqpUrl, mqttUrl, bootstrap }: Endpoints): Promise<void> {
  const sensor = await connect(mqttUrl, { protocolVersion: 5, clientId: 'sensor-room1' });
  try {
    await sensor.publishAsync('sensors/room1/temp', '21.5', {
      qos: 1,
      properties: { userProperties: { unit: 'C' } },
    });
  } finally {
    await closeAll(sensor);
  }
  const seen = await readKafka(bootstrap, 'e2e-from-mqtt', (s) => byValue(s, '21.5') !== undefined);
  const record = byValue(seen, '21.5')!;
  assert.equal(record.key, null, 'an MQTT message has no key');
  // The user properties are the record headers; what MQTT says beyond them (QoS, publisher) is
  // broker metadata, never a header. Kafka has no routing key: the broker adds it as the last record
  // header, x-routing-key (the MQTT topic, dotted).
  assert.deepEqual(Object.keys(record.headers ?? {}), ['unit', 'x-routing-key']);
  assert.equal(text(record.headers?.['unit'] as Buffer), 'C');
  assert.equal(text(record.headers?.['x-routing-key'] as Buffer), 'sensors.room1.temp');
  // An AMQP stream reader sees it as the delivery's routing key.
  const viaAmqp = await readAmqpStream(amqpUrl, (s) => s.some((m) => text(m.content) === '21.5'));
  const delivered = viaAmqp.find((m) => text(m.content) === '21.5')!;
  assert.equal(delivered.fields.routingKey, 'sensors.room1.temp');
  assert.equal(Number(delivered.properties.headers?.['x-stream-offset']), 0);
  assert.equal(text(delivered.properties.headers?.['unit']), 'C');
}

async function kafkaToAmqp({ amqpUrl, bootstrap }: Endpoints): Promise<void> {
  const producer = kafkaClient(bootstrap, 'e2e-three').producer();
  await producer.connect();
  try {
    await producer.send({
      topic: stream,
      messages: [{ key: 'room3', value: '19.0', headers: { unit: 'C', source: 'kafka' } }],
    });
  } finally {
    await producer.disconnect();
  }
  const seen = await readAmqpStream(amqpUrl, (s) => s.some((m) => text(m.content) === '19.0'));
  const message = seen.find((m) => text(m.content) === '19.0')!;
  assert.equal(text(message.properties.headers?.['x-kafka-key']), 'room3');
  assert.equal(text(message.properties.headers?.['source']), 'kafka');
  assert.equal(text(message.properties.headers?.['unit']), 'C');
  assert.equal(Number(message.properties.headers?.['x-stream-offset']), 1, 'after the MQTT message');
}

async function amqpToMqttAndKafka({ amqpUrl, mqttUrl, bootstrap }: Endpoints): Promise<void> {
  const display = await connect(mqttUrl, { protocolVersion: 5, clientId: 'display-hum' });
  const connection = await amqp.connect(amqpUrl);
  try {
    await display.subscribeAsync('sensors/+/hum', { qos: 1 });
    const channel = await connection.createConfirmChannel();
    channel.publish('amq.topic', 'sensors.room2.hum', Buffer.from('48%'), {
      persistent: true,
      headers: { unit: 'percent' },
    });
    await channel.waitForConfirms();
    const [received] = await inbox(display).wait(1, waitMs);
    assert.equal(received!.topic, 'sensors/room2/hum');
    assert.equal(received!.text, '48%');
    assert.equal(received!.packet.qos, 1, 'persistent arrives as QoS 1');
    assert.deepEqual({ ...received!.packet.properties?.userProperties }, { unit: 'percent' });
  } finally {
    await closeAll(display);
    await connection.close();
  }
  const seen = await readKafka(bootstrap, 'e2e-from-amqp', (s) => byValue(s, '48%') !== undefined);
  const record = byValue(seen, '48%')!;
  assert.equal(text(record.headers?.['unit'] as Buffer), 'percent');
  assert.equal(record.key, null);
  // Everything the suite wrote is on the one log, in the order it was written.
  assert.deepEqual(
    seen.map((m) => text(m.value)),
    ['21.5', '19.0', '48%'],
  );
  assert.deepEqual(
    seen.map((m) => m.offset),
    ['0', '1', '2'],
  );
}

describe('MQTT → AMQP stream → Kafka and back, on one broker', () => {
  let broker: Broker | undefined;
  let dataDir: string;
  let endpoints: Endpoints;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchyard-e2e3-'));
    broker = await startBroker(dataDir);
    const { amqpPort, mqttPort, kafkaPort } = broker.ports;
    endpoints = {
      amqpUrl: `amqp://guest:guest@127.0.0.1:${amqpPort}`,
      mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
      bootstrap: `127.0.0.1:${kafkaPort}`,
    };
    await declareStream(endpoints.amqpUrl);
  });
  after(async () => {
    try {
      await broker?.stop();
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  test('an MQTT 5 publish lands in the stream; kafkajs reads it with user properties as headers', () =>
    mqttToKafka(endpoints));
  test('kafkajs produces to the topic; an AMQP stream consumer reads key and header', () =>
    kafkaToAmqp(endpoints));
  test('an AMQP publish to amq.topic reaches an MQTT subscriber and the stream Kafka reads', () =>
    amqpToMqttAndKafka(endpoints));
});
