/**
 * MQTT 5.0 properties (§2.2.2): a pure reader that checks a property block against the property table
 * of §2.2.2.2 for the packet it sits in, and a writer. Pure: bytes in, values out.
 *
 * A block is a Variable Byte Integer length, then properties, each an identifier and a value of the
 * identifier's type. The reader refuses, as the specification says:
 * - a block longer than what is left of the packet, a property cut short, an unknown identifier, an
 *   identifier not allowed on this packet (§2.2.2.2: "a Malformed Packet", 0x81), ill-formed UTF-8 or
 *   U+0000 in a string [MQTT-1.5.4-1] [MQTT-1.5.4-2], a Variable Byte Integer longer than four bytes or
 *   not in its shortest form [MQTT-1.5.5-1]: Malformed Packet (0x81);
 * - a property given twice (every one but User Property; "It is a Protocol Error to include … more than
 *   once", stated for each in §3), and the values §3 names a Protocol Error: Receive Maximum or Maximum
 *   Packet Size 0 (§3.1.2.11.3, §3.1.2.11.4), Subscription Identifier 0 (§3.8.2.1.2), a byte that must
 *   be 0 or 1 (Payload Format Indicator, Request Problem / Response Information, the "available"
 *   flags), wildcards in a Response Topic [MQTT-3.3.2-14]: Protocol Error (0x82).
 * User Properties come back in the order they were sent, repeated names included [MQTT-3.3.2-18].
 */
import { Buffer, isUtf8 } from 'node:buffer';
import { Reason } from './reasons.js';

/** The packet (or, for `will`, the part of CONNECT) a property block belongs to. */
export type PropertyOwner =
  | 'connect'
  | 'will'
  | 'connack'
  | 'publish'
  | 'puback'
  | 'pubrec'
  | 'pubrel'
  | 'pubcomp'
  | 'subscribe'
  | 'suback'
  | 'unsubscribe'
  | 'unsuback'
  | 'disconnect'
  | 'auth';

/** One User Property: a name and a value, both UTF-8 strings. */
export type UserProperty = readonly [name: string, value: string];

/** The properties of one block, by the names of §3. */
export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Buffer;
  /** A client sends at most one (SUBSCRIBE); a server's PUBLISH may carry several. */
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Buffer;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifierAvailable?: number;
  sharedSubscriptionAvailable?: number;
  /** In the order sent; names may repeat. */
  userProperties?: UserProperty[];
}

type ValueType = 'byte' | 'u16' | 'u32' | 'vbi' | 'utf8' | 'binary' | 'pair';
type Check = 'nonZero' | 'zeroOrOne' | 'noWildcards';

interface PropertySpec {
  readonly id: number;
  readonly name: keyof Properties;
  readonly type: ValueType;
  readonly owners: ReadonlySet<PropertyOwner>;
  readonly check?: Check;
}

const publishLike: PropertyOwner[] = ['publish', 'will'];
const acks: PropertyOwner[] = ['puback', 'pubrec', 'pubrel', 'pubcomp'];
const everyOwner: PropertyOwner[] = [
  'connect',
  'will',
  'connack',
  'publish',
  ...acks,
  'subscribe',
  'suback',
  'unsubscribe',
  'unsuback',
  'disconnect',
  'auth',
];

function spec(
  id: number,
  name: keyof Properties,
  type: ValueType,
  owners: PropertyOwner[],
  check?: Check,
): PropertySpec {
  return { id, name, type, owners: new Set(owners), ...(check === undefined ? {} : { check }) };
}

