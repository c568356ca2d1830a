/**
 * The refusal of a connection over its address's cap (src/protocols/mqtt/codec/refusal.ts): the
 * protocol level read from the first bytes of CONNECTs written by mqtt-packet, whatever their length
 * and however they are cut, and the CONNACK written for each level as mqtt-packet parses it.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import mqttPacket, { type IConnackPacket, type IConnectPacket } from 'mqtt-packet';
import { connectHeadBytesMax, connectLevel, quotaConnack } from '../../src/protocols/mqtt/codec/refusal.js';
import { parseOnePacket } from '../../testing/mqtt-packets.js';

function connectOf(protocolVersion: 3 | 4 | 5, payloadBytes: number): Buffer {
  const packet: IConnectPacket = {
    cmd: 'connect',
    protocolId: protocolVersion === 3 ? 'MQIsdp' : 'MQTT',
    protocolVersion,
    clean: true,
    clientId: 'refused-1',
    keepalive: 60,
    username: 'u'.repeat(payloadBytes),
  };
  return mqttPacket.generate(packet);
}

test('the level of a CONNECT, from every cut of its head: more needed until the level byte', () => {
  for (const level of [3, 4, 5] as const) {
    // Remaining lengths of 1, 2 and 3 bytes.
    for (const payloadBytes of [0, 200, 20_000]) {
      const whole = connectOf(level, payloadBytes);
      let found = -1;
      for (let cut = 0; cut <= Math.min(whole.length, connectHeadBytesMax); cut++) {
        const read = connectLevel(whole.subarray(0, cut));
        if (read === undefined) continue;
        assert.equal(read, level, `level ${level}, ${payloadBytes} B, cut at ${cut}`);
        found = found === -1 ? cut : found;
      }
      assert.ok(found > 0, `level ${level} read within ${connectHeadBytesMax} bytes`);
    }
  }
});

test('bytes that are not the head of a CONNECT are not answered', () => {
  assert.equal(connectLevel(Buffer.from([0x30, 2, 0, 0])), null, 'a PUBLISH');
  assert.equal(connectLevel(Buffer.from('AMQP\x00\x00\x09\x01', 'latin1')), null, 'another protocol');
  assert.equal(connectLevel(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80, 0])), null, 'a 5-byte length');
  assert.equal(connectLevel(Buffer.from([0x10, 20, 0, 40])), null, 'a protocol name too long');
  assert.equal(connectLevel(Buffer.from([0x10, 10, 0, 4, 0x4d, 0x51, 0x54, 0x54, 6])), null, 'level 6');
});

test('the CONNACK: 0x97 Quota exceeded at 5.0, 3 Server unavailable at 3.1.1 and 3.1', () => {
  const parse = (bytes: Buffer, protocolVersion: 3 | 4 | 5) =>
    parseOnePacket(bytes, protocolVersion) as IConnackPacket;
  const v5 = parse(quotaConnack(5), 5);
  assert.equal(v5.reasonCode, 0x97);
  assert.equal(v5.sessionPresent, false);
  for (const level of [3, 4] as const) {
    const v3 = parse(quotaConnack(level), level);
    assert.equal(v3.returnCode, 3);
    assert.equal(v3.sessionPresent, false);
  }
});
