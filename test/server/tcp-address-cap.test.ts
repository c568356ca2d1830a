/**
 * `connectionsPerAddressMax` on the TCP listeners (AMQP, MQTT, Kafka, KubeMQ gRPC): one client address
 * holds at most that many of their sockets together, counted at TCP accept. Before the cap, one
 * address could open sockets on them until the process ran out of descriptors. The whole of 127/8 is
 * loopback on Linux, so a client bound to 127.0.0.2 is another address to the broker.
 *
 * Each test fills the cap with idle raw sockets from one address, checks that the next ones are
 * refused in the protocol's terms, that a real client from another address connects and works, and
 * that closing one of the raw sockets lets a client of the full address in again.
 */
import assert from 'node:assert/strict';
import { connect as http2Connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { after, afterEach, before, mock, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import amqp from 'amqplib';
import { Kafka, logLevel } from 'kafkajs';
import { EventsClient } from 'kubemq-js';
import mqtt from 'mqtt';
import {
  startTestBroker,
  type TestBroker,
  type TestListener,
  testWithTlsBroker,
} from '../../testing/broker.js';
import { inbox } from '../../testing/mqtt-harness.js';
import { until } from '../../testing/wait.js';

const connectionsPerAddressMax = 4;
const otherAddress = '127.0.0.2';
const waitMs = 10_000;

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker({
    listeners: ['amqp', 'mqtt', 'kafka', 'http'],
    connectionsPerAddressMax,
  });
});
after(() => broker.stop());

/** Raw sockets a test holds open; closed after it, and their slots seen free. */
const held: Socket[] = [];
afterEach(async () => {
  for (const socket of held.splice(0)) socket.destroy();
  const left = () => counted('127.0.0.1') + counted(otherAddress);
  await until(
    () => left() === 0,
    waitMs,
    () => `every slot free (${left()} held)`,
  );
});

function openRaw(listener: TestListener, localAddress: string, target = broker): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port: target.port(listener), localAddress });
    socket.once('connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Fills `localAddress`'s cap with idle raw sockets on `listener`, counted by the broker. */
async function fillCap(listener: TestListener, localAddress: string, target = broker): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < connectionsPerAddressMax; i++) {
    const socket = await openRaw(listener, localAddress, target);
    socket.on('error', () => {});
    sockets.push(socket);
    held.push(socket);
  }
  await until(() => counted(localAddress, target) === connectionsPerAddressMax, waitMs, 'the cap filled');
  return sockets;
}

/** A raw socket past the cap: it sends `bytes`, and resolves with what it got before it was closed. */
async function refusedRaw(
  listener: TestListener,
  bytes: Buffer,
  localAddress = '127.0.0.1',
): Promise<Buffer> {
  const socket = await openRaw(listener, localAddress);
  held.push(socket);
  const got: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => got.push(chunk));
  socket.on('error', () => {});
  socket.write(bytes);
  await new Promise((resolve) => socket.once('close', resolve));
  return Buffer.concat(got);
}

function refusals(listener: string): number {
  return broker.broker.addressStats().refused.get(listener) ?? 0;
}

const counted = (address: string, target = broker) => target.broker.connectionsFrom(address);

/** Closes one of the raw sockets that fill `address`'s cap and waits until the broker has let go of it. */
async function freeOne(sockets: Socket[], address = '127.0.0.1', target = broker): Promise<void> {
  sockets.shift()?.destroy();
  await until(() => counted(address, target) === connectionsPerAddressMax - 1, waitMs, 'a slot freed');
}

const amqpHeader = Buffer.from('AMQP\x00\x00\x09\x01', 'latin1');

test('AMQP: past the cap the socket is closed before the protocol header is answered; another address works', async () => {
  const sockets = await fillCap('amqp', '127.0.0.1');
  const refusedBefore = refusals('amqp');
  assert.equal((await refusedRaw('amqp', amqpHeader)).length, 0, 'no connection.start, just the close');
  await assert.rejects(amqp.connect(broker.url('amqp')), 'amqplib from the full address is refused');
  assert.ok(refusals('amqp') >= refusedBefore + 2, 'the refusals are counted for the listener');

  const other = await amqp.connect(broker.url('amqp'), {
    localAddress: otherAddress,
  } as amqp.Options.Connect);
  try {
    const channel = await other.createChannel();
    const { queue } = await channel.assertQueue('', { exclusive: true });
    channel.sendToQueue(queue, Buffer.from('from another address'));
    await until(async () => (await channel.get(queue)) !== false, waitMs, 'the message');
  } finally {
    await other.close();
  }

  await freeOne(sockets);
  const again = await amqp.connect(broker.url('amqp'));
  await again.close();
});

/** An mqtt.js client over the stream `open` makes; resolves once connected, rejects when refused. */
function mqttOver(open: () => Duplex, protocolVersion: 4 | 5): Promise<mqtt.MqttClient> {
  const client = new mqtt.MqttClient(open, { protocolVersion, reconnectPeriod: 0, connectTimeout: waitMs });
  return new Promise((resolve, reject) => {
    client.once('connect', () => resolve(client));
    client.once('error', (err) => {
      client.end(true);
      reject(err);
    });
    client.once('close', () => reject(new Error('closed before CONNACK')));
  });
}

