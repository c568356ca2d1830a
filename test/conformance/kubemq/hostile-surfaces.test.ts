/**
 * KubeMQ's REST, WebSocket and gRPC ports against hostile and careless clients (docs/conformance.md,
 * "Hostile clients of the HTTP and WebSocket surfaces"). Each test failed on the code before its fix:
 * a trickled REST head held its socket 30 s and a trickled body 300 s; WebSocket fragments never
 * finished were held outside the ingress budget; a stream whose client never read had its answers
 * grow without bound (WebSocket and gRPC); one gRPC connection could open 2^32-1 streams, each a
 * subscription; a call's metadata was kept whatever its size.
 */
import assert from 'node:assert/strict';
import { connect as http2Connect } from 'node:http2';
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import { after, before, test } from 'node:test';
import { Metadata, status } from '@grpc/grpc-js';
import { kubemqListeners } from '../../../src/protocols/kubemq/index.js';
import { clientFrame, Opcode, socketTo, trickle, upgradeOn } from '../../../testing/hostile-http.js';
import {
  call,
  type KubemqTestBroker,
  rawClient,
  rest,
  sleep,
  startKubemqBroker,
  until,
} from '../../../testing/kubemq-harness.js';

const handshakeTimeoutMs = 1000;
const requestTimeoutMs = 2000;
const streamsPerConnectionMax = 20;
const ingressBytesMax = 2 * 1024 * 1024;

let server: KubemqTestBroker;
before(async () => {
  server = await startKubemqBroker({
    handshakeTimeoutMs,
    ingressBytesMax,
    ingressUnauthenticatedBytesMax: ingressBytesMax / 2,
    listeners: kubemqListeners({ limits: { requestTimeoutMs, streamsPerConnectionMax } }),
  });
});
after(() => server.stop());

const restPort = () => Number(new URL(server.rest).port);
/** Node checks for late requests every second (rest.ts), so a close may come up to that much late. */
const checkSlackMs = 1000 + 1500;

test('REST heads and bodies sent a byte at a time get 408 and are closed in time; others are served', async () => {
  const slow = Array.from({ length: 40 }, (_, i) =>
    i % 2 === 0
      ? trickle(restPort(), 'GET /ping HTTP/1.1\r\nHost: x\r\n', 'X', 100, 15_000)
      : trickle(
          restPort(),
          'POST /queue/send HTTP/1.1\r\nHost: x\r\nContent-Length: 9999\r\n\r\n{',
          ' ',
          100,
          15_000,
        ),
  );
  await sleep(200);
  const ping = await rest(server.rest, '/ping');
  assert.equal(ping.status, 200, 'another client is answered while 40 trickle');
  const closed = await Promise.all(slow.map((s) => s.closed));
  for (const [i, { afterMs, answer }] of closed.entries()) {
    const boundMs = (i % 2 === 0 ? handshakeTimeoutMs : requestTimeoutMs) + checkSlackMs;
    assert.ok(afterMs < boundMs, `closed after ${afterMs} ms, bound ${boundMs}`);
    assert.match(answer, /^HTTP\/1\.1 408 /);
  }
});

const eventId = 'e'.repeat(1000);

/**
 * Writes `event` in bursts, never reading, until 4 MiB wait unsent on this side (the broker stopped
 * reading) or the bound: 300 bursts of 100 (about 31 MB) or 6 s. Returns the bytes still unsent
 * 0.5 s later, 0 when the broker took them all.
 */
async function sendUnread(writable: Writable, event: Buffer): Promise<number> {
  const burst = Buffer.concat(Array.from({ length: 100 }, () => event));
  const deadline = Date.now() + 6000;
  for (let i = 0; i < 300 && Date.now() < deadline && writable.writableLength < 4 * 1024 * 1024; i++) {
    writable.write(burst);
    await sleep(5);
  }
  await sleep(500);
  return writable.writableLength;
}

/** A logged-in `/send/stream` WebSocket, by hand. */
async function sendStream(): Promise<Socket> {
  const socket = await socketTo(restPort());
  socket.on('error', () => {});
  await upgradeOn(socket, '/send/stream');
  return socket;
}

