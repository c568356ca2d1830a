/**
 * AUTH (MQTT 5.0 §3.15) byte for byte: what mqtt-packet's encoder makes (the broker sends its AUTH
 * packets through it) against the layout of §3.15, and the byte-level check of AUTH from a client.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { describe, test } from 'node:test';
import mqttPacket, { type IAuthPacket, type Packet } from 'mqtt-packet';
import { checkPacket } from '../../src/protocols/mqtt/codec/wellformed.js';

const encode = (packet: IAuthPacket) => mqttPacket.generate(packet, { protocolVersion: 5 });
const hex = (text: string) => Buffer.from(text.replaceAll(' ', ''), 'hex');
const utf8 = (text: string) => Buffer.from(text).toString('hex');

/** The reason code the byte-level check answers with, undefined when it passes. */
function reasonOf(bytes: Buffer, version: 4 | 5): number | undefined {
  const checked = checkPacket(bytes, 2, version);
  return checked !== undefined && 'reason' in checked ? checked.reason : undefined;
}

function decode(bytes: Buffer): Packet {
  const parser = mqttPacket.parser({ protocolVersion: 5 });
  const packets: Packet[] = [];
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.parse(bytes);
  assert.equal(packets.length, 1);
  return packets[0]!;
}

describe('AUTH (§3.15)', () => {
  test('Continue authentication with method and data is laid out as §3.15 says', () => {
    const method = 'SCRAM-SHA-256';
    const packet: IAuthPacket = {
      cmd: 'auth',
      reasonCode: 0x18,
      properties: { authenticationMethod: method, authenticationData: Buffer.from('r=abc') },
    };
    // F0, Remaining Length, Reason Code 0x18, Property Length, 0x15 method, 0x16 data.
    const properties = `15 000d ${utf8(method)} 16 0005 ${utf8('r=abc')}`;
    const propertyBytes = hex(properties).length;
    const expected = Buffer.concat([
      hex(`f0 ${(2 + propertyBytes).toString(16)} 18 ${propertyBytes.toString(16)}`),
      hex(properties),
    ]);
    const bytes = encode(packet);
    assert.deepEqual(bytes, expected);
    assert.equal(checkPacket(bytes, 2, 5), undefined);
    const { cmd, reasonCode, properties: read } = decode(bytes) as IAuthPacket;
    assert.deepEqual({ cmd, reasonCode, properties: read }, packet);
  });

  test('every reason code AUTH may carry passes, with a method; any other is a Protocol Error [MQTT-3.15.2-1]', () => {
    for (const reasonCode of [0x00, 0x18, 0x19]) {
      const bytes = encode({
        cmd: 'auth',
        reasonCode,
        properties: { authenticationMethod: 'SCRAM-SHA-512' },
      });
      assert.equal(checkPacket(bytes, 2, 5), undefined, `0x${reasonCode.toString(16)}`);
    }
    // §3.15.2.1 lets the Reason Code and properties be left out, but a client's AUTH names its method.
    assert.equal(reasonOf(hex('f0 00'), 5), 0x82, '[MQTT-4.12.0-5]');
    assert.equal(reasonOf(hex('f0 01 18'), 5), 0x82, '[MQTT-4.12.0-5]');
    assert.equal(reasonOf(hex('f0 02 18 00'), 5), 0x82, '[MQTT-4.12.0-5]');
    assert.equal(reasonOf(hex('f0 02 87 00'), 5), 0x82);
  });

  test('flags, properties of other packets and bytes past the properties are refused', () => {
    assert.equal(reasonOf(hex('f1 00'), 5), 0x81, '[MQTT-3.15.1-1]');
    assert.equal(reasonOf(hex('f0 04 18 02 01 01'), 5), 0x81, 'Payload Format Indicator on AUTH');
    assert.equal(reasonOf(hex('f0 03 18 00 00'), 5), 0x81, 'a byte after the properties');
    assert.equal(reasonOf(hex('f0 00'), 4), 0x81, 'AUTH in 3.1.1');
  });
});
