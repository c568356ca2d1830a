import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { Broker } from '../../src/index.js';
import { startTestBroker } from '../../testing/broker.js';
import { closeAll, connect, inbox, until } from '../../testing/mqtt-harness.js';

/** The messages an AMQP consumer got on one queue. */
function collect(channel: amqp.Channel, queue: string): Promise<amqp.ConsumeMessage[]> {
  const got: amqp.ConsumeMessage[] = [];
  return channel
    .consume(
      queue,
      (msg) => {
        if (msg !== null) got.push(msg);
      },
      { noAck: true },
    )
    .then(() => got);
}

describe('MQTT ↔ AMQP through amq.topic', () => {
  let broker: Broker;
  let amqpUrl: string;
  let mqttUrl: string;

  before(async () => {
    ({ broker } = await startTestBroker({ listeners: ['amqp', 'mqtt'] }));
    amqpUrl = `amqp://guest:guest@127.0.0.1:${broker.ports.amqpPort}`;
    mqttUrl = `mqtt://127.0.0.1:${broker.ports.mqttPort}`;
  });
  after(() => broker.stop());

  test('an MQTT 5 publish reaches AMQP queues bound with a.b.c, a.*.c and a.#, user properties as headers', async () => {
    const connection = await amqp.connect(amqpUrl);
    const channel = await connection.createChannel();
    const inboxes: amqp.ConsumeMessage[][] = [];
    for (const key of ['a.b.c', 'a.*.c', 'a.#']) {
      const { queue } = await channel.assertQueue('', { exclusive: true });
      await channel.bindQueue(queue, 'amq.topic', key);
      inboxes.push(await collect(channel, queue));
    }
    const publisher = await connect(mqttUrl, { protocolVersion: 5 });
    try {
      const userProperties = { origin: 'sensor-7', unit: 'celsius' };
      await publisher.publishAsync('a/b/c', 'twenty-one', { qos: 1, properties: { userProperties } });
      await publisher.publishAsync('a/b/c', 'at most once', { qos: 0 });
      await until(() => inboxes.every((got) => got.length === 2), 3000, 'two messages on every queue');
      for (const [first, second] of inboxes) {
        assert.equal(first!.content.toString(), 'twenty-one');
        assert.equal(first!.fields.routingKey, 'a.b.c');
        assert.equal(first!.properties.headers?.['origin'], 'sensor-7');
        assert.equal(first!.properties.headers?.['unit'], 'celsius');
        assert.equal(first!.properties.deliveryMode, 2, 'QoS 1 is persistent');
        assert.equal(second!.content.toString(), 'at most once');
        assert.notEqual(second!.properties.deliveryMode, 2, 'QoS 0 is transient');
      }
    } finally {
      await closeAll(publisher);
      await connection.close();
    }
  });

  test('an AMQP publish to amq.topic x.y reaches an MQTT 5 subscriber of x/+ with headers as user properties', async () => {
    const subscriber = await connect(mqttUrl, { protocolVersion: 5 });
    const connection = await amqp.connect(amqpUrl);
    try {
      await subscriber.subscribeAsync('x/+', { qos: 1 });
      const channel = await connection.createConfirmChannel();
      channel.publish('amq.topic', 'x.y', Buffer.from('from amqp'), {
        persistent: true,
        headers: { team: 'blue', attempt: '3' },
      });
      await channel.waitForConfirms();
      const [received] = await inbox(subscriber).wait(1);
      assert.equal(received!.topic, 'x/y');
      assert.equal(received!.text, 'from amqp');
      assert.equal(received!.packet.qos, 1, 'persistent arrives as QoS 1');
      assert.deepEqual({ ...received!.packet.properties?.userProperties }, { team: 'blue', attempt: '3' });
    } finally {
      await closeAll(subscriber);
      await connection.close();
    }
  });
});
