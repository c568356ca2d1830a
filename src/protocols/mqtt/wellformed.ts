/**
 * Byte-level checks of one whole packet from a client, before the codec sees it. `mqtt-packet` is
 * lenient where the specifications say "MUST close": reserved flags, Remaining Length of the
 * acknowledgements, packet id 0, DUP on QoS 0, ill-formed UTF-8, trailing bytes in CONNECT. Every
 * finding closes the connection; v5 clients get DISCONNECT 0x81 (malformed) or 0x82 (protocol error).
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { Reason, ReturnCode311 } from './limits.js';

export interface Violation {
  readonly reason: number;
  readonly message: string;
  /** CONNECT only: answer with this 3.1.1 CONNACK return code before closing (§3.1.2.2). */
  readonly connackReturnCode?: number;
}

export interface ConnectFacts {
  readonly version: 3 | 4 | 5;
  /** MQTT 3.1 (`MQIsdp`) tolerates flags 3.1.1 reserves; the frame to parse has them cleared. */
  readonly frame: Buffer;
}

const PacketType = {
  connect: 1,
  publish: 3,
  puback: 4,
  pubrec: 5,
  pubrel: 6,
  pubcomp: 7,
  subscribe: 8,
  unsubscribe: 10,
  pingreq: 12,
  disconnect: 14,
  auth: 15,
} as const;

const malformed = (message: string): Violation => ({ reason: Reason.malformed, message });
const protocolError = (message: string): Violation => ({ reason: Reason.protocolError, message });

/**
 * Why a UTF-8 string field is refused, or undefined. Ill-formed UTF-8 and U+0000 are refused by
 * both versions (3.1.1 §1.5.3, [MQTT-1.5.3-1], [MQTT-1.5.3-2]); control characters and
 * non-characters are ones the specifications allow a receiver to refuse (5.0 §1.5.4), and names
 * with them are refused here.
 */
function textProblem(bytes: Buffer): string | undefined {
  if (!isUtf8(bytes)) return 'ill-formed UTF-8';
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly what is refused
  if (/[\u0000-\u001f\u007f-\u009f\ufdd0-\ufdef\ufffe\uffff]/.test(bytes.toString('utf8')))
    return 'control character or non-character in a UTF-8 string';
  return undefined;
}

/** A cursor over a packet's body; every read reports running past the end as undefined. */
class Reader {
  pos = 0;
  readonly body: Buffer;
  constructor(body: Buffer) {
    this.body = body;
  }
  get left(): number {
    return this.body.length - this.pos;
  }
  u8(): number | undefined {
    return this.left >= 1 ? this.body[this.pos++] : undefined;
  }
  u16(): number | undefined {
    if (this.left < 2) return undefined;
    const value = this.body.readUInt16BE(this.pos);
    this.pos += 2;
    return value;
  }
  bytes(): Buffer | undefined {
    const length = this.u16();
    if (length === undefined || this.left < length) return undefined;
    this.pos += length;
    return this.body.subarray(this.pos - length, this.pos);
  }
  /** A Variable Byte Integer (§1.5.5), or undefined when cut short or longer than 4 bytes. */
  varint(): number | undefined {
    let value = 0;
    for (let i = 0, multiplier = 1; i < 4; i++, multiplier *= 128) {
      const byte = this.u8();
      if (byte === undefined) return undefined;
      value += (byte & 0x7f) * multiplier;
      if ((byte & 0x80) === 0) return value;
    }
    return undefined;
  }

  /**
   * Skips a v5 property block (§2.2.2); false when it does not fit, or when a property inside does not
   * fit the block or is unknown. `mqtt-packet` reads a property's own lengths past the block's end, and
   * then the rest of the packet out of place (a SUBSCRIBE's options byte becomes QoS 3).
   */
  skipProperties(): boolean {
    const length = this.varint();
    if (length === undefined || this.left < length) return false;
    const end = this.pos + length;
    const block = new Reader(this.body.subarray(this.pos, end));
    this.pos = end;
    while (block.left > 0) if (!block.#skipProperty()) return false;
    return true;
  }

  #skipProperty(): boolean {
    const id = this.varint();
    const size = id === undefined ? undefined : propertyBytes.get(id);
    if (size === undefined) return false;
    if (size === 'varint') return this.varint() !== undefined;
    if (typeof size === 'number') {
      this.pos += size;
      return this.pos <= this.body.length;
    }
    const strings = size === 'pair' ? 2 : 1;
    for (let i = 0; i < strings; i++) if (this.bytes() === undefined) return false;
    return true;
  }
}

type PropertySize = number | 'varint' | 'string' | 'pair';

