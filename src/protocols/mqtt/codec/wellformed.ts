/**
 * Byte-level checks of one whole packet from a client, before `mqtt-packet` decodes it, and the decoding
 * of PUBLISH itself. `mqtt-packet` is lenient where the specifications say "MUST close": reserved flags,
 * Remaining Length of the acknowledgements, packet id 0, DUP on QoS 0, ill-formed UTF-8, trailing bytes
 * in CONNECT, and v5 properties (it reads a property past the block's Property Length, lets a property
 * repeat or appear on the wrong packet, and keeps User Properties in an object that loses their order).
 * Every v5 property block is read here (./properties.ts). Every finding closes the connection; v5
 * clients get DISCONNECT 0x81 (malformed) or 0x82 (protocol error) first.
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { isPropertyFault, type Properties, type PropertyOwner, readProperties } from './properties.js';
import { Reason, ReturnCode311 } from './reasons.js';

export interface Violation {
  readonly reason: number;
  readonly message: string;
  /** CONNECT only: answer with this 3.1.1 CONNACK return code before closing (§3.1.2.2). */
  readonly connackReturnCode?: number;
  /** Close without a DISCONNECT: the client's own DISCONNECT was at fault, it is leaving anyway. */
  readonly quiet?: boolean;
}

export interface ConnectFacts {
  readonly version: 3 | 4 | 5;
  /** MQTT 3.1 (`MQIsdp`) tolerates flags 3.1.1 reserves; the frame to parse has them cleared. */
  readonly frame: Buffer;
  /** v5: the CONNECT's properties and its Will Properties, read here (User Properties in order). */
  readonly properties?: Properties;
  readonly willProperties?: Properties;
}

/** A PUBLISH from a client, decoded here rather than by `mqtt-packet` (see the file comment). */
export interface PublishIn {
  readonly cmd: 'publish';
  readonly topic: string;
  readonly qos: 0 | 1 | 2;
  readonly dup: boolean;
  readonly retain: boolean;
  /** Set exactly when QoS > 0. */
  readonly messageId?: number | undefined;
  /** v5 only. */
  readonly properties?: Properties | undefined;
  readonly payload: Buffer;
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
  /** Reads a v5 property block (§2.2.2) checked against the packet it belongs to. */
  properties(owner: PropertyOwner): Properties | Violation {
    const read = readProperties(this.body, this.pos, owner);
    if (isPropertyFault(read)) return read;
    this.pos = read.end;
    return read.properties;
  }
}

function isViolation(value: unknown): value is Violation {
  return typeof value === 'object' && value !== null && 'reason' in value && 'message' in value;
}

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

/**
 * Checks one packet after CONNECT; `headerBytes` is the fixed header's length. A PUBLISH comes back
 * decoded; any other packet that passes gives undefined and goes on to `mqtt-packet`. A SUBSCRIBE or
 * UNSUBSCRIBE naming more than `filtersMax` topic filters is refused with Quota exceeded (0x97).
 */
export function checkPacket(
  frame: Buffer,
  headerBytes: number,
  version: 3 | 4 | 5,
  filtersMax = Number.POSITIVE_INFINITY,
): Violation | PublishIn | undefined {
  const type = frame[0]! >> 4;
  const flags = frame[0]! & 0x0f;
  // A PUBLISH is read where it lies in the frame: no view of its body per message.
  if (type === PacketType.publish) return decodePublish(frame, headerBytes, flags, version);
  const body = frame.subarray(headerBytes);
  switch (type) {
    case PacketType.puback:
    case PacketType.pubrec:
    case PacketType.pubcomp:
      return flags !== 0 ? malformed('reserved flags set') : checkAck(body, version, type);
    case PacketType.pubrel:
      return flags !== 2 ? malformed('PUBREL flags must be 0010') : checkAck(body, version, type);
    case PacketType.subscribe:
    case PacketType.unsubscribe:
      return flags !== 2
        ? malformed('reserved flags must be 0010')
        : checkFilters(body, type, version, filtersMax);
    case PacketType.pingreq:
      if (flags !== 0) return malformed('reserved flags set');
      return body.length === 0 ? undefined : malformed('PINGREQ has no body');
    case PacketType.disconnect:
      if (flags !== 0) return malformed('reserved flags set'); // [MQTT-3.14.1-1]
      if (version !== 5) return body.length !== 0 ? malformed('DISCONNECT has no body') : undefined;
      return checkDisconnect(body);
    case PacketType.auth:
      if (version !== 5) return malformed('AUTH in 3.1.1');
      return flags !== 0 ? malformed('reserved flags set') : checkAuth(body); // [MQTT-3.15.1-1]
    default:
      return protocolError(`packet type ${type} is not sent by clients`);
  }
}

