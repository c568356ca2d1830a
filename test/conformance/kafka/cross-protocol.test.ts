/**
 * One stream, two protocols: a Kafka topic is the AMQP stream queue of the same name. What kafkajs
 * produces, an AMQP stream consumer (amqplib with x-stream-offset) reads as messages with the key and
 * headers mapped as docs/cross-protocol.md says, and what AMQP publishes, kafkajs consumes.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqplib from 'amqplib';
import type { EachMessagePayload } from 'kafkajs';
import {
  type KafkaTestBroker,
  kafkaClient,
  startKafkaBroker,
  until,
} from '../../../testing/kafka-helpers.js';

describe('kafka ↔ amqp on one stream', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker({ amqp: true });
  });
  after(async () => {
    await kb.stop();
  });

  test('kafkajs produces, an AMQP stream consumer reads key, headers, timestamp and body', async (t) => {
    const amqpPort = kb.broker.ports.amqpPort;
    if (amqpPort === undefined) return t.skip('the AMQP listener is not built');
    const connection = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    try {
      const channel = await connection.createChannel();
      await channel.assertQueue('shared', { durable: true, arguments: { 'x-queue-type': 'stream' } });
      const producer = kafkaClient(kb.bootstrap).producer();
      await producer.connect();
      await producer.send({
        topic: 'shared',
        messages: [
          { key: 'order-1', value: 'from kafka', headers: { source: 'kafkajs' }, timestamp: '1700000000000' },
        ],
      });
      await producer.disconnect();
      await channel.prefetch(10);
      const got: amqplib.ConsumeMessage[] = [];
      await channel.consume('shared', (m) => m && got.push(m), { arguments: { 'x-stream-offset': 'first' } });
      await until(() => got.length === 1, 10_000, 'AMQP delivery');
      const m = got[0]!;
      assert.equal(m.content.toString(), 'from kafka');
      assert.equal(String(m.properties.headers?.['x-kafka-key']), 'order-1');
      assert.equal(String(m.properties.headers?.['source']), 'kafkajs');
      assert.equal(Number(m.properties.timestamp), 1700000000);
    } finally {
      await connection.close();
    }
  });

  test('AMQP publishes to the stream queue, kafkajs consumes with key and headers', async (t) => {
    const amqpPort = kb.broker.ports.amqpPort;
    if (amqpPort === undefined) return t.skip('the AMQP listener is not built');
    const connection = await amqplib.connect(`amqp://guest:guest@127.0.0.1:${amqpPort}`);
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue('from-amqp', { durable: true, arguments: { 'x-queue-type': 'stream' } });
      channel.sendToQueue('from-amqp', Buffer.from('from amqp'), {
        headers: { 'x-kafka-key': 'k-amqp', region: 'eu' },
      });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    const consumer = kafkaClient(kb.bootstrap).consumer({
      groupId: 'amqp-reader',
      sessionTimeout: 3000,
      heartbeatInterval: 200,
      maxWaitTimeInMs: 100,
    });
    const seen: EachMessagePayload['message'][] = [];
    await consumer.connect();
    await consumer.subscribe({ topic: 'from-amqp', fromBeginning: true });
    await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
    await until(() => seen.length === 1, 10_000, 'Kafka delivery');
    await consumer.disconnect();
    assert.equal(seen[0]!.value?.toString(), 'from amqp');
    assert.equal(seen[0]!.key?.toString(), 'k-amqp');
    assert.equal(seen[0]!.headers?.['region']?.toString(), 'eu');
    assert.equal(seen[0]!.headers?.['x-routing-key']?.toString(), 'from-amqp', 'the routing key as a header');
    assert.equal(seen[0]!.headers?.['x-kafka-key'], undefined, 'the key is the key, not a header');
  });
});
