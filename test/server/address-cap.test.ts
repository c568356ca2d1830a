/**
 * `webConnectionsPerAddressMax` on the KubeMQ REST/WebSocket and MQTT over WebSocket listeners: one
 * client address may hold at most that many sockets on each, a socket without a whole request gives
 * way to a newcomer, and past the cap the newcomer is answered 503 with Retry-After. Before the cap,
 * one address could open sockets until the process ran out of descriptors. The whole of 127/8 is
 * loopback on Linux, so a client bound to 127.0.0.2 is another address to the broker.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { after, afterEach, before, test } from 'node:test';
import WebSocket from 'ws';
import { startTestBroker, type TestBroker, testWithTlsBroker } from '../../testing/broker.js';
import { sleep, until } from '../../testing/wait.js';

const webConnectionsPerAddressMax = 4;
const otherAddress = '127.0.0.2';

let broker: TestBroker;
before(async () => {
  broker = await startTestBroker({ listeners: ['rest', 'mqttWs'], webConnectionsPerAddressMax });
});
after(() => broker.stop());

interface Answer {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly body: string;
}

/** GET `path` on a new socket, from `localAddress`. */
function get(port: number, path: string, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, localAddress, agent: false }, (res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk.toString();
      });
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'], body }),
      );
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

/** Every WebSocket a test opened, closed after it whatever its outcome. */
const opened: WebSocket[] = [];
afterEach(() => closeAll(opened.splice(0)));

/** A WebSocket opened from `localAddress`: it resolves open, or with the status it was refused. */
function openWs(url: string, localAddress = '127.0.0.1', protocol?: string): Promise<WebSocket | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocol === undefined ? [] : [protocol], {
      localAddress,
      handshakeTimeout: 5000,
    });
    opened.push(ws);
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      resolve(res.statusCode ?? 0);
      res.resume();
    });
    // Also after it settled: closing a refused one that is still connecting reports an error.
    ws.on('error', reject);
  });
}

async function openAll(count: number, url: string, protocol?: string): Promise<WebSocket[]> {
  const results = await Promise.all(Array.from({ length: count }, () => openWs(url, '127.0.0.1', protocol)));
  return results.map((ws) => {
    assert.ok(ws instanceof WebSocket, `upgrade refused with ${String(ws)}`);
    return ws;
  });
}

function closeAll(sockets: readonly WebSocket[]): Promise<unknown> {
  const open = sockets.filter((ws) => ws.readyState !== WebSocket.CLOSED);
  return Promise.all(open.map((ws) => new Promise((resolve) => (ws.once('close', resolve), ws.terminate()))));
}

const subscribe = (i: number) =>
  `ws://127.0.0.1:${broker.port('rest')}/subscribe/events?client_id=cap${i}&channel=cap&subscribe_type=events`;

test('KubeMQ: an address at its cap of WebSockets gets 503 with Retry-After; another address is served', async () => {
  const port = broker.port('rest');
  const held = await Promise.all(
    Array.from({ length: webConnectionsPerAddressMax }, (_, i) => openWs(subscribe(i))),
  );
  const sockets = held.filter((ws): ws is WebSocket => ws instanceof WebSocket);
  assert.equal(sockets.length, webConnectionsPerAddressMax);
  const refused = await get(port, '/ping');
  assert.equal(refused.status, 503);
  assert.equal(refused.retryAfter, '5');
  assert.match(refused.body, /"is_error":true,"message":"more than 4 connections from this address/);
  assert.equal(await openWs(subscribe(99)), 503, 'an upgrade past the cap is refused too');
  assert.equal((await get(port, '/ping', otherAddress)).status, 200, 'another address is served');
  const other = await openWs(subscribe(98), otherAddress);
  assert.ok(other instanceof WebSocket, 'another address is upgraded');
  await closeAll(sockets.slice(0, 1));
  await until(async () => (await get(port, '/ping')).status === 200, 3000);
});

test('KubeMQ: sockets that have sent no whole request give way to a new one from their address', async () => {
  const port = broker.port('rest');
  const idle: Socket[] = [];
  for (let i = 0; i < webConnectionsPerAddressMax; i++) {
    const socket = connect({ host: '127.0.0.1', port });
    socket.on('error', () => {});
    await new Promise((resolve) => socket.once('connect', resolve));
    idle.push(socket);
    await sleep(5);
  }
  try {
    assert.equal((await get(port, '/ping')).status, 200);
    await until(() => idle[0]?.destroyed === true || idle[0]?.readableEnded === true, 2000);
  } finally {
    for (const socket of idle) socket.destroy();
  }
});

test('MQTT over WebSocket: an address at its cap gets 503 with Retry-After; another address is served', async () => {
  const url = `ws://127.0.0.1:${broker.port('mqttWs')}/mqtt`;
  const sockets = await openAll(webConnectionsPerAddressMax, url, 'mqtt');
  const refused = await get(broker.port('mqttWs'), '/mqtt');
  assert.equal(refused.status, 503);
  assert.equal(refused.retryAfter, '5');
  assert.equal(await openWs(url, '127.0.0.1', 'mqtt'), 503);
  const other = await openWs(url, otherAddress, 'mqtt');
  assert.ok(other instanceof WebSocket, 'another address is upgraded');
  assert.equal(sockets.length, webConnectionsPerAddressMax);
});

/** GET /ping over HTTPS on a new socket: the status. */
function httpsPing(port: number, ca: Buffer): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path: '/ping', ca, agent: false }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.setTimeout(5000, () => req.destroy(new Error('no answer in 5 s')));
    req.on('error', reject);
    req.end();
  });
}