/** An mqtt.js client over a TCP socket bound to `localAddress`. */
function mqttFrom(localAddress: string, protocolVersion: 4 | 5): Promise<mqtt.MqttClient> {
  const port = broker.port('mqtt');
  return mqttOver(() => connect({ host: '127.0.0.1', port, localAddress }), protocolVersion);
}

test('MQTT: past the cap CONNACK 0x97 Quota exceeded (5.0) or 3 Server unavailable (3.1.1); another address works', async () => {
  const sockets = await fillCap('mqtt', '127.0.0.1');
  await assert.rejects(mqttFrom('127.0.0.1', 5), (err: Error & { code?: number }) => {
    assert.equal(err.code, 0x97);
    return true;
  });
  await assert.rejects(mqttFrom('127.0.0.1', 4), (err: Error & { code?: number }) => {
    assert.equal(err.code, 3);
    return true;
  });
  // A socket that sends no CONNECT is closed without a word, after the refusal's short wait.
  assert.equal((await refusedRaw('mqtt', Buffer.alloc(0))).length, 0);

  const other = await mqttFrom(otherAddress, 5);
  try {
    const box = inbox(other);
    await other.subscribeAsync('cap/topic', { qos: 1 });
    await other.publishAsync('cap/topic', 'from another address', { qos: 1 });
    const [got] = await box.wait(1, waitMs);
    assert.equal(got?.text, 'from another address');
  } finally {
    await other.endAsync();
  }

  await freeOne(sockets);
  const again = await mqttFrom('127.0.0.1', 5);
  await again.endAsync();
});

function kafkaFrom(localAddress: string): Kafka {
  return new Kafka({
    clientId: 'cap',
    brokers: [broker.url('kafka')],
    logLevel: logLevel.NOTHING,
    retry: { retries: 0 },
    connectionTimeout: waitMs,
    socketFactory: ({ host, port, onConnect }) => {
      const socket = connect({ host, port, localAddress }, onConnect);
      socket.setKeepAlive(true, 60_000);
      return socket;
    },
  });
}

test('Kafka: past the cap the connection is closed; another address produces and reads', async () => {
  const sockets = await fillCap('kafka', '127.0.0.1');
  const refused = kafkaFrom('127.0.0.1').admin();
  await assert.rejects(refused.connect(), 'kafkajs from the full address is refused');
  await refused.disconnect();

  const admin = kafkaFrom(otherAddress).admin();
  const producer = kafkaFrom(otherAddress).producer();
  try {
    await admin.connect();
    await admin.createTopics({ topics: [{ topic: 'cap-topic', numPartitions: 1 }] });
    await producer.connect();
    await producer.send({ topic: 'cap-topic', messages: [{ value: 'from another address' }] });
    const [offsets] = await admin.fetchTopicOffsets('cap-topic');
    assert.equal(offsets?.high, '1');
  } finally {
    await producer.disconnect();
    await admin.disconnect();
  }

  await freeOne(sockets);
  const again = kafkaFrom('127.0.0.1').admin();
  await again.connect();
  await again.disconnect();
});

/** Whether an HTTP/2 connection from `localAddress` to `port` gets the server's SETTINGS. */
function http2Settles(port: number, localAddress: string): Promise<boolean> {
  return new Promise((resolve) => {
    const session = http2Connect(`http://127.0.0.1:${port}`, {
      createConnection: () => connect({ host: '127.0.0.1', port, localAddress }),
    });
    session.once('remoteSettings', () => {
      session.destroy();
      resolve(true);
    });
    session.once('error', () => {});
    session.once('close', () => resolve(false));
  });
}

// A broker of its own: grpc-js keeps the connection of a closed client that was refused, and
// opens it again once a slot is free (its shared subchannel pool); it goes with this broker.
test('KubeMQ gRPC: past the cap the HTTP/2 connection is closed; another address is served', async () => {
  const grpc = await startTestBroker({ listeners: ['grpc'], connectionsPerAddressMax });
  const port = grpc.port('grpc');
  const ping = async () => {
    const client = new EventsClient({ address: grpc.url('grpc'), clientId: 'cap', reconnectInterval: 0 });
    try {
      return await client.ping();
    } finally {
      client.close();
    }
  };
  try {
    // It cannot bind a source address: the full address is 127.0.0.2, and 127.0.0.1 the other.
    const sockets = await fillCap('grpc', otherAddress, grpc);
    assert.equal(await http2Settles(port, otherAddress), false, 'past the cap: closed before SETTINGS');
    assert.ok((await ping()).host !== undefined, 'kubemq-js from 127.0.0.1 is served');
    await freeOne(sockets, otherAddress, grpc);
    assert.equal(await http2Settles(port, otherAddress), true, 'a freed slot takes a connection again');

    // The client library from a full address: UNAVAILABLE.
    await fillCap('grpc', '127.0.0.1', grpc);
    await assert.rejects(ping(), (err: Error & { code?: number }) => {
      assert.equal(err.code, 14);
      return true;
    });
  } finally {
    for (const socket of held.splice(0)) socket.destroy();
    await grpc.stop();
  }
});

