/**
 * Connections of different protocol versions whose packets arrive interleaved, split across TCP
 * segments, next to a connection that sends garbage: every packet is read in its own connection's
 * version and state (the broker decodes with parsers shared between connections, src/protocols/mqtt/parsers.ts).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { type MqttTestBroker, rawClient, startMqttBroker } from '../../../testing/mqtt-harness.js';

let b: MqttTestBroker;
before(async () => {
  b = await startMqttBroker();
});
after(async () => {
  await b.stop();
});

const isSuback = (id: number) => (p: Packet) => p.cmd === 'suback' && p.messageId === id;

test('v5 and v3.1.1 packets split and interleaved are each read in their own version', async () => {
  const v5 = await rawClient(b.port, 5);
  const v4 = await rawClient(b.port, 4);
  const garbage = await rawClient(b.port, 4);
  try {
    assert.equal((await v5.connect('interleaved-5')).cmd, 'connack');
    assert.equal((await v4.connect('interleaved-4')).cmd, 'connack');
    const subscribe5 = mqttPacket.generate(
      {
        cmd: 'subscribe',
        messageId: 5,
        subscriptions: [{ topic: 'interleaved/5', qos: 1, nl: true }],
        properties: { subscriptionIdentifier: 42 },
      },
      { protocolVersion: 5 },
    );
    const half = subscribe5.length >> 1;
    v5.write(subscribe5.subarray(0, half));
    await garbage.connect('interleaved-garbage');
    // A PUBLISH with QoS 3 is malformed [MQTT-3.3.1-4]: that connection is closed.
    garbage.write(Buffer.from([0x36, 0x03, 0x00, 0x01, 0x61]));
    v4.send({ cmd: 'subscribe', messageId: 4, subscriptions: [{ topic: 'interleaved/4', qos: 1 }] });
    await garbage.closed;
    v5.write(subscribe5.subarray(half));
    const suback5 = (await v5.expect(isSuback(5))) as { granted: number[] };
    const suback4 = (await v4.expect(isSuback(4))) as { granted: number[] };
    assert.deepEqual(suback5.granted, [1]);
    assert.deepEqual(suback4.granted, [1]);
    // Both still decode after the garbage: a message from one reaches the other, once.
    v4.send({
      cmd: 'publish',
      topic: 'interleaved/5',
      payload: Buffer.from('x'),
      qos: 0,
      dup: false,
      retain: false,
    });
    const delivered = (await v5.expect((p) => p.cmd === 'publish')) as { properties?: object };
    assert.deepEqual(delivered.properties, { subscriptionIdentifier: 42 });
  } finally {
    v5.end();
    v4.end();
    garbage.end();
  }
});
