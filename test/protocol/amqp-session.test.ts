/**
 * AMQP sessions without a socket: the broker's own connection code over an in-memory transport
 * (`Broker.accept`, testing/transport-pair.ts), time on a manual clock. Heartbeats and deadlines that
 * take tens of seconds on the wire are checked in milliseconds; the real clients' view is in
 * test/conformance/amqp and test/e2e/protocol-timers.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { encodeContent } from '../../src/protocols/amqp/codec/index.js';
import { ManualClock } from '../../src/shared/clock.js';
import { declareDurable, RawClient } from '../../testing/amqp-helpers.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { transportPair } from '../../testing/transport-pair.js';
import { until } from '../../testing/wait.js';

const clock = new ManualClock();
let broker: TestBroker;

before(async () => {
  broker = await startTestBroker({ clock });
});
after(() => broker.stop());

function connect(): RawClient {
  const [brokerEnd, clientEnd] = transportPair();
  void broker.broker.accept('amqp', brokerEnd);
  return RawClient.over(clientEnd);
}

/** Lets the in-memory transport deliver what is in flight (it delivers on the next turn). */
const turns = async (n = 3) => {
  for (let i = 0; i < n; i++) await new Promise((resolve) => setImmediate(resolve));
};

test('a channel works over an in-memory transport: declare, publish, get', async () => {
  const client = connect();
  await client.handshake();
  client.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await client.method('channel.open-ok');
  client.send(1, {
    name: 'queue.declare',
    fields: {
      ticket: 0,
      queue: 'mem',
      passive: false,
      durable: false,
      exclusive: false,
      autoDelete: false,
      noWait: false,
      arguments: {},
    },
  });
  await client.method('queue.declare-ok');
  client.publish(1, '', 'mem', 'hello', false);
  client.send(1, { name: 'basic.get', fields: { ticket: 0, queue: 'mem', noAck: true } });
  const got = await client.method('basic.get-ok');
  assert.equal(got.name, 'basic.get-ok');
  client.close();
});

test('publishes split across reads at every kind of boundary all arrive whole and in order', async () => {
  const client = connect();
  await client.handshake();
  client.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await client.method('channel.open-ok');
  const queueFields = { ticket: 0, durable: false, exclusive: false, autoDelete: false, noWait: false };
  client.send(1, {
    name: 'queue.declare',
    fields: { ...queueFields, queue: 'split', passive: false, arguments: {} },
  });
  await client.method('queue.declare-ok');
  // Bodies of 0 bytes, a few, a typical size and several frames (frame-max 4096 here), one stream.
  const sizes = [0, 1, 300, 256, 9000, 17, 4088, 4089, 300, 2];
  const bodies = sizes.map((size, i) => Buffer.alloc(size, i + 1));
  const method = {
    name: 'basic.publish' as const,
    fields: { ticket: 0, exchange: '', routingKey: 'split', mandatory: false, immediate: false },
  };
  const stream = Buffer.concat(bodies.map((body) => encodeContent(1, method, {}, body, 4096)));
  // Reads of 1 to 700 bytes from a fixed sequence, so frames, headers and bodies are cut everywhere.
  for (let at = 0, i = 0; at < stream.length; i++) {
    const size = 1 + ((i * 379) % 700);
    client.write(stream.subarray(at, at + size));
    at += size;
  }
  client.send(1, {
    name: 'queue.declare',
    fields: { ...queueFields, queue: 'split', passive: true, arguments: {} },
  });
  const declared = await client.method('queue.declare-ok');
  assert.equal(declared.name === 'queue.declare-ok' && declared.fields.messageCount, bodies.length);
  client.frames.length = 0;
  for (let i = 0; i < bodies.length; i++)
    client.send(1, { name: 'basic.get', fields: { ticket: 0, queue: 'split', noAck: true } });
  const isGetOk = (f: (typeof client.frames)[number]) =>
    f.kind === 'method' && f.method.name === 'basic.get-ok';
  // A get-ok leaves with its header and body frames in one write, so they are all here together.
  await until(() => client.frames.filter(isGetOk).length === bodies.length, 3000, 'every get answered');
  const sizesGot = client.frames.flatMap((f) => (f.kind === 'header' ? [f.bodySize] : []));
  const received = client.frames.flatMap((f) => (f.kind === 'body' ? [f.payload] : []));
  assert.deepEqual(sizesGot, sizes);
  assert.ok(Buffer.concat(received).equals(Buffer.concat(bodies)));
  client.close();
});

test('heartbeats: sent after half an interval of silence; a client silent for more than two intervals is dropped at the next check', async () => {
  const client = connect();
  await client.handshake('connection.open-ok', 10);
  const heartbeats = () => client.frames.filter((f) => f.kind === 'heartbeat').length;
  clock.advance(5000);
  await until(() => heartbeats() === 1, 5000, 'a heartbeat after 5 s of silence');
  clock.advance(14_999);
  await turns();
  assert.equal(client.closed, false, 'silent for 20 s less 1 ms: still within two intervals');
  // Checked every half interval: the first check past two silent intervals (at 25 s) drops it.
  clock.advance(5001);
  await until(() => client.closed, 5000, 'dropped after two silent intervals');
});

test('the handshake deadline drops a client that never opens a vhost', async () => {
  const client = connect();
  client.write(Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1));
  await client.method('connection.start');
  clock.advance(9_999);
  await turns();
  assert.equal(client.closed, false);
  clock.advance(1);
  await until(() => client.closed, 5000, 'dropped at the 10 s handshake timeout');
});

test("basic.get on a classic queue is answered without pausing the connection's reads; a quorum queue's acking get still waits for its count", async () => {
  const [brokerEnd, clientEnd] = transportPair();
  let pauses = 0;
  const pause = brokerEnd.pause.bind(brokerEnd);
  brokerEnd.pause = () => {
    pauses++;
    pause();
  };
  void broker.broker.accept('amqp', brokerEnd);
  const client = RawClient.over(clientEnd);
  await client.handshake();
  client.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await client.method('channel.open-ok');
  const declare = (queue: string, args: Record<string, string>) =>
    client.send(1, declareDurable(queue, args));
  declare('gets', {});
  await client.method('queue.declare-ok');
  for (let i = 0; i < 20; i++) client.publish(1, '', 'gets', `m${i}`, false);
  pauses = 0;
  for (let i = 0; i < 20; i++)
    client.send(1, { name: 'basic.get', fields: { ticket: 0, queue: 'gets', noAck: i % 2 === 0 } });
  const isGetOk = (f: (typeof client.frames)[number]) =>
    f.kind === 'method' && f.method.name === 'basic.get-ok';
  await until(() => client.frames.filter(isGetOk).length === 20, 3000, 'every get answered');
  // A pause and a resume of the socket per get (a read stopped and started) was 20 here.
  assert.equal(pauses, 0, 'a classic queue has nothing to wait for');
  declare('counted', { 'x-queue-type': 'quorum' });
  await client.method('queue.declare-ok');
  client.publish(1, '', 'counted', 'q', false);
  client.frames.length = 0;
  client.send(1, { name: 'basic.get', fields: { ticket: 0, queue: 'counted', noAck: false } });
  await until(() => client.frames.some(isGetOk), 3000, 'the quorum get answered');
  assert.ok(pauses >= 1, "a quorum queue's get waits for its delivery count to be written");
  client.close();
});
