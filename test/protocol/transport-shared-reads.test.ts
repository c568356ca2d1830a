/**
 * Plain TCP connections whose reads land in one shared buffer or where their receiver says
 * (`ServeOptions.sharedReads`, the Kafka listener's): bytes arrive whole and in order, a receiver's
 * read target is filled in place, pausing holds reading back, and the server still counts the
 * connection until it closes.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import type { RunningListener } from '../../src/protocols/listener.js';
import { type Acceptor, serveTransports } from '../../src/protocols/serve.js';
import type { Transport, TransportReceiver } from '../../src/protocols/transport.js';
import { silentLogger } from '../../src/shared/logger.js';

const waitMs = 5000;

/** Takes connections and hands each to `receiver(transport)`. */
async function serve(
  receiver: (transport: Transport) => TransportReceiver,
): Promise<{ running: RunningListener; transports: Transport[] }> {
  const transports: Transport[] = [];
  const acceptor: Acceptor = {
    accept(transport) {
      transports.push(transport);
      transport.attach(receiver(transport));
    },
    async close() {
      for (const t of transports) t.destroy();
    },
  };
  const context = {
    host: '127.0.0.1',
    port: 0,
    tls: undefined,
    logger: silentLogger(),
    config: { handshakeTimeoutMs: waitMs },
  };
  return { running: await serveTransports(context, acceptor, { sharedReads: true }), transports };
}

function connected(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.once('error', reject);
  });
}

async function until(what: string, check: () => boolean): Promise<void> {
  const deadline = Date.now() + waitMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const pattern = (bytes: number): Buffer => {
  const out = Buffer.alloc(bytes);
  for (let i = 0; i < bytes; i++) out[i] = (i * 31 + 7) & 0xff;
  return out;
};

test('shared reads: 3 MB arrive whole and in order, copied by the receiver as each read comes', async () => {
  const received: Buffer[] = [];
  let total = 0;
  const { running, transports } = await serve(() => ({
    data: (chunk) => {
      received.push(Buffer.from(chunk));
      total += chunk.byteLength;
    },
    closed: () => {},
  }));
  const sent = pattern(3 * 1024 * 1024);
  const socket = await connected(running.port);
  socket.end(sent);
  await until('every byte', () => total === sent.length);
  assert.equal(transports[0]?.sharedReads, true);
  assert.ok(Buffer.concat(received).equals(sent));
  socket.destroy();
  await running.close();
});

test('shared reads: a read target is filled in place, and reading stops while paused', async () => {
  const target = Buffer.alloc(256 * 1024);
  let filled = 0;
  let inPlace = 0;
  let copied = 0;
  let pausedOnce = false;
  let transport: Transport | undefined;
  const { running } = await serve((t) => {
    transport = t;
    return {
      data: (chunk) => {
        if (chunk.buffer === target.buffer && chunk.byteOffset === target.byteOffset + filled) inPlace++;
        else target.set(chunk, filled);
        if (chunk.buffer !== target.buffer) copied++;
        filled += chunk.byteLength;
        if (filled >= 64 * 1024 && !pausedOnce) {
          pausedOnce = true;
          t.pause();
        }
      },
      closed: () => {},
      readTarget: () => (filled < target.length ? target.subarray(filled) : undefined),
    };
  });
  const sent = pattern(target.length);
  const socket = await connected(running.port);
  socket.write(sent);
  await until('the first 64 KiB', () => filled >= 64 * 1024);
  const heldAt = filled;
  await new Promise((resolve) => setTimeout(resolve, 50));
  assert.equal(filled, heldAt, 'nothing is read while paused');
  transport?.resume();
  await until('every byte', () => filled === target.length);
  assert.ok(target.equals(sent));
  assert.ok(inPlace > 0, `reads landed in the target (${inPlace} in place, ${copied} copied)`);
  socket.destroy();
  await running.close();
});

test('shared reads: the server counts the connection until it closes, then closes itself', async () => {
  let closed = 0;
  const { running, transports } = await serve(() => ({ data: () => {}, closed: () => closed++ }));
  const socket = await connected(running.port);
  socket.write('hello');
  await until('the connection', () => transports.length === 1);
  let serverClosed = false;
  const closing = running.close().then(() => (serverClosed = true));
  await closing;
  assert.equal(serverClosed, true);
  await until('the transport to close', () => closed === 1);
  socket.destroy();
});
