/**
 * A 3.1 or 3.1.1 CONNECT (§3.1) decoded here rather than by `mqtt-packet`: the frame was walked field
 * by field by `checkConnect` (./wellformed.ts), so it only has to be read. The packet is the one
 * mqtt-packet would give (test/mqtt-codec/connect.test.ts compares them), without its buffer list,
 * emitter and debug calls on every connect. MQTT 5 CONNECTs, with their properties, still go to it.
 */
import { Buffer } from 'node:buffer';
import type { IConnectPacket } from 'mqtt-packet';

/** Connect flags (§3.1.2.3). */
const flag = { user: 0x80, password: 0x40, willRetain: 0x20, will: 0x04, clean: 0x02 } as const;

export function decodeConnect311(frame: Buffer, headerBytes: number): IConnectPacket {
  let pos = headerBytes;
  const text = (): string => {
    const end = pos + 2 + frame.readUInt16BE(pos);
    const value = frame.toString('utf8', pos + 2, end);
    pos = end;
    return value;
  };
  // A copy: a will payload or password kept for the connection's life pins no read buffer.
  const bytes = (): Buffer => {
    const end = pos + 2 + frame.readUInt16BE(pos);
    const value = Buffer.from(frame.subarray(pos + 2, end));
    pos = end;
    return value;
  };
  const protocolId = text() as IConnectPacket['protocolId'];
  const protocolVersion = frame[pos]! as IConnectPacket['protocolVersion'];
  const flags = frame[pos + 1]!;
  const keepalive = frame.readUInt16BE(pos + 2);
  pos += 4;
  const packet = {
    cmd: 'connect',
    retain: false,
    qos: 0,
    dup: false,
    length: frame.length - headerBytes,
    topic: null,
    payload: null,
    protocolId,
    protocolVersion,
    clean: (flags & flag.clean) !== 0,
    keepalive,
    clientId: text(),
  } as IConnectPacket & { topic: null; payload: null };
  if ((flags & flag.will) !== 0) {
    const retain = (flags & flag.willRetain) !== 0;
    const qos = ((flags >> 3) & 0x03) as 0 | 1 | 2;
    packet.will = { retain, qos, topic: text(), payload: bytes() };
  }
  if ((flags & flag.user) !== 0) packet.username = text();
  if ((flags & flag.password) !== 0) packet.password = bytes();
  return packet;
}