/** Stops `target`: 'stopped', or 'still stopping' if it has not after `waitMs` (the test fails, not hangs). */
async function stopOutcome(target: TestBroker): Promise<string> {
  let timer: NodeJS.Timeout | undefined;
  const outcome = await Promise.race([
    target.stop().then(() => 'stopped'),
    new Promise<string>((resolve) => {
      timer = setTimeout(resolve, waitMs, 'still stopping');
    }),
  ]);
  clearTimeout(timer);
  return outcome;
}

// The gRPC port is bound by the broker's own TCP server, whose close waits for every socket it
// accepted. grpc-js half-closes a session that has had no HTTP/2 preface and waits for the peer: a
// client that neither sent nor read anything kept `switchyard stop` waiting as long as it stayed.
test('KubeMQ gRPC: stopping the broker closes a socket that has sent and read nothing', async () => {
  const grpc = await startTestBroker({ listeners: ['grpc'], connectionsPerAddressMax });
  const socket = await openRaw('grpc', '127.0.0.1', grpc);
  socket.on('error', () => {});
  try {
    await until(() => counted('127.0.0.1', grpc) === 1, waitMs, 'the socket counted');
    assert.equal(await stopOutcome(grpc), 'stopped');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.resume();
    await closed;
  } finally {
    socket.destroy();
  }
});

// A refused MQTT socket waits up to refusalWaitMs to be told so, and the port's server waits for every
// socket it accepted: stopping the broker waited out that refusal. The refusal's timer is held here
// (mock timers while it is set, then dropped), so the broker stops only if it closes the socket itself.
test('MQTT: stopping the broker closes a refused socket still waiting to be told', async () => {
  const mqttOnly = await startTestBroker({ listeners: ['mqtt'], connectionsPerAddressMax });
  const refusedSoFar = () => mqttOnly.broker.addressStats().refused.get('mqtt') ?? 0;
  const sockets = await fillCap('mqtt', '127.0.0.1', mqttOnly);
  mock.timers.enable({ apis: ['setTimeout'] });
  let refused: Socket | undefined;
  try {
    refused = await openRaw('mqtt', '127.0.0.1', mqttOnly);
    refused.on('error', () => {});
    for (let turns = 0; refusedSoFar() === 0 && turns < 100_000; turns++) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  } finally {
    mock.timers.reset();
  }
  try {
    assert.equal(refusedSoFar(), 1, 'the socket was refused');
    assert.equal(await stopOutcome(mqttOnly), 'stopped');
  } finally {
    refused?.destroy();
    for (const socket of sockets) socket.destroy();
  }
});

test('the cap counts every TCP listener together, and /metrics shows the refusals per listener', async () => {
  await fillCap('amqp', '127.0.0.1');
  assert.equal((await refusedRaw('kafka', Buffer.alloc(0))).length, 0, 'a full address is full on Kafka too');
  const metrics = await (await fetch(`${broker.url('http')}/metrics`)).text();
  assert.match(metrics, /switchyard_address_cap_refused_connections_total\{listener="kafka"\} [1-9]/);
  assert.match(metrics, /switchyard_address_cap_refused_connections_total\{listener="amqp"\} \d+/);
  assert.match(metrics, /switchyard_address_capped_connections [4-9]/);
  assert.doesNotMatch(
    metrics,
    /refused_connections_total\{listener="http"\}/,
    'web listeners have caps of their own',
  );
});

/** Idle raw TCP sockets from 127.0.0.1 to `port`, held by the test; they send nothing, no handshake. */
async function rawTo(port: number, count: number): Promise<Socket[]> {
  const sockets: Socket[] = [];
  for (let i = 0; i < count; i++) {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    held.push(socket);
    sockets.push(socket);
    await new Promise((resolve) => socket.once('connect', resolve));
  }
  return sockets;
}

testWithTlsBroker(
  'MQTT over TLS: sockets count from TCP accept, before their handshake; another address is served',
  { mqttsPort: 'auto', connectionsPerAddressMax: 2 },
  async (secure, ca) => {
    const port = secure.port('mqtts');
    const mqttsFrom = (localAddress: string) =>
      mqttOver(
        () =>
          tlsConnect({
            socket: connect({ host: '127.0.0.1', port, localAddress }),
            ca,
            servername: 'localhost',
          }),
        5,
      );
    try {
      const sockets = await rawTo(port, 2);
      await until(() => secure.broker.connectionsFrom('127.0.0.1') === 2, waitMs, 'handshakes counted');
      await assert.rejects(mqttsFrom('127.0.0.1'), 'closed at accept, before a TLS handshake');
      const other = await mqttsFrom(otherAddress);
      await other.endAsync();
      sockets.shift()?.destroy();
      await until(() => secure.broker.connectionsFrom('127.0.0.1') === 1, waitMs, 'a slot freed');
      const again = await mqttsFrom('127.0.0.1');
      await again.endAsync();
    } finally {
      for (const socket of held.splice(0)) socket.destroy();
    }
  },
);