test('WebSocket messages left in fragments are held against the ingress budget, which stops reading', async () => {
  const sockets: Socket[] = [];
  const part = clientFrame(Opcode.continuation, Buffer.alloc(64 * 1024, 0x20), false);
  for (let i = 0; i < 4; i++) {
    const socket = await sendStream();
    socket.write(clientFrame(Opcode.text, Buffer.from('{"Channel":"x",'), false));
    for (let j = 0; j < 16; j++) socket.write(part);
    sockets.push(socket);
  }
  const stats = () => server.broker.ingressStats();
  try {
    await until(
      () => stats().paused > 0,
      10_000,
      () => `a connection paused: ${JSON.stringify(stats())}`,
    );
    assert.ok(stats().bytes >= ingressBytesMax, JSON.stringify(stats()));
  } finally {
    for (const socket of sockets) socket.destroy();
  }
  await until(() => stats().bytes === 0, 10_000, 'the held fragments released');
});

test('a /send/stream client that never reads its results is no longer read', async () => {
  const socket = await sendStream();
  socket.pause();
  // Each result repeats its EventID: answers of 1 KB fill the broker's side in fewer events.
  const event = clientFrame(
    Opcode.text,
    Buffer.from(`{"EventID":"${eventId}","ClientID":"c","Channel":"h.x"}`),
  );
  const unsent = await sendUnread(socket, event);
  socket.destroy();
  assert.ok(unsent > 0, 'the broker stopped reading a client that does not read');
  assert.equal((await rest(server.rest, '/ping')).status, 200);
});

/** A gRPC message: the 5-byte prefix (uncompressed, length) and the protobuf bytes. */
function grpcMessage(protobuf: Buffer): Buffer {
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(protobuf.length, 1);
  return Buffer.concat([prefix, protobuf]);
}

function protoString(field: number, text: string): Buffer {
  const value = Buffer.from(text);
  const length = value.length < 128 ? [value.length] : [(value.length & 0x7f) | 0x80, value.length >> 7];
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...length]), value]);
}

const grpcHeaders = (path: string) => ({
  ':method': 'POST',
  ':path': `/kubemq.kubemq/${path}`,
  'content-type': 'application/grpc',
  te: 'trailers',
});

test('one gRPC connection may open streamsPerConnectionMax streams; its subscriptions stop there', async () => {
  const session = http2Connect(`http://${server.address}`);
  session.on('error', () => {});
  const consumers = () => server.broker.client('/').listConsumers().length;
  try {
    const settings = await new Promise<{ maxConcurrentStreams?: number }>((resolve) =>
      session.once('remoteSettings', resolve),
    );
    assert.equal(settings.maxConcurrentStreams, streamsPerConnectionMax);
    const subscribe = (i: number) =>
      grpcMessage(
        Buffer.concat([Buffer.from([0x08, 1]), protoString(2, `s${i}`), protoString(3, `streams.${i}`)]),
      );
    for (let i = 0; i < streamsPerConnectionMax + 5; i++)
      session.request(grpcHeaders('SubscribeToEvents')).end(subscribe(i));
    await until(() => consumers() >= streamsPerConnectionMax, 10_000, 'the subscriptions');
    await sleep(300);
    assert.equal(consumers(), streamsPerConnectionMax);
  } finally {
    session.destroy();
  }
  await until(() => consumers() === 0, 10_000, 'the subscriptions let go');
});

test('a gRPC call whose metadata passes metadataBytesMax is refused RESOURCE_EXHAUSTED', async () => {
  const client = rawClient(server.address);
  try {
    const big = new Metadata();
    for (let i = 0; i < 3; i++) big.set(`x-big-${i}`, 'm'.repeat(30_000));
    type Refusal = { code: number; details: string };
    const ping = client.Ping as unknown as (
      r: object,
      m: Metadata,
      done: (e: Refusal | null) => void,
    ) => void;
    const refused = await new Promise<Refusal>((resolve) =>
      ping.call(client, {}, big, (err) => resolve(err ?? { code: 0, details: '' })),
    );
    assert.equal(refused.code, status.RESOURCE_EXHAUSTED);
    assert.match(refused.details, /metadata of \d+ bytes; at most 65536/);
    assert.ok((await call(client, 'Ping', {}))['Host']);
  } finally {
    client.close();
  }
});

test('a SendEventsStream client that never reads its results is no longer read', async () => {
  const session = http2Connect(`http://${server.address}`);
  session.on('error', () => {});
  const stream = session.request(grpcHeaders('SendEventsStream'));
  stream.on('error', () => {});
  stream.pause();
  // No channel: each event is answered with its error, which the client never reads.
  const event = grpcMessage(Buffer.concat([protoString(1, eventId), protoString(2, 'c')]));
  const unsent = await sendUnread(stream, event);
  session.destroy();
  assert.ok(unsent > 0, 'the broker stopped reading a stream whose client does not read');
  const client = rawClient(server.address);
  assert.ok((await call(client, 'Ping', {}))['Host']);
  client.close();
});
