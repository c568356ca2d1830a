/**
 * Protocol timers run on the broker's Clock: with a ManualClock, AMQP heartbeats and handshake
 * deadlines, MQTT keep-alive and CONNECT deadlines, and Kafka's handshake and idle timeouts fire
 * when the test moves time, and never on their own.
 */
import assert from 'node:assert/strict';
import { connect as netConnect, type Socket } from 'node:net';
import { test } from 'node:test';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { Broker } from '../../src/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';
import { allPortsOff, until } from '../../testing/server-helpers.js';

const handshakeTimeoutMs = 10_000;
const kafkaIdleTimeoutMs = 60_000;

async function startBroker(clock: ManualClock): Promise<Broker> {
  return Broker.start({
    storage: 'memory',
    logger: silentLogger(),
    ...allPortsOff,
    amqpPort: 'auto',
    mqttPort: 'auto',
    kafkaPort: 'auto',
    handshakeTimeoutMs,
    kafkaIdleTimeoutMs,
    clock,
  });
}

/** A raw TCP client: whether it is still open, and a way to wait for the broker to close it. */
async function rawClient(port: number): Promise<{ socket: Socket; closed: () => boolean }> {
  const socket = netConnect({ host: '127.0.0.1', port });
  let closed = false;
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {});
  socket.on('data', () => {});
  await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
  return { socket, closed: () => closed };
}

/** Lets the broker's event loop handle what the client sent, without moving the clock. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

test('handshake deadlines: AMQP, MQTT and Kafka close a silent client when the clock says so', async () => {
  const clock = new ManualClock();
  const broker = await startBroker(clock);
  try {
    const clients = await Promise.all(
      [broker.ports.amqpPort!, broker.ports.mqttPort!, broker.ports.kafkaPort!].map((port) =>
        rawClient(port),
      ),
    );
    // While the clock stands still no deadline passes, however long the test takes.
    clock.advance(handshakeTimeoutMs - 1);
    await settle();
    assert.deepEqual(
      clients.map((c) => c.closed()),
      [false, false, false],
    );
    clock.advance(1);
    await until(() => clients.every((c) => c.closed()), 5000);
  } finally {
    await broker.stop();
  }
});

test('AMQP: a client silent for two heartbeat intervals is closed; one that talks is not', async () => {
  const clock = new ManualClock();
  const broker = await startBroker(clock);
  try {
    const url = `amqp://guest:guest@127.0.0.1:${broker.ports.amqpPort}?heartbeat=10`;
    const talking = await amqp.connect(url);
    const silent = await amqp.connect(url);
    let silentClosed = false;
    silent.on('error', () => {});
    silent.on('close', () => {
      silentClosed = true;
    });
    const channel = await talking.createChannel();
    // Each step is short of two intervals (20 s) since the last frame the talking client sent.
    for (let step = 0; step < 3; step++) {
      clock.advance(9_000);
      await channel.assertQueue('', { exclusive: true });
    }
    await until(() => silentClosed, 5000);
    await channel.assertQueue('', { exclusive: true });
    await talking.close();
  } finally {
    await broker.stop();
  }
});

test('MQTT keep-alive: 1.5 intervals without a packet closes; any packet renews it', async () => {
  const clock = new ManualClock();
  const broker = await startBroker(clock);
  try {
    const url = `mqtt://127.0.0.1:${broker.ports.mqttPort}`;
    const client = await mqtt.connectAsync(url, { keepalive: 10, reconnectPeriod: 0 });
    let closed = false;
    client.on('close', () => {
      closed = true;
    });
    clock.advance(14_000);
    // A packet at 14 s: the client may now be silent until 29 s.
    await client.publishAsync('timers/t', 'x', { qos: 1 });
    clock.advance(14_000);
    await client.publishAsync('timers/t', 'y', { qos: 1 });
    assert.equal(closed, false);
    clock.advance(15_000);
    await until(() => closed, 5000);
  } finally {
    await broker.stop();
  }
});

test('Kafka: an admitted connection idle for kafkaIdleTimeoutMs is closed', async () => {
  const clock = new ManualClock();
  const broker = await startBroker(clock);
  try {
    const client = await rawClient(broker.ports.kafkaPort!);
    // ApiVersions v0 (correlation id 1, client id "abc"): the first request admits the connection.
    const answered = new Promise<void>((resolve) => client.socket.once('data', () => resolve()));
    client.socket.write(Buffer.from('0000000d00120000000000010003616263', 'hex'));
    await answered;
    clock.advance(kafkaIdleTimeoutMs - 1);
    await settle();
    assert.equal(client.closed(), false);
    clock.advance(1);
    await until(() => client.closed(), 5000);
  } finally {
    await broker.stop();
  }
});