/** Value sizes of the v5 properties by identifier (§2.2.2.2): bytes, a Variable Byte Integer, or length-prefixed. */
const propertyBytes: ReadonlyMap<number, PropertySize> = new Map<number, PropertySize>([
  ...[0x01, 0x17, 0x19, 0x24, 0x25, 0x28, 0x29, 0x2a].map((id) => [id, 1] as const),
  ...[0x13, 0x21, 0x22, 0x23].map((id) => [id, 2] as const),
  ...[0x02, 0x11, 0x18, 0x27].map((id) => [id, 4] as const),
  [0x0b, 'varint'],
  ...[0x03, 0x08, 0x09, 0x12, 0x15, 0x16, 0x1a, 0x1c, 0x1f].map((id) => [id, 'string'] as const),
  [0x26, 'pair'],
]);

/** Reads a UTF-8 string field: present, text allowed, and not empty unless `emptyAllowed`. */
function readText(reader: Reader, what: string, emptyAllowed: boolean): Violation | undefined {
  const bytes = reader.bytes();
  if (bytes === undefined) return malformed(`${what} cut short`);
  if (bytes.length === 0) return emptyAllowed ? undefined : malformed(`empty ${what}`);
  const problem = textProblem(bytes);
  return problem === undefined ? undefined : malformed(`${what}: ${problem}`);
}

/** A topic name or filter is at least one character [MQTT-4.7.3-1]. */
function readTopic(reader: Reader, what: string): Violation | undefined {
  return readText(reader, what, false);
}

/** Checks one packet after CONNECT; `headerBytes` is the fixed header's length. */
export function checkPacket(frame: Buffer, headerBytes: number, version: 3 | 4 | 5): Violation | undefined {
  const type = frame[0]! >> 4;
  const flags = frame[0]! & 0x0f;
  const body = frame.subarray(headerBytes);
  switch (type) {
    case PacketType.publish:
      return checkPublish(body, flags, version);
    case PacketType.puback:
    case PacketType.pubrec:
    case PacketType.pubcomp:
      return flags !== 0 ? malformed('reserved flags set') : checkAck(body, version);
    case PacketType.pubrel:
      return flags !== 2 ? malformed('PUBREL flags must be 0010') : checkAck(body, version);
    case PacketType.subscribe:
    case PacketType.unsubscribe:
      return flags !== 2 ? malformed('reserved flags must be 0010') : checkFilters(body, type, version);
    case PacketType.pingreq:
      if (flags !== 0) return malformed('reserved flags set');
      return body.length === 0 ? undefined : malformed('PINGREQ has no body');
    case PacketType.disconnect:
      if (flags !== 0) return malformed('reserved flags set');
      return version !== 5 && body.length !== 0 ? malformed('DISCONNECT has no body') : undefined;
    case PacketType.auth:
      return version === 5 && flags === 0 ? undefined : malformed('unexpected AUTH');
    default:
      return protocolError(`packet type ${type} is not sent by clients`);
  }
}

function checkPublish(body: Buffer, flags: number, version: 3 | 4 | 5): Violation | undefined {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) return malformed('PUBLISH with QoS 3');
  // [MQTT-3.3.1-2]: DUP must be 0 for QoS 0.
  if (qos === 0 && (flags & 0x08) !== 0) return malformed('DUP set on a QoS 0 PUBLISH');
  const reader = new Reader(body);
  // Empty is allowed here: a v5 PUBLISH may name its topic by alias alone (checked after decoding).
  const topic = readText(reader, 'topic name', true);
  if (topic !== undefined) return topic;
  if (qos > 0) {
    const packetId = reader.u16();
    if (packetId === undefined) return malformed('packet id cut short');
    if (packetId === 0) return protocolError('packet id 0'); // [MQTT-2.2.1-3]
  }
  if (version === 5 && !reader.skipProperties()) return malformed('properties cut short');
  return undefined;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP: exactly a packet id in 3.1.1 (§3.4.1), id + reason + props in v5. */
function checkAck(body: Buffer, version: 3 | 4 | 5): Violation | undefined {
  if (body.length < 2) return malformed('acknowledgement cut short');
  if (version !== 5 && body.length !== 2) return malformed('acknowledgement longer than a packet id');
  if (body.readUInt16BE(0) === 0) return protocolError('packet id 0');
  if (version === 5 && body.length > 3) {
    const reader = new Reader(body);
    reader.pos = 3;
    if (!reader.skipProperties() || reader.left !== 0) return malformed('acknowledgement properties');
  }
  return undefined;
}

function checkFilters(body: Buffer, type: number, version: 3 | 4 | 5): Violation | undefined {
  const reader = new Reader(body);
  const packetId = reader.u16();
  if (packetId === undefined) return malformed('packet id cut short');
  if (packetId === 0) return protocolError('packet id 0');
  if (version === 5 && !reader.skipProperties()) return malformed('properties cut short');
  // [MQTT-3.8.3-3], [MQTT-3.10.3-2]: at least one topic filter.
  if (reader.left === 0) return malformed('no topic filter');
  while (reader.left > 0) {
    const violation = readTopic(reader, 'topic filter');
    if (violation !== undefined) return violation;
    if (type !== PacketType.subscribe) continue;
    const options = reader.u8();
    if (options === undefined) return malformed('options cut short');
    const optionsViolation = checkSubscriptionOptions(options, version);
    if (optionsViolation !== undefined) return optionsViolation;
  }
  return undefined;
}