/**
 * The topic name of a PUBLISH, `body[start, end)`, as text, or why it is refused (as `readText`
 * words it). Printable ASCII, the usual case, is checked byte by byte without decoding twice.
 */
function topicText(body: Buffer, start: number, end: number): string | Violation {
  const length = end - start;
  if (length === lastTopic.bytes.length && body.compare(lastTopic.bytes, 0, length, start, end) === 0)
    return lastTopic.text;
  let text: string | undefined;
  for (let i = start; i < end && text === undefined; i++) {
    const byte = body[i]!;
    if (byte < 0x20 || byte > 0x7e) {
      const problem = textProblem(body.subarray(start, end));
      if (problem !== undefined) return malformed(`topic name: ${problem}`);
      text = body.toString('utf8', start, end);
    }
  }
  text ??= body.toString('latin1', start, end);
  if (length <= rememberedTopicBytesMax) lastTopic = { bytes: Buffer.from(body.subarray(start, end)), text };
  return text;
}

/**
 * The last topic name read and its bytes. A publisher sends message after message to one topic: the
 * same bytes give back the same string, not a new one per message, and what is later worked out from
 * it by identity (its routing key, the checks of its levels) is found at once.
 */
let lastTopic: { readonly bytes: Buffer; readonly text: string } = { bytes: Buffer.alloc(0), text: '' };
/** Longer topic names are not remembered (a copy of each would cost more than it saves). */
const rememberedTopicBytesMax = 256;

/**
 * Decodes a PUBLISH (§3.3): flags, topic, packet id, v5 properties, payload. Read in place, without a
 * `Reader`; the packet object has one shape whatever it carries (absent fields are undefined).
 */
function decodePublish(
  frame: Buffer,
  start: number,
  flags: number,
  version: 3 | 4 | 5,
): Violation | PublishIn {
  const qos = (flags >> 1) & 0x03;
  if (qos === 3) return malformed('PUBLISH with QoS 3'); // [MQTT-3.3.1-4]
  // [MQTT-3.3.1-2]: DUP must be 0 for QoS 0.
  if (qos === 0 && (flags & 0x08) !== 0) return malformed('DUP set on a QoS 0 PUBLISH');
  if (frame.length - start < 2) return malformed('topic name cut short');
  const topicEnd = start + 2 + ((frame[start]! << 8) | frame[start + 1]!);
  if (topicEnd > frame.length) return malformed('topic name cut short');
  let topic = '';
  if (topicEnd > start + 2) {
    const text = topicText(frame, start + 2, topicEnd);
    if (typeof text !== 'string') return text;
    topic = text;
  } else if (version !== 5) {
    // Empty is allowed in v5 only: a v5 PUBLISH may name its topic by alias alone.
    return malformed('empty topic name');
  }
  let pos = topicEnd;
  let messageId: number | undefined;
  if (qos > 0) {
    if (frame.length - pos < 2) return malformed('packet id cut short');
    messageId = (frame[pos]! << 8) | frame[pos + 1]!;
    pos += 2;
    if (messageId === 0) return protocolError('packet id 0'); // [MQTT-2.2.1-3]
  }
  let properties: Properties | undefined;
  if (version === 5) {
    const read = readProperties(frame, pos, 'publish');
    if (isPropertyFault(read)) return read;
    pos = read.end;
    // [MQTT-3.3.4-6]: a PUBLISH from a client carries no Subscription Identifier.
    if (read.properties.subscriptionIdentifiers !== undefined)
      return protocolError('subscription identifier from a client');
    // §3.3.2.1: a zero-length Topic Name needs a Topic Alias.
    if (topic === '' && read.properties.topicAlias === undefined)
      return protocolError('empty topic name without an alias');
    properties = read.properties;
  }
  return {
    cmd: 'publish',
    topic,
    qos: qos as 0 | 1 | 2,
    dup: (flags & 0x08) !== 0,
    retain: (flags & 0x01) !== 0,
    messageId,
    properties,
    payload: frame.subarray(pos),
  };
}

