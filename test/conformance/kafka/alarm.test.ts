/**
 * Produce under a resource alarm, with kafkajs: the request is held, nothing is appended, and it
 * completes once the alarm clears; an alarm outlasting the hold answers REQUEST_TIMED_OUT with nothing
 * written. Consumers' fetches go on meanwhile.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Kafka, logLevel } from 'kafkajs';
import { type KafkaTestBroker, kafkaClient, startKafkaBroker } from '../../../testing/kafka-helpers.js';

const holdMs = 600;

describe('kafka produce under a resource alarm', () => {
  let kb: KafkaTestBroker;
  before(async () => {
    kb = await startKafkaBroker({ kafka: { alarmHoldMsMax: holdMs } });
  });
  after(async () => {
    kb.broker.core.alarms.set('memory', false);
    await kb.stop();
  });

  const endOffset = (topic: string) => kb.broker.client('/').partition(topic, 0).endOffset;

  test('a produce waits for the alarm to clear, then is stored', async () => {
    const producer = kafkaClient(kb.bootstrap).producer();
    await producer.connect();
    await producer.send({ topic: 'alarm.t', messages: [{ value: 'before' }] });
    assert.equal(endOffset('alarm.t'), 1);

    kb.broker.core.alarms.set('memory', true);
    let settled = false;
    const sent = producer.send({ topic: 'alarm.t', messages: [{ value: 'during' }] });
    void sent.then(() => (settled = true));
    await new Promise((resolve) => setTimeout(resolve, 250));
    assert.equal(settled, false, 'the produce was answered during the alarm');
    assert.equal(endOffset('alarm.t'), 1, 'records were appended during the alarm');

    kb.broker.core.alarms.set('memory', false);
    const [result] = await sent;
    assert.equal(result?.errorCode, 0);
    assert.equal(endOffset('alarm.t'), 2);
    await producer.disconnect();
  });

  test('an alarm outlasting the hold answers REQUEST_TIMED_OUT and writes nothing', async () => {
    const kafka = new Kafka({
      clientId: 'alarm',
      brokers: [kb.bootstrap],
      logLevel: logLevel.NOTHING,
      retry: { retries: 0 },
      requestTimeout: 5000,
    });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({ topic: 'alarm.t2', messages: [{ value: 'before' }] });

    kb.broker.core.alarms.set('disk', true);
    const startedMs = Date.now();
    await assert.rejects(
      producer.send({ topic: 'alarm.t2', messages: [{ value: 'during' }] }),
      (err: { cause?: { type?: string } }) => err.cause?.type === 'REQUEST_TIMED_OUT',
    );
    assert.ok(Date.now() - startedMs >= holdMs - 50, 'answered before the hold ran out');
    assert.equal(endOffset('alarm.t2'), 1);
    kb.broker.core.alarms.set('disk', false);
    await producer.send({ topic: 'alarm.t2', messages: [{ value: 'after' }] });
    assert.equal(endOffset('alarm.t2'), 2);
    await producer.disconnect();
  });
});