const restTls = { listeners: ['rest'], webConnectionsPerAddressMax: 2 } as const;

testWithTlsBroker(
  'KubeMQ over TLS: upgraded WebSockets fill the cap, and the socket past it gets 503 over TLS',
  restTls,
  async (secure, ca) => {
    const port = secure.port('rest');
    const url = (i: number) =>
      `wss://127.0.0.1:${port}/subscribe/events?client_id=tls${i}&channel=cap&subscribe_type=events`;
    const open = (i: number) =>
      new Promise<WebSocket>((resolve, reject) => {
        const ws = new WebSocket(url(i), { ca, handshakeTimeout: 5000 });
        opened.push(ws);
        ws.once('open', () => resolve(ws));
        ws.on('error', reject);
      });
    try {
      assert.equal(await httpsPing(port, ca), 200, 'a request on its own is served');
      await Promise.all([open(1), open(2)]);
      assert.equal(await httpsPing(port, ca), 503, 'past the cap of 2 upgraded WebSockets');
    } finally {
      await closeAll(opened.splice(0));
    }
  },
);

// The handshake timeout past any wait of the test: a stalled handshake is not closed by it meanwhile.
testWithTlsBroker(
  'KubeMQ REST over TLS counts sockets from TCP accept, as the admin API does: a stalled handshake gives way',
  { ...restTls, handshakeTimeoutMs: 600_000 },
  async (secure, ca) => {
    const port = secure.port('rest');
    // Two sockets that never start their handshake fill the address's two slots. Before, only TLS
    // sockets were counted (after their handshake), so these held none and nothing gave way.
    const stalled: Socket[] = [];
    let closed = 0;
    try {
      for (let i = 0; i < 2; i++) {
        const socket = connect({ host: '127.0.0.1', port });
        socket.on('error', () => {});
        socket.once('close', () => closed++);
        stalled.push(socket);
        await new Promise((resolve) => socket.once('connect', resolve));
      }
      assert.equal(await httpsPing(port, ca), 200);
      await until(() => closed === 1, 10_000, 'the stalled socket that waited longest gave way');
    } finally {
      for (const socket of stalled) socket.destroy();
    }
  },
);

testWithTlsBroker(
  'the admin API over HTTPS: a socket in the middle of a request does not give way to a newcomer',
  { httpsPort: 'auto', httpConnectionsPerAddressMax: 2 },
  async (secure, ca) => {
    const port = secure.port('https');
    const gone: string[] = [];
    const started: Array<() => void> = [];
    // A login whose body is still on its way: the request has begun, its socket is busy.
    const slowLogin = (name: string) =>
      new Promise<void>((resolve, reject) => {
        const headers = { 'content-type': 'application/json', 'content-length': '64' };
        const req = httpsRequest({
          host: '127.0.0.1',
          port,
          path: '/api/login',
          method: 'POST',
          headers,
          ca,
          agent: false,
        });
        req.on('error', () => gone.push(name));
        req.on('close', () => gone.push(name));
        req.on('socket', (socket) => socket.once('secureConnect', () => resolve()));
        req.write('{"user":');
        req.setTimeout(5000, () => reject(new Error('no handshake in 5 s')));
        started.push(() => req.destroy());
      });
    try {
      await slowLogin('first');
      await slowLogin('second');
      await sleep(200);
      // Before, the TCP sockets were counted and the TLS ones marked busy: none ever counted as busy,
      // so this newcomer closed the first login in the middle of its request.
      await new Promise<void>((resolve) => {
        const req = httpsRequest({ host: '127.0.0.1', port, path: '/api/overview', ca, agent: false });
        req.on('response', (res) => res.resume().once('end', resolve));
        req.on('error', () => resolve());
        req.setTimeout(5000, () => req.destroy());
        req.end();
      });
      await sleep(200);
      assert.deepEqual(gone, [], 'both logins in progress kept their sockets');
    } finally {
      for (const stop of started) stop();
    }
  },
);
