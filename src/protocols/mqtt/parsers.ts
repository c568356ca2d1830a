/**
 * `mqtt-packet` as the MQTT edge uses it: parsers shared by every connection, one per protocol version. A parser per
 * connection cost about 700 bytes (the parser, its buffer list, its emitter and two closures) and
 * kept the CONNECT packet it read as its settings, for as long as the connection lived. Every frame
 * given here is whole and already checked (./codec/framing.ts, ./codec/wellformed.ts), and a parser
 * emits the packet of a whole frame before `parse` returns, so one parser serves every connection in
 * turn; one that failed is dropped, so no partial state outlives its frame.
 */
import mqttPacket, { type Packet, type Parser } from 'mqtt-packet';
import type { ProtocolVersion } from './session.js';

// mqtt-packet writes numbers from a table of 65,536 two-byte Buffers that it builds on its first
// encode: about 7 MB of heap for the few packets it still encodes here (CONNACK, SUBACK, v5 packets);
// the hot ones (PUBLISH, acknowledgements) have encoders of their own.
mqttPacket.writeToStream.cacheNumbers = false;

const parsers: Array<Parser | undefined> = [];
let decoded: Packet | undefined;
let failure: Error | undefined;

function parserFor(version: ProtocolVersion): Parser {
  let parser = parsers[version];
  if (parser === undefined) {
    parser = mqttPacket.parser({ protocolVersion: version });
    parser.on('packet', (packet: Packet) => {
      decoded = packet;
    });
    parser.on('error', (err: Error) => {
      failure = err;
    });
    parsers[version] = parser;
  }
  return parser;
}

/** The packet of one whole, checked frame of a `version` connection, or why it does not decode. */
export function decodeWhole(frame: Buffer, version: ProtocolVersion): Packet | Error {
  const parser = parserFor(version);
  decoded = undefined;
  failure = undefined;
  const left = parser.parse(frame);
  const packet = decoded;
  const err = failure;
  decoded = undefined;
  failure = undefined;
  // Reading a CONNECT makes the packet the parser's settings: the version is put back.
  (parser as unknown as { settings: { protocolVersion: number } }).settings = { protocolVersion: version };
  if (err !== undefined || packet === undefined || left !== 0) {
    parsers[version] = undefined;
    return err ?? new Error('malformed packet');
  }
  return packet;
}
