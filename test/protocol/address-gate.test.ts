/**
 * The address gate (src/protocols/address-gate.ts) on real loopback sockets: one address's sockets
 * counted up to the cap and released when they close, the next ones refused, those that may be told
 * so bounded per address, and another address untouched.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import {
  AddressGate,
  type Admission,
  refusalsWaitingPerAddressMax,
} from '../../src/protocols/address-gate.js';
import { silentLogger } from '../../src/shared/logger.js';
import { until } from '../../testing/wait.js';

let server: Server;
let port: number;
const accepted: Socket[] = [];
const clients: Socket[] = [];

before(async () => {
  server = createServer((socket) => {
    socket.on('error', () => {});
    accepted.push(socket);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const address = server.address();
  assert.ok(address !== null && typeof address === 'object');
  port = address.port;
});
after(() => {
  for (const socket of [...clients, ...accepted]) socket.destroy();
  server.close();
});

/** The broker's side of a new connection from `localAddress`. */
async function accept(localAddress: string): Promise<Socket> {
  const count = accepted.length;
  const client = connect({ host: '127.0.0.1', port, localAddress });
  client.on('error', () => {});
  clients.push(client);
  await until(() => accepted.length > count, 10_000, 'the accept');
  const socket = accepted[count];
  assert.ok(socket !== undefined);
  return socket;
}

test('an address is counted up to its cap, refused past it, and let in again once a socket closes', async () => {
  const gate = new AddressGate(2, silentLogger());
  const door = gate.forListener('amqp');
  door.listening();
  const first = await accept('127.0.0.1');
  const admissions: Admission[] = [door.admit(first, false), door.admit(await accept('127.0.0.1'), false)];
  const refused = await accept('127.0.0.1');
  admissions.push(door.admit(refused, false));
  assert.deepEqual(admissions, ['admitted', 'admitted', 'closed']);
  assert.equal(refused.destroyed, true, 'closed at accept');
  assert.equal(door.admit(await accept('127.0.0.2'), false), 'admitted', 'another address');
  assert.equal(gate.connectionsFrom('127.0.0.1'), 2);
  assert.equal(gate.connectionsFrom('::ffff:127.0.0.1'), 2, 'an IPv4-mapped address is its IPv4 address');
  assert.deepEqual([...gate.stats().refused], [['amqp', 1]]);

  first.destroy();
  await until(() => gate.connectionsFrom('127.0.0.1') === 1, 10_000, 'the slot released');
  assert.equal(door.admit(await accept('127.0.0.1'), false), 'admitted');
  assert.equal(gate.stats().connections, 3);
});

test('refused sockets that may be told so wait a few at a time per address; more are closed at accept', async () => {
  const gate = new AddressGate(1, silentLogger());
  const door = gate.forListener('mqtt');
  assert.equal(door.admit(await accept('127.0.0.3'), true), 'admitted');
  const told: Socket[] = [];
  for (let i = 0; i < refusalsWaitingPerAddressMax; i++) {
    const socket = await accept('127.0.0.3');
    assert.equal(door.admit(socket, true), 'tell');
    told.push(socket);
  }
  assert.equal(door.admit(await accept('127.0.0.3'), true), 'closed', 'past the waiting refusals');
  assert.equal(door.admit(await accept('127.0.0.3'), false), 'closed', 'a listener that cannot tell');
  told[0]?.destroy();
  await once(told[0] as Socket, 'close');
  assert.equal(door.admit(await accept('127.0.0.3'), true), 'tell', 'a told one gone makes room');
  assert.equal(gate.connectionsFrom('127.0.0.3'), 1, 'refused sockets are not counted');
  for (const socket of told) socket.destroy();
});
