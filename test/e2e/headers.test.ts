/**
 * Application headers across protocols (docs/cross-protocol.md, "Headers"): MQTT User Properties,
 * AMQP headers and Kafka record headers are data. Whatever their names, they never steer the broker
 * (topic, QoS, retain, no-local, delay), and they come out unchanged, in order with repeated names,
 * wherever the consuming protocol can carry that: MQTT and Kafka exactly, AMQP as a field table
 * (a repeated name becomes one field holding the array of its values).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { KafkaMessage } from 'kafkajs';
import { entryMessages } from '../../src/core/logs/formats.js';
import type { Broker } from '../../src/index.js';
import { startTestBroker } from '../../testing/broker.js';
import { hasPythonModule, kafkaClient, until } from '../../testing/kafka-helpers.js';
import { runTool } from '../../testing/kafka-tools.js';
import { closeAll, connect, inbox } from '../../testing/mqtt-harness.js';

const paho = hasPythonModule('paho.mqtt.client');
const confluent = hasPythonModule('confluent_kafka');
const noPaho = paho ? false : 'python3-paho-mqtt is not installed (apt-get install python3-paho-mqtt)';
const noPahoOrConfluent =
  paho && confluent
    ? false
    : 'python3-paho-mqtt and python3-confluent-kafka are needed (apt-get install python3-paho-mqtt python3-confluent-kafka)';

/** User Properties out of order, with a repeated name, and named like the broker's former internal headers. */
const userProperties: Array<[string, string]> = [
  ['a', '1'],
  ['b', 'two'],
  ['a', '3'],
  ['x-mqtt-topic', 'somewhere/else'],
  ['x-mqtt-subscription', 'nothing'],
  ['x-mqtt-qos', '0'],
  ['x-mqtt-retain', 'true'],
  ['x-mqtt-publisher', 'someone-else'],
  ['x-delay', '60000'],
];

/**
 * Paho (python) publishes `userProperties` at QoS 1 and, with `sub`, also subscribes and prints what
 * it receives as JSON: topic, QoS and the User Properties as a list of pairs.
 */
const pahoScript = `
import sys, json, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, topic, subscribe = int(sys.argv[1]), sys.argv[2], sys.argv[3] == 'sub'
pairs = json.loads(sys.argv[4])
got = []
def on_message(client, userdata, m):
    got.append({'topic': m.topic, 'qos': m.qos, 'user': [list(p) for p in getattr(m.properties, 'UserProperty', [])]})
sub = mqtt.Client(client_id='py-sub', protocol=mqtt.MQTTv5)
if subscribe:
    sub.on_message = on_message
    sub.connect('127.0.0.1', port)
    sub.loop_start()
    sub.subscribe(topic.split('/')[0] + '/#', qos=1)
    time.sleep(0.5)
pub = mqtt.Client(client_id='py-pub', protocol=mqtt.MQTTv5)
pub.connect('127.0.0.1', port)
pub.loop_start()
props = Properties(PacketTypes.PUBLISH)
props.UserProperty = [tuple(p) for p in pairs]
pub.publish(topic, b'ordered', qos=1, properties=props).wait_for_publish(5)
for _ in range(50):
    if not subscribe or got:
        break
    time.sleep(0.1)
print(json.dumps(got))
`;

/**
 * Paho publishes a retained message with the User Properties, then subscribes; another Paho client with
 * a will carrying them drops its socket. Prints what the subscriber got (retained copy and will).
 */
const keptScript = `
import sys, json, time
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, pairs = int(sys.argv[1]), [tuple(p) for p in json.loads(sys.argv[2])]
got = []
def on_message(client, userdata, m):
    got.append({'topic': m.topic, 'retain': m.retain, 'user': [list(p) for p in getattr(m.properties, 'UserProperty', [])]})
retainer = mqtt.Client(client_id='py-retainer', protocol=mqtt.MQTTv5)
retainer.connect('127.0.0.1', port)
retainer.loop_start()
props = Properties(PacketTypes.PUBLISH)
props.UserProperty = pairs
retainer.publish('kept/retained', b'r', qos=1, retain=True, properties=props).wait_for_publish(5)
retainer.loop_stop()
watcher = mqtt.Client(client_id='py-watcher', protocol=mqtt.MQTTv5)
watcher.on_message = on_message
watcher.connect('127.0.0.1', port)
watcher.loop_start()
watcher.subscribe('kept/#', qos=1)
will = Properties(PacketTypes.WILLMESSAGE)
will.UserProperty = pairs
leaver = mqtt.Client(client_id='py-leaver', protocol=mqtt.MQTTv5)
leaver.will_set('kept/will', b'w', qos=1, properties=will)
leaver.connect('127.0.0.1', port)
leaver.loop(2)
time.sleep(0.3)
leaver.socket().close()
for _ in range(50):
    if len(got) >= 2:
        break
    time.sleep(0.1)
print(json.dumps(sorted(got, key=lambda g: g['topic'])))
`;