/** MQTT 5.0 §2.2.2.2, Table 2-4: identifier, name, type and the packets that may carry it. */
const table: readonly PropertySpec[] = [
  spec(0x01, 'payloadFormatIndicator', 'byte', publishLike, 'zeroOrOne'),
  spec(0x02, 'messageExpiryInterval', 'u32', publishLike),
  spec(0x03, 'contentType', 'utf8', publishLike),
  spec(0x08, 'responseTopic', 'utf8', publishLike, 'noWildcards'),
  spec(0x09, 'correlationData', 'binary', publishLike),
  spec(0x0b, 'subscriptionIdentifiers', 'vbi', ['publish', 'subscribe'], 'nonZero'),
  spec(0x11, 'sessionExpiryInterval', 'u32', ['connect', 'connack', 'disconnect']),
  spec(0x12, 'assignedClientIdentifier', 'utf8', ['connack']),
  spec(0x13, 'serverKeepAlive', 'u16', ['connack']),
  spec(0x15, 'authenticationMethod', 'utf8', ['connect', 'connack', 'auth']),
  spec(0x16, 'authenticationData', 'binary', ['connect', 'connack', 'auth']),
  spec(0x17, 'requestProblemInformation', 'byte', ['connect'], 'zeroOrOne'),
  spec(0x18, 'willDelayInterval', 'u32', ['will']),
  spec(0x19, 'requestResponseInformation', 'byte', ['connect'], 'zeroOrOne'),
  spec(0x1a, 'responseInformation', 'utf8', ['connack']),
  spec(0x1c, 'serverReference', 'utf8', ['connack', 'disconnect']),
  spec(0x1f, 'reasonString', 'utf8', ['connack', ...acks, 'suback', 'unsuback', 'disconnect', 'auth']),
  spec(0x21, 'receiveMaximum', 'u16', ['connect', 'connack'], 'nonZero'),
  spec(0x22, 'topicAliasMaximum', 'u16', ['connect', 'connack']),
  spec(0x23, 'topicAlias', 'u16', ['publish']),
  spec(0x24, 'maximumQoS', 'byte', ['connack'], 'zeroOrOne'),
  spec(0x25, 'retainAvailable', 'byte', ['connack'], 'zeroOrOne'),
  spec(0x26, 'userProperties', 'pair', everyOwner),
  spec(0x27, 'maximumPacketSize', 'u32', ['connect', 'connack'], 'nonZero'),
  spec(0x28, 'wildcardSubscriptionAvailable', 'byte', ['connack'], 'zeroOrOne'),
  spec(0x29, 'subscriptionIdentifierAvailable', 'byte', ['connack'], 'zeroOrOne'),
  spec(0x2a, 'sharedSubscriptionAvailable', 'byte', ['connack'], 'zeroOrOne'),
];

const byId = new Map(table.map((s) => [s.id, s]));
const byName = new Map(table.map((s) => [s.name, s]));

/** Why a block was refused: 0x81 (Malformed Packet) or 0x82 (Protocol Error), and what was wrong. */
export interface PropertyFault {
  readonly reason: number;
  readonly message: string;
}

export interface ReadProperties {
  readonly properties: Properties;
  /** Offset just past the block. */
  readonly end: number;
}

/** Variable Byte Integers hold at most four bytes (§1.5.5). */
const vbiBytesMax = 4;

const malformed = (message: string): PropertyFault => ({ reason: Reason.malformed, message });
const protocolError = (message: string): PropertyFault => ({ reason: Reason.protocolError, message });

/** Reads a Variable Byte Integer at `at` (§1.5.5): its value and length, or a fault. */
function readVbi(
  buf: Buffer,
  at: number,
  end = buf.length,
): { value: number; bytes: number } | PropertyFault {
  let value = 0;
  for (let i = 0, multiplier = 1; i < vbiBytesMax; i++, multiplier *= 128) {
    if (at + i >= end) return malformed('variable byte integer cut short');
    const byte = buf[at + i]!;
    value += (byte & 0x7f) * multiplier;
    if ((byte & 0x80) === 0) {
      // [MQTT-1.5.5-1]: the shortest form; a last byte of 0 after the first means it was not.
      if (i > 0 && byte === 0) return malformed('variable byte integer not in its shortest form');
      return { value, bytes: i + 1 };
    }
  }
  return malformed('variable byte integer longer than four bytes');
}

function isFault(value: unknown): value is PropertyFault {
  return typeof value === 'object' && value !== null && 'reason' in value && 'message' in value;
}

/** A cursor over one block; every read reports running past the block's end as a fault. */
class BlockReader {
  pos: number;
  readonly #buf: Buffer;
  readonly #end: number;

  constructor(buf: Buffer, at: number, end: number) {
    this.#buf = buf;
    this.pos = at;
    this.#end = end;
  }

