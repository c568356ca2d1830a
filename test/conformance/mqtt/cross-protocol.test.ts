import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Delivery } from '../../../src/core/types.js';
import {
  closeAll,
  connect,
  inbox,
  type MqttTestBroker,
  startMqttBroker,
  until,
} from '../../../testing/mqtt-harness.js';

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker();
});
after(() => server.stop());

describe('MQTT ↔ core through amq.topic', () => {
  test('a core publish to amq.topic with key a.b reaches an MQTT subscriber of a/b, headers as user properties', async () => {
    const sub = await connect(server.url, { protocolVersion: 5 });
    try {
      await sub.subscribeAsync('xp/in/+', { qos: 1 });
      const vhost = server.broker.client('/');
      vhost.publish('amq.topic', 'xp.in.v1/2', {
        body: new TextEncoder().encode('from core'),
        properties: { persistent: true, headers: [['origin', 'amqp']], contentType: 'text/plain' },
      });
      const [m] = await inbox(sub).wait(1);
      assert.equal(m!.topic, 'xp/in/v1.2');
      assert.equal(m!.text, 'from core');
      assert.equal(m!.packet.qos, 1, 'persistent → QoS 1');
      assert.deepEqual({ ...m!.packet.properties!.userProperties }, { origin: 'amqp' });
      assert.equal(m!.packet.properties!.contentType, 'text/plain');
    } finally {
      await closeAll(sub);
    }
  });

  test('an MQTT publish reaches a core queue bound to amq.topic with the mapped key and properties', async () => {
    const vhost = server.broker.client('/');
    vhost.declareQueue('xp-out', { durable: false });
    vhost.bindQueue('xp-out', 'amq.topic', 'xp.out.#');
    const got: Delivery[] = [];
    vhost.consume('xp-out', { tag: 't', owner: 'test', noAck: true, deliver: (d) => got.push(d) });
    const pub = await connect(server.url, { protocolVersion: 5 });
    try {
      await pub.publishAsync('xp/out/a', 'to core', {
        qos: 1,
        properties: {
          userProperties: { k: 'v' },
          messageExpiryInterval: 30,
          responseTopic: 'xp/reply',
          correlationData: Buffer.from('c1'),
        },
      });
      await until(() => got.length === 1);
      const { message } = got[0]!;
      assert.equal(message.routingKey, 'xp.out.a');
      assert.equal(new TextDecoder().decode(message.body), 'to core');
      assert.equal(message.properties.persistent, true);
      assert.equal(message.properties.qos, 1);
      assert.deepEqual(message.properties.headers, [['k', 'v']], 'the user property alone: no broker marker');
      assert.equal(message.properties.expirationMs, 30_000);
      assert.equal(message.properties.replyTo, 'xp/reply');
      assert.equal(message.properties.correlationId, 'c1');
    } finally {
      await closeAll(pub);
    }
  });
});
