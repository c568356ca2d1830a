/**
 * Nagle's algorithm on a plain TCP transport (src/protocols/transport.ts): off before the second write
 * (writes and writevs alike), so no answer after the first ever waits for an acknowledgement; the
 * first write leaves at once with it still on, since nothing of ours is unacknowledged then. Checked on
 * a real socket by what the transport asks of it.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { tcpTransport } from '../../src/protocols/transport.js';

let server: Server;
let port: number;
const peers: Socket[] = [];

before(async () => {
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  port = (server.address() as { port: number }).port;
});

after(() => {
  for (const peer of peers) peer.destroy();
  server.close();
});

/** An accepted socket whose `setNoDelay` calls are recorded, and the client's end. */
async function accepted(): Promise<{ socket: Socket; noDelay: boolean[] }> {
  const connection = once(server, 'connection');
  peers.push(connect(port, '127.0.0.1'));
  const [socket] = (await connection) as [Socket];
  const noDelay: boolean[] = [];
  const setNoDelay = socket.setNoDelay.bind(socket);
  socket.setNoDelay = (on?: boolean) => {
    noDelay.push(on !== false);
    return setNoDelay(on);
  };
  return { socket, noDelay };
}

test('a plain socket turns Nagle off at its second write, once', async () => {
  const { socket, noDelay } = await accepted();
  const transport = tcpTransport(socket);
  transport.attach({ data: () => {}, closed: () => {} });
  transport.write(Buffer.from([0x20, 2, 0, 0]));
  assert.deepEqual(noDelay, [], 'the first write leaves with nothing to wait for');
  transport.write(Buffer.from([0x90, 3, 0, 1, 0]));
  assert.deepEqual(noDelay, [true]);
  transport.writev([Buffer.from([0xd0]), Buffer.from([0])]);
  transport.write(Buffer.from([0xd0, 0]));
  assert.deepEqual(noDelay, [true], 'set once');
  transport.destroy();
});

test('a writev counts as one write: a second one turns Nagle off', async () => {
  const { socket, noDelay } = await accepted();
  const transport = tcpTransport(socket);
  transport.attach({ data: () => {}, closed: () => {} });
  transport.writev([Buffer.from([0x20, 2]), Buffer.from([0, 0])]);
  assert.deepEqual(noDelay, []);
  transport.writev([Buffer.from([0x90, 3]), Buffer.from([0, 1, 0])]);
  assert.deepEqual(noDelay, [true]);
  transport.destroy();
});
