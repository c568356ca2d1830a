/**
 * The 3.1 / 3.1.1 CONNECT decoder (src/protocols/mqtt/codec/connect.ts) against mqtt-packet's parser,
 * which it stands in for: every combination of clean session, will (QoS, retain), user name and
 * password, an empty and a non-ASCII client id, on both protocol levels, decodes to the same packet.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import mqttPacket, { type IConnectPacket } from 'mqtt-packet';
import { decodeConnect311 } from '../../src/protocols/mqtt/codec/connect.js';
import { readHeader } from '../../src/protocols/mqtt/codec/framing.js';
import { checkConnect } from '../../src/protocols/mqtt/codec/wellformed.js';
import { decodeWhole } from '../../src/protocols/mqtt/parsers.js';

/**
 * The client ids and clean flags of a level: mqtt-packet writes no empty client id at level 3 (3.1
 * requires 1 to 23 characters), nor an empty one without clean session (refused anyway, §3.1.3.1).
 */
function sessions(level: 3 | 4): Array<[string, boolean]> {
  const ids = level === 3 ? ['sensor-1', 'ünï/çødé 🙂'] : ['', 'sensor-1', 'ünï/çødé 🙂'];
  return ids.flatMap(
    (id): Array<[string, boolean]> =>
      id === ''
        ? [[id, true]]
        : [
            [id, true],
            [id, false],
          ],
  );
}

const wills = [undefined, { topic: 'a/b', payload: Buffer.from('gone'), qos: 1 as const, retain: true }];
const logins: Array<{ username?: string; password?: Buffer }> = [
  {},
  { username: 'guest' },
  { username: 'guest', password: Buffer.from([0, 1, 255]) },
];

function variants(): IConnectPacket[] {
  const out: IConnectPacket[] = [];
  for (const [protocolId, protocolVersion] of [['MQIsdp', 3] as const, ['MQTT', 4] as const])
    for (const [clientId, clean] of sessions(protocolVersion))
      for (const will of wills)
        for (const login of logins)
          out.push({
            cmd: 'connect',
            protocolId,
            protocolVersion,
            clientId,
            clean,
            keepalive: 600,
            ...(will === undefined ? {} : { will }),
            ...login,
          });
  return out;
}

test('a checked 3.1 / 3.1.1 CONNECT decodes as mqtt-packet decodes it', () => {
  const all = variants();
  assert.ok(all.length > 40);
  for (const packet of all) {
    const bytes = mqttPacket.generate(packet, { protocolVersion: packet.protocolVersion });
    const header = readHeader(bytes);
    assert.ok(typeof header === 'object');
    const facts = checkConnect(bytes, header.headerBytes);
    assert.ok('frame' in facts, JSON.stringify(facts));
    const ours = decodeConnect311(facts.frame, header.headerBytes);
    const theirs = decodeWhole(facts.frame, packet.protocolVersion as 3 | 4);
    assert.deepEqual({ ...ours }, { ...theirs }, `${packet.protocolId} ${packet.clientId}`);
  }
});