/** Reason codes a client may send in each acknowledgement (MQTT 5.0 §3.4.2.1, §3.5.2.1, §3.6.2.1, §3.7.2.1). */
const ackReasons: { readonly [type: number]: ReadonlySet<number> } = {
  [PacketType.puback]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.pubrec]: new Set([0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99]),
  [PacketType.pubrel]: new Set([0x00, 0x92]),
  [PacketType.pubcomp]: new Set([0x00, 0x92]),
};

const ackOwner: { readonly [type: number]: PropertyOwner } = {
  [PacketType.puback]: 'puback',
  [PacketType.pubrec]: 'pubrec',
  [PacketType.pubrel]: 'pubrel',
  [PacketType.pubcomp]: 'pubcomp',
};

/**
 * PUBACK, PUBREC, PUBREL, PUBCOMP: exactly a packet id in 3.1.1 (§3.4.1); in v5 a packet id, then an
 * optional Reason Code of the packet's own set ([MQTT-3.4.2-1], [MQTT-3.5.2-1], [MQTT-3.6.2-1],
 * [MQTT-3.7.2-1]: another is a Protocol Error), then optional properties filling the rest exactly.
 */
function checkAck(body: Buffer, version: 3 | 4 | 5, type: number): Violation | undefined {
  if (body.length < 2) return malformed('acknowledgement cut short');
  if (version !== 5 && body.length !== 2) return malformed('acknowledgement longer than a packet id');
  if (body.readUInt16BE(0) === 0) return protocolError('packet id 0');
  if (version !== 5 || body.length === 2) return undefined;
  if (!ackReasons[type]!.has(body[2]!)) return protocolError(`reason code 0x${body[2]!.toString(16)}`);
  if (body.length === 3) return undefined;
  const reader = new Reader(body);
  reader.pos = 3;
  const read = reader.properties(ackOwner[type]!);
  if (isViolation(read)) return read;
  return reader.left === 0 ? undefined : malformed('bytes after the acknowledgement properties');
}

/** DISCONNECT reason codes a client may send (MQTT 5.0 §3.14.2.1, Table 3-10) [MQTT-3.14.2-1]. */
const clientDisconnectReasons: ReadonlySet<number> = new Set([
  0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x98, 0x99,
]);

/**
 * A v5 DISCONNECT: optional Reason Code, then optional properties filling the rest. A reason code a
 * client may not send is a Protocol Error; the connection closes without an answer, the client being
 * on its way out (the will, if any, is still published: the disconnection was not a normal one).
 */
function checkDisconnect(body: Buffer): Violation | undefined {
  if (body.length === 0) return undefined;
  if (!clientDisconnectReasons.has(body[0]!)) {
    return { ...protocolError(`DISCONNECT reason code 0x${body[0]!.toString(16)}`), quiet: true };
  }
  if (body.length === 1) return undefined;
  const reader = new Reader(body);
  reader.pos = 1;
  const read = reader.properties('disconnect');
  if (isViolation(read)) return read;
  return reader.left === 0 ? undefined : malformed('bytes after the DISCONNECT properties');
}

/** Reason codes of AUTH (MQTT 5.0 §3.15.2.1, Table 3-13) [MQTT-3.15.2-1]. */
const authReasons: ReadonlySet<number> = new Set([0x00, 0x18, 0x19]);

/**
 * An AUTH from a client (§3.15). Reason Code and properties may be left out for Success without
 * properties (§3.15.2.1), but a client's AUTH always names its Authentication Method
 * [MQTT-4.12.0-5] (and one without a method in CONNECT sends none [MQTT-4.12.0-7]), so a bare one is a
 * Protocol Error. Whether the client may send it now is the connection's to decide (../auth.ts).
 */
function checkAuth(body: Buffer): Violation | undefined {
  if (body.length === 0) return protocolError('AUTH without an authentication method');
  if (!authReasons.has(body[0]!)) return protocolError(`AUTH reason code 0x${body[0]!.toString(16)}`);
  const reader = new Reader(body);
  reader.pos = 1;
  const read = body.length === 1 ? {} : reader.properties('auth');
  if (isViolation(read)) return read;
  if (reader.left !== 0) return malformed('bytes after the AUTH properties');
  return read.authenticationMethod === undefined
    ? protocolError('AUTH without an authentication method')
    : undefined;
}

