/** mqtt-packet as the reference reader of the bytes the broker's MQTT codec writes. */
import assert from 'node:assert/strict';
import type { Buffer } from 'node:buffer';
import mqttPacket, { type Packet } from 'mqtt-packet';

/** The one packet `bytes` hold, as mqtt-packet parses them; fails on a parse error or another count. */
export function parseOnePacket(bytes: Buffer, protocolVersion: 3 | 4 | 5): Packet {
  const parser = mqttPacket.parser({ protocolVersion });
  const packets: Packet[] = [];
  parser.on('packet', (p: Packet) => packets.push(p));
  parser.on('error', (err: Error) => assert.fail(err));
  parser.parse(bytes);
  assert.equal(packets.length, 1);
  return packets[0] as Packet;
}