  get done(): boolean {
    return this.pos >= this.#end;
  }

  #take(bytes: number, what: string): number | PropertyFault {
    if (this.pos + bytes > this.#end) return malformed(`${what} cut short`);
    const at = this.pos;
    this.pos += bytes;
    return at;
  }

  value(type: ValueType, what: string): unknown {
    switch (type) {
      case 'byte': {
        const at = this.#take(1, what);
        return isFault(at) ? at : this.#buf[at]!;
      }
      case 'u16': {
        const at = this.#take(2, what);
        return isFault(at) ? at : this.#buf.readUInt16BE(at);
      }
      case 'u32': {
        const at = this.#take(4, what);
        return isFault(at) ? at : this.#buf.readUInt32BE(at);
      }
      case 'vbi': {
        const read = readVbi(this.#buf, this.pos, this.#end);
        if (isFault(read)) return read;
        this.pos += read.bytes;
        return read.value;
      }
      case 'binary':
        return this.#binary(what);
      case 'utf8':
        return this.#utf8(what);
      case 'pair': {
        const name = this.#utf8(what);
        if (isFault(name)) return name;
        const value = this.#utf8(what);
        return isFault(value) ? value : ([name, value] as UserProperty);
      }
    }
  }

  #binary(what: string): Buffer | PropertyFault {
    const at = this.#take(2, what);
    if (isFault(at)) return at;
    const length = this.#buf.readUInt16BE(at);
    const start = this.#take(length, what);
    return isFault(start) ? start : this.#buf.subarray(start, start + length);
  }

  #utf8(what: string): string | PropertyFault {
    const bytes = this.#binary(what);
    if (isFault(bytes)) return bytes;
    if (!isUtf8(bytes)) return malformed(`${what}: ill-formed UTF-8`);
    if (bytes.includes(0)) return malformed(`${what}: U+0000`);
    return bytes.toString('utf8');
  }
}