function checkFilters(
  body: Buffer,
  type: number,
  version: 3 | 4 | 5,
  filtersMax: number,
): Violation | undefined {
  const reader = new Reader(body);
  const packetId = reader.u16();
  if (packetId === undefined) return malformed('packet id cut short');
  if (packetId === 0) return protocolError('packet id 0');
  if (version === 5) {
    const read = reader.properties(type === PacketType.subscribe ? 'subscribe' : 'unsubscribe');
    if (isViolation(read)) return read;
  }
  // [MQTT-3.8.3-3], [MQTT-3.10.3-2]: at least one topic filter.
  if (reader.left === 0) return malformed('no topic filter');
  for (let filters = 1; reader.left > 0; filters++) {
    // Checked before the filter is read: a packet of 100,000 filters costs no more than the bound.
    if (filters > filtersMax)
      return { reason: Reason.quotaExceeded, message: `more than ${filtersMax} topic filters in one packet` };
    const violation = readTopic(reader, 'topic filter');
    if (violation !== undefined) return violation;
    if (type !== PacketType.subscribe) continue;
    const options = reader.u8();
    if (options === undefined) return malformed('options cut short');
    const problem = version === 5 ? optionsProblem5(options) : optionsProblem311(options);
    if (problem !== undefined) return problem;
  }
  return undefined;
}

/** 3.1.1 §3.8.3.1: only the two QoS bits, and QoS 3 is not one [MQTT-3-8.3-4]. */
function optionsProblem311(options: number): Violation | undefined {
  if ((options & 0xfc) !== 0) return malformed('reserved subscription option bits set');
  return (options & 0x03) === 3 ? malformed('subscription QoS 3') : undefined;
}

/**
 * 5.0 §3.8.3.1: bits 6–7 reserved [MQTT-3.8.3-5] (malformed); Maximum QoS 3 and Retain Handling 3 are
 * Protocol Errors.
 */
function optionsProblem5(options: number): Violation | undefined {
  if ((options & 0xc0) !== 0) return malformed('reserved subscription option bits set');
  if ((options & 0x03) === 3) return protocolError('subscription QoS 3');
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
  const payload = checkConnectPayload(reader, connectFlags, version);
  if (isViolation(payload)) return payload;
  if (!legacy) return { version, frame, ...payload };
  const cleaned = Buffer.from(frame);
  cleaned[0] = 0x10;
  cleaned[flagsAt] = connectFlags;
  return { version, frame: cleaned, ...payload };
}

type ConnectProperties = Pick<ConnectFacts, 'properties' | 'willProperties'>;

function checkConnectPayload(
  reader: Reader,
  flags: number,
  version: 3 | 4 | 5,
): Violation | ConnectProperties {
  const will = (flags & 0x04) !== 0;
  const hasUser = (flags & 0x80) !== 0;
  const hasPassword = (flags & 0x40) !== 0;
  if ((flags & 0x01) !== 0) return malformed('reserved connect flag set'); // [MQTT-3.1.2-3]
  if (((flags >> 3) & 0x03) === 3) return malformed('will QoS 3'); // [MQTT-3.1.2-14]
  if (!will && (flags & 0x38) !== 0) return malformed('will QoS or retain without a will'); // [MQTT-3.1.2-11]
  if (version !== 5 && hasPassword && !hasUser) return malformed('password without user name'); // [MQTT-3.1.2-22]
  const found: { properties?: Properties; willProperties?: Properties } = {};
  if (version === 5) {
    const read = reader.properties('connect');
    if (isViolation(read)) return read;
    // §3.1.2.11.10: Authentication Data without an Authentication Method is a Protocol Error.
    if (read.authenticationData !== undefined && read.authenticationMethod === undefined)
      return protocolError('authentication data without a method');
    found.properties = read;
  }
  const clientId = readText(reader, 'client id', true);
  if (clientId !== undefined) return clientId;
  if (will) {
    if (version === 5) {
      const read = reader.properties('will');
      if (isViolation(read)) return read;
      found.willProperties = read;
    }
    const topic = readTopic(reader, 'will topic');
    if (topic !== undefined) return topic;
    if (reader.bytes() === undefined) return malformed('will payload cut short');
  }
  if (hasUser) {
    const user = readText(reader, 'user name', true);
    if (user !== undefined) return user;
  }
  if (hasPassword && reader.bytes() === undefined) return malformed('password cut short');
  return reader.left === 0 ? found : malformed('bytes after the CONNECT payload');
}