/**
 * 3.1.1: the requested QoS byte has only QoS 0–2 and no reserved bit [MQTT-3-8.3-4]. 5.0 (§3.8.3.1):
 * reserved bits 6–7 are malformed [MQTT-3.8.3-5]; Maximum QoS 3 and Retain Handling 3 are protocol
 * errors. Let through, QoS 3 would reach SUBACK, which cannot carry it.
 */
function checkSubscriptionOptions(options: number, version: 3 | 4 | 5): Violation | undefined {
  if (version !== 5)
    return (options & 0xfc) !== 0 || (options & 0x03) === 3 ? malformed('requested QoS') : undefined;
  if ((options & 0xc0) !== 0) return malformed('reserved subscription option bits set');
  if ((options & 0x03) === 3) return protocolError('maximum QoS 3');
  return ((options >> 4) & 0x03) === 3 ? protocolError('retain handling 3') : undefined;
}

/** MQTT 3.1.1 §3.1.2.1 / 5.0 §3.1.2.1: protocol name and level; the version or a refusal. */
function readProtocol(reader: Reader): { version: 3 | 4 | 5; legacy: boolean } | Violation {
  const name = reader.bytes()?.toString('latin1');
  const level = reader.u8();
  if (name === undefined || level === undefined) return malformed('CONNECT cut short');
  if (name !== 'MQTT' && name !== 'MQIsdp') return malformed(`protocol name ${JSON.stringify(name)}`);
  const expected = name === 'MQIsdp' ? level === 3 : level === 4 || level === 5;
  if (!expected) {
    // [MQTT-3.1.2-2]: an unsupported level gets return code 1, in the 3.1.1 format the client can read.
    return {
      reason: Reason.unsupportedProtocolVersion,
      message: `protocol level ${level}`,
      connackReturnCode: ReturnCode311.unacceptableVersion,
    };
  }
  return { version: level as 3 | 4 | 5, legacy: name === 'MQIsdp' };
}

/**
 * Walks a CONNECT (3.1.1 §3.1, 5.0 §3.1) field by field: flags, UTF-8 text, and nothing left over
 * ([MQTT-3.1.2-18], [MQTT-3.1.2-20], [MQTT-3.1.2-22]). For MQTT 3.1 the fixed header flags and the
 * reserved connect flag were not yet reserved, so they are cleared rather than refused.
 */
export function checkConnect(frame: Buffer, headerBytes: number): ConnectFacts | Violation {
  const reader = new Reader(frame.subarray(headerBytes));
  const protocol = readProtocol(reader);
  if ('reason' in protocol) return protocol;
  const { version, legacy } = protocol;
  const flagsAt = headerBytes + reader.pos;
  let connectFlags = reader.u8();
  if (reader.u16() === undefined || connectFlags === undefined) return malformed('CONNECT cut short');
  if (legacy) connectFlags &= 0xfe;
  else if ((frame[0]! & 0x0f) !== 0) return malformed('reserved flags set');
  const violation = checkConnectPayload(reader, connectFlags, version);
  if (violation !== undefined) return violation;
  if (!legacy) return { version, frame };
  const cleaned = Buffer.from(frame);
  cleaned[0] = 0x10;
  cleaned[flagsAt] = connectFlags;
  return { version, frame: cleaned };
}

function checkConnectPayload(reader: Reader, flags: number, version: 3 | 4 | 5): Violation | undefined {
  const will = (flags & 0x04) !== 0;
  const hasUser = (flags & 0x80) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  if ((flags & 0x01) !== 0) return malformed('reserved connect flag set'); // [MQTT-3.1.2-3]
  if (((flags >> 3) & 0x03) === 3) return malformed('will QoS 3'); // [MQTT-3.1.2-14]
  if (!will && (flags & 0x38) !== 0) return malformed('will QoS or retain without a will'); // [MQTT-3.1.2-11]
  if (version !== 5 && hasPassword && !hasUser) return malformed('password without user name'); // [MQTT-3.1.2-22]
  if (version === 5 && !reader.skipProperties()) return malformed('properties cut short');
  const clientId = readText(reader, 'client id', true);
  if (clientId !== undefined) return clientId;
  if (will) {
    if (version === 5 && !reader.skipProperties()) return malformed('will properties cut short');
    const topic = readTopic(reader, 'will topic');
    if (topic !== undefined) return topic;
    if (reader.bytes() === undefined) return malformed('will payload cut short');
  }
  if (hasUser) {
    const user = readText(reader, 'user name', true);
    if (user !== undefined) return user;
  }
  if (hasPassword && reader.bytes() === undefined) return malformed('password cut short');
  return reader.left === 0 ? undefined : malformed('bytes after the CONNECT payload');
}
