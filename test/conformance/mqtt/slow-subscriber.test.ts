/**
 * A QoS 1 subscriber that does not read its socket: the broker stops delivering to it once
 * `writeBufferBytesMax` waits unsent, instead of writing its whole in-flight window (up to 1,000
 * messages) into a send buffer; a publisher is served meanwhile, and once the subscriber reads it gets
 * every message.
 */
import assert from 'node:assert/strict';
import type { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import mqtt from 'mqtt';
import { mqttListeners } from '../../../src/protocols/mqtt/listener.js';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';
import { socketTo } from '../../../testing/hostile-http.js';
import { until } from '../../../testing/wait.js';

const kib = 1024;
const writeBufferBytesMax = 256 * kib;
const messageBytes = 256 * kib;
/** 50 MiB if the whole window went to the socket. */
const messages = 200;

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker({
    listeners: ['mqtt'],
    definitions: mqttListeners({ limits: { writeBufferBytesMax } }),
  });
});
after(() => broker.stop());

/** CONNECT, MQTT 3.1.1, clean session, keep alive 0, client id `slow`. */
const connect = Buffer.from([
  0x10, 0x10, 0, 4, 0x4d, 0x51, 0x54, 0x54, 4, 2, 0, 0, 0, 4, 0x73, 0x6c, 0x6f, 0x77,
]);
/** SUBSCRIBE packet id 1 to `slow/t` at QoS 1. */
const subscribe = Buffer.from([0x82, 0x0b, 0, 1, 0, 6, 0x73, 0x6c, 0x6f, 0x77, 0x2f, 0x74, 1]);

function unsentTowards(clientId: string): number {
  const c = broker.broker
    .client('/')
    .listConnections()
    .find((x) => x.description.clientId() === clientId);
  return c?.description.traffic().sendPend ?? 0;
}

test('a QoS 1 subscriber that does not read holds deliveries back at the bound, and gets them all later', async () => {
  const socket: Socket = await socketTo(broker.port('mqtt'));
  socket.on('error', () => {});
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  const publisher = await mqtt.connectAsync(broker.url('mqtt'), { clientId: 'pub' });
  try {
    socket.write(connect);
    await until(() => received >= 4, 5000, 'CONNACK');
    socket.write(subscribe);
    await until(() => received >= 9, 5000, 'SUBACK');
    socket.pause();
    const start = received;
    const body = Buffer.alloc(messageBytes, 7);
    for (let i = 0; i < messages; i++) await publisher.publishAsync('slow/t', body, { qos: 1 });
    // Every publish was confirmed: the publisher is served while the subscriber holds back.
    let most = 0;
    for (const end = Date.now() + 1000; Date.now() < end; ) {
      most = Math.max(most, unsentTowards('slow'));
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    assert.ok(most > 0, 'deliveries wait on the socket');
    assert.ok(
      most <= writeBufferBytesMax + 2 * messageBytes,
      `${(most / kib).toFixed(0)} KiB unsent towards a subscriber that does not read`,
    );
    socket.resume();
    // Bounded: each PUBLISH is 256 KiB and a few bytes; no PUBACK is sent, so the window stays full
    // until the subscriber acks; what is read covers the window's deliveries.
    await until(() => received - start >= messages * messageBytes, 30_000, 'every delivery');
  } finally {
    socket.destroy();
    await publisher.endAsync();
  }
});

/** Packet types in `bytes`, in order, as far as whole packets go (3: PUBLISH, 11: UNSUBACK). */
function packetTypes(bytes: Buffer): number[] {
  const types: number[] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    let length = 0;
    let shift = 0;
    let i = at + 1;
    for (; i < bytes.length && i < at + 5; i++) {
      length += (bytes[i]! & 0x7f) << shift;
      shift += 7;
      if ((bytes[i]! & 0x80) === 0) break;
    }
    const end = i + 1 + length;
    if (i >= bytes.length || end > bytes.length) break;
    types.push(bytes[at]! >> 4);
    at = end;
  }
  return types;
}

test('a QoS 0 subscriber whose socket is congested can still unsubscribe: its packets are read at the drain, before more deliveries fill it again', async () => {
  const socket: Socket = await socketTo(broker.port('mqtt'));
  socket.on('error', () => {});
  const chunks: Buffer[] = [];
  let received = 0;
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    received += chunk.length;
  });
  const publisher = await mqtt.connectAsync(broker.url('mqtt'), { clientId: 'pub0' });
  try {
    socket.write(connect);
    await until(() => received >= 4, 5000, 'CONNACK');
    // SUBSCRIBE packet id 1 to `slow/t` at QoS 0.
    socket.write(Buffer.from([0x82, 0x0b, 0, 1, 0, 6, 0x73, 0x6c, 0x6f, 0x77, 0x2f, 0x74, 0]));
    await until(() => received >= 9, 5000, 'SUBACK');
    socket.pause();
    const body = Buffer.alloc(messageBytes, 7);
    for (let i = 0; i < messages; i++) await publisher.publishAsync('slow/t', body, { qos: 1 });
    // A PINGREQ answered while deliveries wait unsent holds reading; the UNSUBSCRIBE after it waits.
    socket.write(Buffer.from([0xc0, 0]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.write(Buffer.from([0xa2, 0x0a, 0, 2, 0, 6, 0x73, 0x6c, 0x6f, 0x77, 0x2f, 0x74]));
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.resume();
    await until(() => packetTypes(Buffer.concat(chunks)).includes(11), 30_000, 'UNSUBACK');
    const types = packetTypes(Buffer.concat(chunks));
    const published = types.slice(0, types.indexOf(11)).filter((t) => t === 3).length;
    assert.ok(published < messages, `${published} of ${messages} deliveries came before the UNSUBACK`);
  } finally {
    socket.destroy();
    await publisher.endAsync();
  }
});
