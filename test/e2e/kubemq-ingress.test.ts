/**
 * What KubeMQ callers hold before they have logged in, under the broker's ingress budget
 * (src/protocols/kubemq/admission.ts). gRPC calls log in from their metadata before their messages
 * are read: a call waiting for its login is charged its headers and one HTTP/2 stream window, the one
 * waiting longest is refused (RESOURCE_EXHAUSTED) once the unauthenticated share is spent, a refused
 * login's data is never read, and one connection may have 16 calls waiting at once. REST requests
 * count what their connection sent until their login passed; past the share the connection holding
 * bytes longest is closed. Logins are made slow with the login throttle (after failures from
 * loopback, further attempts wait for their turn), and plain `node:http2` and `node:net` clients play
 * the callers, so nothing here depends on a client library's timing.
 */
import assert from 'node:assert/strict';
import { type ClientHttp2Session, connect as http2Connect } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { after, test } from 'node:test';
import { http2StreamWindowBytes, loginsPerConnectionMax } from '../../src/protocols/kubemq/admission.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';
import { basicAuth } from '../../testing/server-helpers.js';
import { until } from '../../testing/wait.js';

const kibibyte = 1024;
const unauthenticatedBytesMax = 256 * kibibyte;
const grpcStatus = { unauthenticated: 16, resourceExhausted: 8 } as const;

const opened: Array<{ close(): void }> = [];
after(() => {
  for (const o of opened) o.close();
});

/** A broker whose logins from loopback wait seconds for their turn once one has failed. */
async function slowLogins(extra: Record<string, unknown> = {}): Promise<TestBroker> {
  const server = await startTestBroker({
    listeners: ['grpc', 'rest'],
    ingressBytesMax: 4 * 1024 * kibibyte,
    ingressUnauthenticatedBytesMax: unauthenticatedBytesMax,
    loginFailuresBeforeDelay: 0,
    loginFailureDelayMs: 1500,
    loginFailureDelayMsMax: 30_000,
    ...extra,
  });
  opened.push({ close: () => void server.stop() });
  return server;
}

function session(port: number): ClientHttp2Session {
  const s = http2Connect(`http://127.0.0.1:${port}`);
  s.on('error', () => {});
  opened.push({ close: () => s.destroy() });
  return s;
}

/** A SendEvent call with `authorization`, its message sent and the stream left open; resolves with its grpc-status. */
function call(
  s: ClientHttp2Session,
  authorization: string,
  messageBytes = 200 * kibibyte,
): Promise<number | undefined> {
  const req = s.request({
    ':method': 'POST',
    ':path': '/kubemq.kubemq/SendEvent',
    'content-type': 'application/grpc',
    te: 'trailers',
    authorization,
  });
  const message = Buffer.alloc(5 + messageBytes, 0x61);
  message.writeUInt8(0, 0);
  message.writeUInt32BE(messageBytes, 1);
  req.write(message);
  req.on('data', () => {});
  req.on('error', () => {});
  return new Promise((resolve) => {
    req.on('response', (headers) => {
      if (headers['grpc-status'] !== undefined) resolve(Number(headers['grpc-status']));
    });
    req.on('trailers', (trailers) => resolve(Number(trailers['grpc-status'])));
    req.on('close', () => resolve(undefined));
  });
}

/** Two failed logins: the throttle's first spaced turn is taken, every later attempt waits for its own. */
async function failTwice(server: TestBroker): Promise<void> {
  for (let i = 0; i < 2; i++) {
    const refused = await call(session(server.port('grpc')), basicAuth('guest', 'wrong'), 1);
    assert.equal(refused, grpcStatus.unauthenticated);
  }
}

test('a gRPC call waiting for its login is charged its headers and a stream window; a refused one is never read', async () => {
  const server = await slowLogins();
  await failTwice(server);
  const s = session(server.port('grpc'));
  const pending = [call(s, basicAuth('guest', 'wrong')), call(s, basicAuth('guest', 'wrong'))];
  const stats = () => server.broker.ingressStats();
  await until(() => stats().unauthenticatedBytes >= 2 * http2StreamWindowBytes, 5000, 'both calls charged');
  assert.ok(
    stats().unauthenticatedBytes < 2 * (http2StreamWindowBytes + kibibyte),
    `${stats().unauthenticatedBytes}`,
  );
  assert.deepEqual(await Promise.all(pending), [grpcStatus.unauthenticated, grpcStatus.unauthenticated]);
  await until(() => stats().unauthenticatedBytes === 0, 5000, 'released once decided');
  // The 400 KB the two clients wanted to send were never taken in: the broker still serves.
  assert.equal(await call(session(server.port('grpc')), '', 1).then(() => 'answered'), 'answered');
});

