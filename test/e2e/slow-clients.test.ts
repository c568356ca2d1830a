/**
 * Slow clients at every listener's door. Sockets that connect and say nothing, or one byte at a time,
 * are closed after the handshake timeout (AMQP, MQTT over TCP and WebSocket, Kafka) or the admin
 * listener's header timeout; and while a slowloris set holds the admin listener, `/api/health` and
 * `/metrics` keep answering 200. Counts and durations are bounded; no time is asserted.
 */
import assert from 'node:assert/strict';
import { get } from 'node:http';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { Broker, type BrokerOptions } from '../../src/server/broker.js';
import { silentLogger } from '../../src/shared/logger.js';
import { until } from '../../testing/kafka-helpers.js';
import { allPortsOff, protocolPortsAuto } from '../../testing/server-helpers.js';

const dripEveryMs = 100;

interface Slow {
  readonly socket: Socket;
  closed: boolean;
}

/** A socket that sends `bytes` one at a time (nothing at all when empty) until it is closed. */
function slowClient(port: number, bytes: string): Slow {
  const socket = connect(port, '127.0.0.1');
  const slow: Slow = { socket, closed: false };
  let next = 0;
  const timer = setInterval(() => {
    if (next < bytes.length && !socket.destroyed) socket.write(bytes[next++]!);
  }, dripEveryMs);
  socket.on('error', () => {});
  socket.on('data', () => {});
  socket.on('close', () => {
    slow.closed = true;
    clearInterval(timer);
  });
  return slow;
}

function status(port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, timeout: 5000 }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('timeout', () => req.destroy(new Error(`${path} timed out`)));
    req.on('error', reject);
  });
}

/** A memory broker with `options` for the length of `run`. */
async function withBroker(options: BrokerOptions, run: (broker: Broker) => Promise<void>): Promise<void> {
  const broker = await Broker.start({
    ...allPortsOff,
    storage: 'memory',
    logger: silentLogger(),
    ...options,
  });
  try {
    await run(broker);
  } finally {
    await broker.stop();
  }
}

const httpHead = `GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}`;

test('silent and dripping clients are closed after the handshake timeout on every listener', () =>
  withBroker({ ...protocolPortsAuto, handshakeTimeoutMs: 300 }, async (broker) => {
    const p = broker.ports;
    // Byte streams that never finish a handshake: an AMQP header, a CONNECT, an HTTP upgrade, a request.
    const drips: Array<[number, string]> = [
      [p.amqpPort!, 'AMQP\0\0\x09\x01\x01\0\0\0\0\x10\0'],
      [p.mqttPort!, '\x10\x7f\0\x04MQTT\x04\x02\0\x3c'],
      [p.mqttWsPort!, 'GET /mqtt HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n'],
      [p.kafkaPort!, '\0\0\0\x40\0\x12\0\0'],
    ];
    const slow = drips.flatMap(([port, bytes]) => [slowClient(port, bytes), slowClient(port, '')]);
    try {
      await until(() => slow.every((s) => s.closed), 10_000, 'every slow client closed');
    } finally {
      for (const s of slow) s.socket.destroy();
    }
  }));

test('the admin API answers health and metrics while a slowloris set holds its sockets', () =>
  withBroker(
    {
      httpPort: 'auto',
      httpHeadersTimeoutMs: 2000,
      httpConnectionsMax: 24,
      httpConnectionsPerAddressMax: 12,
    },
    async (broker) => {
      const port = broker.ports.httpPort!;
      const slow: Slow[] = [];
      try {
        for (let round = 0; round < 8; round++) {
          // More slow sockets than the listener holds, from the same address as the monitor.
          for (let i = 0; i < 8; i++) slow.push(slowClient(port, i % 4 === 0 ? '' : httpHead));
          await new Promise((resolve) => setTimeout(resolve, 50));
          assert.equal(await status(port, '/api/health'), 200);
          assert.equal(await status(port, '/metrics'), 200);
        }
        assert.ok(
          slow.some((s) => s.closed),
          'slow sockets made room',
        );
      } finally {
        for (const s of slow) s.socket.destroy();
      }
    },
  ));

test('an admin request with a body is refused, not read', () =>
  withBroker({ httpPort: 'auto' }, async (broker) => {
    const socket = connect(broker.ports.httpPort!, '127.0.0.1');
    socket.write('GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000000000\r\n\r\n');
    let reply = '';
    socket.on('data', (chunk: Buffer) => (reply += chunk.toString('latin1')));
    const closed = new Promise((resolve) => socket.on('close', resolve));
    await until(() => reply.includes('\r\n'), 5000, 'an answer');
    assert.match(reply, /^HTTP\/1\.1 413 /);
    await closed;
  }));