function checked(spec: PropertySpec, value: unknown): PropertyFault | undefined {
  const what = spec.name;
  switch (spec.check) {
    case 'nonZero':
      return value === 0 ? protocolError(`${what} is 0`) : undefined;
    case 'zeroOrOne':
      return value === 0 || value === 1 ? undefined : protocolError(`${what} is ${String(value)}`);
    case 'noWildcards':
      return /[+#]/.test(value as string) ? protocolError(`${what} has a wildcard`) : undefined;
    default:
      return undefined;
  }
}

/**
 * Reads the property block at `at` of a packet whose bytes end at `end` (so the block cannot run into
 * whatever the packet has after it), checking each property against `owner`.
 */
export function readProperties(
  buf: Buffer,
  at: number,
  owner: PropertyOwner,
  end = buf.length,
): ReadProperties | PropertyFault {
  const length = readVbi(buf, at, end);
  if (isFault(length)) return malformed(`property length: ${length.message}`);
  const start = at + length.bytes;
  if (start + length.value > end) return malformed('property length beyond the packet');
  const reader = new BlockReader(buf, start, start + length.value);
  const properties: Properties = {};
  const seen = new Set<number>();
  while (!reader.done) {
    const id = reader.value('vbi', 'property identifier');
    if (isFault(id)) return id;
    const fault = readOne(reader, id as number, owner, seen, properties);
    if (fault !== undefined) return fault;
  }
  return { properties, end: start + length.value };
}

function readOne(
  reader: BlockReader,
  id: number,
  owner: PropertyOwner,
  seen: Set<number>,
  into: Properties,
): PropertyFault | undefined {
  const spec = byId.get(id);
  if (spec === undefined) return malformed(`unknown property 0x${id.toString(16)}`);
  // §2.2.2.2: an identifier not valid for the packet type makes it a Malformed Packet.
  if (!spec.owners.has(owner)) return malformed(`${spec.name} is not allowed in ${owner}`);
  const value = reader.value(spec.type, spec.name);
  if (isFault(value)) return value;
  if (spec.type === 'pair') {
    if (into.userProperties === undefined) into.userProperties = [value as UserProperty];
    else into.userProperties.push(value as UserProperty);
    return undefined;
  }
  if (seen.has(id)) return protocolError(`${spec.name} more than once`);
  seen.add(id);
  const fault = checked(spec, value);
  if (fault !== undefined) return fault;
  if (spec.type === 'vbi') into.subscriptionIdentifiers = [value as number];
  else (into as Record<string, unknown>)[spec.name] = value;
  return undefined;
}

export { isFault as isPropertyFault };

// ---- writing ----

/** The bytes of a Variable Byte Integer (§1.5.5), at most four. */
export function vbiBytes(value: number): number {
  return value < 0x80 ? 1 : value < 0x4000 ? 2 : value < 0x20_0000 ? 3 : 4;
}

export function writeVbi(out: Buffer, at: number, value: number): number {
  let rest = value;
  let pos = at;
  do {
    const digit = rest % 0x80;
    rest = Math.floor(rest / 0x80);
    out[pos++] = rest > 0 ? digit | 0x80 : digit;
  } while (rest > 0);
  return pos;
}

function valueBytes(type: ValueType, value: unknown): number {
  switch (type) {
    case 'byte':
      return 1;
    case 'u16':
      return 2;
    case 'u32':
      return 4;
    case 'vbi':
      return vbiBytes(value as number);
    case 'binary':
      return 2 + (value as Buffer).length;
    case 'utf8':
      return 2 + Buffer.byteLength(value as string);
    case 'pair':
      return (
        4 + Buffer.byteLength((value as UserProperty)[0]) + Buffer.byteLength((value as UserProperty)[1])
      );
  }
}

function writeValue(out: Buffer, at: number, type: ValueType, value: unknown): number {
  switch (type) {
    case 'byte':
      return out.writeUInt8(value as number, at);
    case 'u16':
      return out.writeUInt16BE(value as number, at);
    case 'u32':
      return out.writeUInt32BE(value as number, at);
    case 'vbi':
      return writeVbi(out, at, value as number);
    case 'binary': {
      const bytes = value as Buffer;
      const pos = out.writeUInt16BE(bytes.length, at);
      out.set(bytes, pos);
      return pos + bytes.length;
    }
    case 'utf8': {
      const pos = at + 2;
      const written = out.write(value as string, pos, 'utf8');
      out.writeUInt16BE(written, at);
      return pos + written;
    }
    case 'pair': {
      const [name, text] = value as UserProperty;
      return writeValue(out, writeValue(out, at, 'utf8', name), 'utf8', text);
    }
  }
}

/** Every (spec, value) a property set holds, User Properties and Subscription Identifiers one by one. */
function entries(properties: Properties): Array<[PropertySpec, unknown]> {
  const out: Array<[PropertySpec, unknown]> = [];
  for (const [name, value] of Object.entries(properties)) {
    const spec = byName.get(name as keyof Properties);
    if (spec === undefined || value === undefined) continue;
    if (Array.isArray(value)) for (const one of value) out.push([spec, one]);
    else out.push([spec, value]);
  }
  return out;
}

/** A property set measured for writing: the block's size with its Property Length, and its entries. */
export interface MeasuredProperties {
  readonly bytes: number;
  readonly length: number;
  readonly entries: ReadonlyArray<[PropertySpec, unknown]>;
}

export function measureProperties(properties: Properties): MeasuredProperties {
  const all = entries(properties);
  let length = 0;
  for (const [spec, value] of all) length += vbiBytes(spec.id) + valueBytes(spec.type, value);
  return { bytes: vbiBytes(length) + length, length, entries: all };
}

/** Writes a measured block at `at`: Property Length, then each property (User Properties in order). */
export function writeProperties(out: Buffer, at: number, measured: MeasuredProperties): number {
  let pos = writeVbi(out, at, measured.length);
  for (const [spec, value] of measured.entries)
    pos = writeValue(out, writeVbi(out, pos, spec.id), spec.type, value);
  return pos;
}

/** The encoded block on its own. */
export function encodeProperties(properties: Properties): Buffer {
  const measured = measureProperties(properties);
  const out = Buffer.allocUnsafe(measured.bytes);
  writeProperties(out, 0, measured);
  return out;
}