/** confluent-kafka (librdkafka) reads `topic` from the start and prints each record's headers in order. */
const kafkaScript = `
import sys, json
from confluent_kafka import Consumer
c = Consumer({'bootstrap.servers': sys.argv[1], 'group.id': 'hdr-py', 'auto.offset.reset': 'earliest'})
c.subscribe([sys.argv[2]])
for _ in range(100):
    m = c.poll(0.2)
    if m is not None and not m.error():
        print(json.dumps([[k, v.decode() if v is not None else None] for k, v in (m.headers() or [])]))
        break
c.close()
`;

describe('application headers across protocols', () => {
  let broker: Broker;
  let amqpUrl: string;
  let mqttUrl: string;
  let mqttPort: number;
  let bootstrap: string;

  before(async () => {
    ({ broker } = await startTestBroker({ listeners: ['amqp', 'mqtt', 'kafka'] }));
    amqpUrl = `amqp://guest:guest@127.0.0.1:${broker.ports.amqpPort}`;
    mqttPort = broker.ports.mqttPort!;
    mqttUrl = `mqtt://127.0.0.1:${mqttPort}`;
    bootstrap = `127.0.0.1:${broker.ports.kafkaPort}`;
  });
  after(() => broker.stop());

  test('MQTT → MQTT: user properties named like broker metadata are data; the message arrives whole', async () => {
    const sub = await connect(mqttUrl, { protocolVersion: 5, clientId: 'hdr-sub' });
    const pub = await connect(mqttUrl, { protocolVersion: 5, clientId: 'hdr-pub' });
    try {
      await sub.subscribeAsync('steer/#', { qos: 2, nl: true });
      const sent = Object.fromEntries(userProperties.slice(3));
      await pub.publishAsync('steer/here', 'payload', { qos: 2, properties: { userProperties: sent } });
      const [m] = await inbox(sub).wait(1);
      assert.equal(m!.topic, 'steer/here', 'not the topic a user property names');
      assert.equal(m!.packet.qos, 2, 'not the QoS a user property names');
      assert.equal(m!.packet.retain, false);
      assert.deepEqual({ ...m!.packet.properties?.userProperties }, sent);
    } finally {
      await closeAll(sub, pub);
    }
  });

  test('MQTT → MQTT: order and repeated names kept exactly [MQTT-3.3.2-18] (Paho)', {
    skip: noPaho,
  }, async () => {
    const run = await runTool('/usr/bin/python3', [
      '-c',
      pahoScript,
      String(mqttPort),
      'ordered/in',
      'sub',
      JSON.stringify(userProperties),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), [{ topic: 'ordered/in', qos: 1, user: userProperties }]);
  });

  test('a retained message and a will keep their User Properties in order [MQTT-3.1.3-10] (Paho)', {
    skip: noPaho,
  }, async () => {
    const run = await runTool('/usr/bin/python3', [
      '-c',
      keptScript,
      String(mqttPort),
      JSON.stringify(userProperties),
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), [
      { topic: 'kept/retained', retain: 1, user: userProperties },
      { topic: 'kept/will', retain: 0, user: userProperties },
    ]);
  });

  test('MQTT → Kafka through a stream bound to amq.topic: record headers in the same order', {
    skip: noPahoOrConfluent,
  }, async () => {
    const vhost = broker.client();
    vhost.declareQueue('hdr-stream', { durable: true, kind: 'stream' });
    vhost.bindQueue('hdr-stream', 'amq.topic', 'tokafka.#');
    await until(() => broker.client().stream('hdr-stream') !== undefined);
    const publish = await runTool('/usr/bin/python3', [
      '-c',
      pahoScript,
      String(mqttPort),
      'tokafka/in',
      'pub',
      JSON.stringify(userProperties),
    ]);
    assert.equal(publish.code, 0, publish.stderr);
    const read = await runTool('/usr/bin/python3', ['-c', kafkaScript, bootstrap, 'hdr-stream'], '', 40_000);
    assert.equal(read.code, 0, read.stderr);
    // The broker adds the routing key last (Kafka records have no other place for it).
    assert.deepEqual(JSON.parse(read.stdout), [...userProperties, ['x-routing-key', 'tokafka.in']]);
  });

  test('MQTT → AMQP: a field table, a repeated name as one field holding its values in order', async () => {
    const connection = await amqp.connect(amqpUrl);
    const pub = await connect(mqttUrl, { protocolVersion: 5 });
    try {
      const channel = await connection.createChannel();
      const { queue } = await channel.assertQueue('', { exclusive: true });
      await channel.bindQueue(queue, 'amq.topic', 'toamqp.#');
      await pub.publishAsync('toamqp/in', 'x', {
        qos: 1,
        properties: { userProperties: { a: ['1', '3'], b: 'two' } },
      });
      let got: amqp.GetMessage | false = false;
      await until(async () => {
        got = await channel.get(queue, { noAck: true });
        return got !== false;
      });
      const headers = (got as unknown as amqp.GetMessage).properties.headers;
      assert.deepEqual(headers, { a: ['1', '3'], b: 'two' }, 'no broker marker among them');
    } finally {
      await closeAll(pub);
      await connection.close();
    }
  });

  test('AMQP → MQTT: headers named x-mqtt-qos / x-mqtt-topic are user properties; QoS follows delivery mode', async () => {
    const sub = await connect(mqttUrl, { protocolVersion: 5 });
    const connection = await amqp.connect(amqpUrl);
    try {
      await sub.subscribeAsync('fromamqp/+', { qos: 2 });
      const channel = await connection.createConfirmChannel();
      const headers = { 'x-mqtt-qos': 0, 'x-mqtt-topic': 'elsewhere', 'x-mqtt-subscription': 'fromamqp/+' };
      channel.publish('amq.topic', 'fromamqp.here', Buffer.from('amqp'), { persistent: true, headers });
      await channel.waitForConfirms();
      const [m] = await inbox(sub).wait(1);
      assert.equal(m!.topic, 'fromamqp/here');
      assert.equal(m!.packet.qos, 1, 'persistent → QoS 1, not the QoS a header names');
      assert.deepEqual(
        { ...m!.packet.properties?.userProperties },
        {
          'x-mqtt-qos': '0',
          'x-mqtt-topic': 'elsewhere',
          'x-mqtt-subscription': 'fromamqp/+',
        },
      );
    } finally {
      await closeAll(sub);
      await connection.close();
    }
  });

  test('x-delay delays an AMQP publish (RabbitMQ) but is only data in an MQTT user property', async () => {
    const connection = await amqp.connect(amqpUrl);
    const sub = await connect(mqttUrl, { protocolVersion: 5 });
    const pub = await connect(mqttUrl, { protocolVersion: 5 });
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue('delayed', { durable: false });
      channel.sendToQueue('delayed', Buffer.from('later'), { headers: { 'x-delay': 60_000 } });
      await channel.waitForConfirms();
      assert.equal((await channel.checkQueue('delayed')).messageCount, 0, 'held back');
      await sub.subscribeAsync('nodelay/+', { qos: 1 });
      await pub.publishAsync('nodelay/x', 'now', {
        qos: 1,
        properties: { userProperties: { 'x-delay': '60000' } },
      });
      const [m] = await inbox(sub).wait(1);
      assert.equal(m!.text, 'now');
    } finally {
      await closeAll(sub, pub);
      await connection.close();
    }
  });

  test('Kafka → core: record headers keep their order and repeats; a header named x-kafka-key is not the key', async () => {
    const producer = kafkaClient(bootstrap, 'hdr').producer();
    await producer.connect();
    try {
      await producer.send({
        topic: 'hdr-kafka',
        messages: [
          { key: 'the-key', value: 'v', headers: { b: 'two', a: ['1', '3'], 'x-kafka-key': 'not-the-key' } },
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const entries = broker.client().partition('hdr-kafka', 0).read(0);
    const message = entries.flatMap((e) => entryMessages(e) ?? [])[0]?.message;
    assert.deepEqual(message!.properties.headers, [
      ['b', 'two'],
      ['a', '1'],
      ['a', '3'],
      ['x-kafka-key', 'not-the-key'],
    ]);
    assert.equal(Buffer.from(message!.properties.key!).toString(), 'the-key');
  });

  test('AMQP → Kafka: a publisher header named x-routing-key is kept, and the broker’s comes last', async () => {
    const vhost = broker.client();
    vhost.declareQueue('hdr-routed', { durable: true, kind: 'stream' });
    vhost.bindQueue('hdr-routed', 'amq.topic', 'real.#');
    await until(() => vhost.stream('hdr-routed') !== undefined);
    const connection = await amqp.connect(amqpUrl);
    try {
      const channel = await connection.createConfirmChannel();
      channel.publish('amq.topic', 'real.key', Buffer.from('r'), { headers: { 'x-routing-key': 'spoofed' } });
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
    const consumer = kafkaClient(bootstrap, 'hdr').consumer({ groupId: 'hdr-routed', maxWaitTimeInMs: 100 });
    const seen: KafkaMessage[] = [];
    try {
      await consumer.connect();
      await consumer.subscribe({ topic: 'hdr-routed', fromBeginning: true });
      await consumer.run({ eachMessage: async ({ message }) => void seen.push(message) });
      await until(() => seen.length === 1, 10_000, 'the record');
    } finally {
      await consumer.disconnect();
    }
    const values = seen[0]!.headers?.['x-routing-key'] as Buffer[];
    assert.deepEqual(
      values.map((v) => v.toString()),
      ['spoofed', 'real.key'],
    );
  });
});
