/**
 * Writes gathered per event-loop turn (src/protocols/transport.ts `gatherWrites`): small writes and
 * small `writev`s leave together, large ones at once, and the peer reads every byte in order.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { gatherWrites, type Transport, tcpTransport } from '../../src/protocols/transport.js';

let server: Server;
let transport: Transport;
let peer: Socket;

before(async () => {
  server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  const accepted = once(server, 'connection');
  peer = connect(port, '127.0.0.1');
  const [socket] = (await accepted) as [Socket];
  transport = gatherWrites(tcpTransport(socket));
  transport.attach({ data: () => {}, closed: () => {} });
});

after(() => {
  transport.destroy();
  peer.destroy();
  server.close();
});

/** Reads from the peer until `bytes` have come (bounded in time). */
async function read(bytes: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let got = 0;
  const deadline = Date.now() + 5_000;
  while (got < bytes && Date.now() < deadline) {
    const chunk = peer.read() as Buffer | null;
    if (chunk === null) await Promise.race([once(peer, 'readable'), new Promise((r) => setTimeout(r, 100))]);
    else {
      chunks.push(chunk);
      got += chunk.length;
    }
  }
  return Buffer.concat(chunks);
}

test('small writes and writevs of one turn, and a large writev among them, arrive in order', async () => {
  const large = Buffer.alloc(64 * 1024, 0x6c);
  assert.equal(transport.write(Buffer.from('a')), true);
  assert.equal(transport.writev([Buffer.from('b'), Buffer.from('c')]), true);
  transport.writev([Buffer.from('d'), large]);
  transport.writev([Buffer.from('e')]);
  transport.write(Buffer.from('f'));
  const got = await read(6 + large.length);
  assert.equal(got.length, 6 + large.length);
  assert.equal(got.subarray(0, 4).toString(), 'abcd');
  assert.ok(got.subarray(4, 4 + large.length).equals(large));
  assert.equal(got.subarray(4 + large.length).toString(), 'ef');
});

test('a writev with a callback is written at once, after what was gathered before it', async () => {
  transport.write(Buffer.from('1'));
  let done = false;
  transport.writev([Buffer.from('2'), Buffer.from('3')], () => {
    done = true;
  });
  assert.equal((await read(3)).toString(), '123');
  for (let i = 0; i < 50 && !done; i++) await new Promise((r) => setImmediate(r));
  assert.ok(done);
});

test('the gathering transport reports the socket: peer port and bytes written', async () => {
  assert.equal(transport.remotePort, peer.localPort);
  const before = transport.octets?.().written ?? 0;
  transport.write(Buffer.from('xyz'));
  await read(3);
  assert.equal((transport.octets?.().written ?? 0) - before, 3);
});