test('past the unauthenticated share, the gRPC call waiting longest is refused with RESOURCE_EXHAUSTED', async () => {
  const server = await slowLogins();
  await failTwice(server);
  const count = Math.ceil((unauthenticatedBytesMax * 1.5) / http2StreamWindowBytes);
  const pending: Array<Promise<number | undefined>> = [];
  for (let i = 0; i < count; i++) {
    pending.push(call(session(server.port('grpc')), basicAuth('guest', `wrong-${i}`)));
    // One after the other, so that the first is the one that has waited longest.
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await until(() => server.broker.ingressStats().evictions > 0, 5000, 'evictions');
  assert.ok(server.broker.ingressStats().unauthenticatedBytes <= unauthenticatedBytesMax);
  assert.equal(await pending[0], grpcStatus.resourceExhausted, 'the first to wait is the first to go');
});

test(`one gRPC connection may have ${loginsPerConnectionMax} calls waiting for their login; more are refused at once`, async () => {
  const server = await slowLogins({
    ingressUnauthenticatedBytesMax: 32 * 1024 * kibibyte,
    ingressBytesMax: 64 * 1024 * kibibyte,
  });
  await failTwice(server);
  const s = session(server.port('grpc'));
  const pending = Array.from({ length: loginsPerConnectionMax }, (_, i) =>
    call(s, basicAuth('guest', `w${i}`), 1),
  );
  await until(() => server.broker.ingressStats().accounts >= loginsPerConnectionMax, 5000, 'all waiting');
  assert.equal(await call(s, basicAuth('guest', 'one-too-many'), 1), grpcStatus.resourceExhausted);
  // Another connection is not held back by this one's.
  const other = call(session(server.port('grpc')), basicAuth('guest', 'elsewhere'), 1);
  await until(
    () => server.broker.ingressStats().accounts >= loginsPerConnectionMax + 1,
    5000,
    'the other one waits too',
  );
  void other;
  void pending;
});

function rawSocket(port: number, bytes: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1', () => {
      socket.write(bytes);
      resolve(socket);
    });
    socket.on('error', reject);
    opened.push({ close: () => socket.destroy() });
  });
}

test('REST: what a request sent before its login is counted; past the share the oldest holder is closed', async () => {
  const server = await slowLogins();
  const port = server.port('rest');
  const head = (i: number) =>
    `POST /queue/send HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Pad-${i}: ${'p'.repeat(14 * kibibyte)}\r\n`;
  const first = await rawSocket(port, head(0));
  await until(() => server.broker.ingressStats().unauthenticatedBytes >= 14 * kibibyte, 5000, 'counted');
  const closed = new Promise((resolve) => first.once('close', resolve));
  const count = Math.ceil((unauthenticatedBytesMax * 1.5) / (14 * kibibyte));
  for (let i = 1; i < count; i++) await rawSocket(port, head(i));
  await until(() => server.broker.ingressStats().evictions > 0, 5000, 'evictions');
  await closed;
  assert.ok(server.broker.ingressStats().unauthenticatedBytes <= unauthenticatedBytesMax);
  // A whole request still logs in and is answered.
  const response = await fetch(`http://127.0.0.1:${port}/ping`);
  assert.equal(response.status, 200);
});

test('REST: a request that logged in no longer counts as unauthenticated, and is let go once answered', async () => {
  const server = await slowLogins();
  const port = server.port('rest');
  const body = JSON.stringify({
    ClientID: 'c',
    Channel: 'ingress.rest',
    Body: Buffer.from('x').toString('base64'),
  });
  const response = await fetch(`http://127.0.0.1:${port}/queue/send`, {
    method: 'POST',
    headers: { authorization: basicAuth(), 'content-type': 'application/json' },
    body,
  });
  assert.equal(response.status, 200);
  await response.arrayBuffer();
  await until(() => server.broker.ingressStats().bytes === 0, 5000, 'nothing held once answered');
});
