/**
 * Bytes clients announce but do not send cost nothing; bytes they send and stall on count against the
 * one ingress budget; past it reading pauses, and clients whose requests arrive whole are still served
 * meanwhile by amqplib, mqtt.js and kafkajs. Plain sockets play the stalling clients
 * (testing/stall.ts). Every wait is bounded; no time is asserted.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import amqp from 'amqplib';
import type { Broker } from '../../src/server/broker.js';
import { startTestBroker } from '../../testing/broker.js';
import { kafkaClient, until } from '../../testing/kafka-helpers.js';
import { closeAll, connect as connectMqtt } from '../../testing/mqtt-harness.js';
import { type Stalled, type StallProtocol, stall, stallProtocols } from '../../testing/stall.js';

const kibibyte = 1024;
const unauthenticatedBytesMax = 256 * kibibyte;
const handshakeBytesMax = 16 * kibibyte;

let broker: Broker;
let ports: Record<StallProtocol, number>;
const opened: Stalled[] = [];

before(async () => {
  ({ broker } = await startTestBroker({
    listeners: ['amqp', 'mqtt', 'mqttWs', 'kafka'],
    ingressBytesMax: 1024 * kibibyte,
    ingressUnauthenticatedBytesMax: unauthenticatedBytesMax,
    handshakeBytesMax,
  }));
  const p = broker.ports;
  ports = { amqp: p.amqpPort!, mqtt: p.mqttPort!, 'mqtt-ws': p.mqttWsPort!, kafka: p.kafkaPort! };
});

after(() => broker.stop());

async function open(protocol: StallProtocol, announced: number, sent: number, loggedIn = false) {
  const stalled = await stall(protocol, ports[protocol], { announced, sent, loggedIn });
  opened.push(stalled);
  return stalled;
}

async function closeStalled(): Promise<void> {
  for (const s of opened.splice(0)) s.socket.destroy();
  await until(() => broker.ingressStats().bytes === 0 && broker.ingressStats().paused === 0, 5000);
}

/** An AMQP publish confirmed, an MQTT QoS 1 publish acknowledged, a Kafka produce answered. */
async function othersServed(amqpChannel?: amqp.ConfirmChannel): Promise<void> {
  const connection =
    amqpChannel === undefined ? await amqp.connect(`amqp://guest:guest@127.0.0.1:${ports.amqp}`) : undefined;
  const channel = amqpChannel ?? (await connection!.createConfirmChannel());
  channel.sendToQueue('ingress.served', Buffer.from('hello'));
  await channel.waitForConfirms();
  await connection?.close();
  const mqttClient = await connectMqtt(`mqtt://127.0.0.1:${ports.mqtt}`);
  await mqttClient.publishAsync('ingress/served', 'hello', { qos: 1 });
  await closeAll(mqttClient);
  const producer = kafkaClient(`127.0.0.1:${ports.kafka}`).producer();
  await producer.connect();
  await producer.send({ topic: 'ingress-served', messages: [{ value: 'hello' }] });
  await producer.disconnect();
}

test('before login, a frame above the handshake bound is refused at its header', async () => {
  const big = handshakeBytesMax + 4 * kibibyte;
  const refused = [
    await open('amqp', 4096 + 8, 7),
    await open('mqtt', big, 8),
    await open('kafka', big, 4),
    // The WebSocket frame is within maxPayload; what is read of it is not.
    await open('mqtt-ws', 2 * big, big + 8 * kibibyte),
  ];
  await until(() => refused.every((s) => s.closed()), 8000, 'every oversized handshake closed');
  await closeStalled();
});

test('what a stalled client sent is counted, what it only announced is not', async () => {
  // Frames as large as each protocol allows before login (AMQP: the spec's minimum frame).
  const largest = (protocol: StallProtocol) => (protocol === 'amqp' ? 4096 : handshakeBytesMax);
  for (const protocol of stallProtocols) await open(protocol, largest(protocol), 3000);
  for (const protocol of stallProtocols) await open(protocol, largest(protocol), 0);
  // The bytes sent, and of the frames only announced their heads (a few bytes each).
  const sent = 4 * 3000;
  await until(() => broker.ingressStats().unauthenticatedBytes > sent, 5000, 'bytes counted');
  const { bytes } = broker.ingressStats();
  assert.ok(bytes > sent && bytes < sent + 64, `${bytes} bytes held`);
  assert.ok(opened.every((s) => !s.closed()));
  await closeStalled();
});

test('past the unauthenticated share, stalled handshakes go first and newcomers are served', async () => {
  // AMQP's handshake frames are too small to matter here: MQTT, WebSocket and Kafka fill the share.
  const protocols = stallProtocols.filter((p) => p !== 'amqp');
  const each = handshakeBytesMax - kibibyte;
  const count = Math.ceil((unauthenticatedBytesMax * 1.5) / each);
  for (let i = 0; i < count; i++) await open(protocols[i % protocols.length]!, handshakeBytesMax, each);
  await until(() => broker.ingressStats().evictions > 0, 5000, 'evictions');
  assert.ok(broker.ingressStats().unauthenticatedBytes <= unauthenticatedBytesMax);
  await until(() => opened.slice(0, 3).every((s) => s.closed()), 5000, 'the oldest stalled ones closed');
  await othersServed();
  await closeStalled();
});

test('logged-in clients stalled past the budget pause reading; whole requests are still served', async () => {
  const connection = await amqp.connect(`amqp://guest:guest@127.0.0.1:${ports.amqp}`);
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue('ingress.served');
  const before = broker.ingressStats().exhaustions;
  for (let i = 0; i < 8; i++) await open('kafka', 200 * kibibyte, 150 * kibibyte, true);
  await until(() => broker.ingressStats().paused > 0, 5000, 'reading paused');
  assert.ok(broker.ingressStats().exhaustions > before);
  assert.ok(broker.ingressStats().bytes >= 1024 * kibibyte);
  await othersServed(channel);
  await closeStalled();
  assert.equal(broker.ingressStats().paused, 0, 'reading resumed');
  await connection.close();
});
