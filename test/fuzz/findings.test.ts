/**
 * One named regression test per fault the fuzzers (test/fuzz/<protocol>.test.ts, `npm run fuzz`) and the
 * lifecycle test (test/e2e/lifecycle.test.ts) found, each with a tiny fixed input rather than a seed,
 * so the fault stays fixed whatever the mutation engine later does. docs/conformance.md, "Fuzzing and
 * lifecycle", lists them.
 */
import assert from 'node:assert/strict';
import { connect as connectSocket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import type { Packet } from 'mqtt-packet';
import { startAmqpBroker, type TestBroker } from '../../testing/amqp-helpers.js';
import { type MqttTestBroker, rawClient, startMqttBroker } from '../../testing/mqtt-harness.js';

const hex = (text: string) => Buffer.from(text.replaceAll(' ', ''), 'hex');

function disconnectReason(packets: Packet[]): number | undefined {
  const d = packets.find((p) => p.cmd === 'disconnect');
  return d === undefined ? undefined : ((d as { reasonCode?: number }).reasonCode ?? 0);
}

describe('MQTT', () => {
  let server: MqttTestBroker;
  before(async () => {
    server = await startMqttBroker();
  });
  after(() => server.stop());

  // Found by the MQTT fuzzer (seed 7, case 4215): Maximum QoS 3 passed the byte checks, was granted,
  // and SUBACK could not be encoded ("Invalid qos vector"): the handler failed and the client got 0x80.
  test('SUBSCRIBE options with QoS 3, reserved bits or Retain Handling 3 close the connection, no SUBACK', async () => {
    const v5: Array<[string, string, number]> = [
      ['Maximum QoS 3', '82 07 0001 00 0001 61 03', 0x82],
      ['reserved bits 6-7', '82 07 0001 00 0001 61 c1', 0x81],
      ['Retain Handling 3', '82 07 0001 00 0001 61 31', 0x82],
    ];
    for (const [what, bytes, reason] of v5) {
      const raw = await rawClient(server.port, 5);
      await raw.connect(`sub-options-${reason}-${what.length}`);
      raw.write(hex(bytes));
      await raw.closed;
      assert.equal(disconnectReason(raw.packets), reason, what);
      assert.ok(!raw.packets.some((p) => p.cmd === 'suback'), what);
    }
    for (const bytes of ['82 06 0001 0001 61 03', '82 06 0001 0001 61 05']) {
      const raw = await rawClient(server.port, 4);
      await raw.connect('sub-options-311');
      raw.write(hex(bytes));
      await raw.closed;
      assert.ok(!raw.packets.some((p) => p.cmd === 'suback'), bytes);
    }
  });
});

describe('AMQP', () => {
  let broker: TestBroker;
  before(async () => {
    broker = await startAmqpBroker();
  });
  after(() => broker.stop());

  // Found by the AMQP fuzzer (seed 1, cases 1000-1999): every connection that sent credentials queued
  // a scrypt derivation on libuv's thread pool, even once it had gone. After a flood of 1,000 such
  // connections a real client's login waited behind them past the 10 s handshake timeout.
  test('a flood of connections that log in and leave does not lock out the next client', async () => {
    const startOk = (password: string) => {
      const response = Buffer.from(`\0guest\0${password}`);
      const args = Buffer.concat([
        hex('00000000'), // client properties: empty table
        Buffer.from([5]),
        Buffer.from('PLAIN'),
        Buffer.from([0, 0, 0, response.byteLength]),
        response,
        Buffer.from([5]),
        Buffer.from('en_US'),
      ]);
      const payload = Buffer.concat([hex('000a000b'), args]);
      const size = Buffer.alloc(4);
      size.writeUInt32BE(payload.byteLength);
      return Buffer.concat([hex('01 0000'), size, payload, hex('ce')]);
    };
    const flood = Array.from(
      { length: 1000 },
      (_, i) =>
        new Promise<void>((resolve) => {
          const socket = connectSocket(broker.port, '127.0.0.1', () => {
            socket.end(
              Buffer.concat([
                Buffer.from('AMQP\0\0\x09\x01', 'latin1'),
                startOk(i % 8 === 0 ? `wrong-${i}` : 'guest'),
              ]),
            );
          });
          socket.resume();
          socket.on('error', () => {});
          socket.on('close', () => resolve());
        }),
    );
    await Promise.all(flood);
    // Before the fix this login waited past the broker's handshake timeout and the socket was closed.
    const connection = await amqp.connect(broker.url);
    await connection.close();
  });
});
