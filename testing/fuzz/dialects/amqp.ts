/**
 * AMQP 0-9-1 for the fuzzer: the 8-byte protocol header, then frames `type channel size payload 0xCE`.
 * Method arguments are walked from the spec's own table (spec/amqp/amqp-rabbitmq-0.9.1.json), so every
 * short-string, long-string and field-table length of every method is a known field.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type Dialect, FieldWalker, type FieldWalker as Walker, walked } from '../dialect.js';

const specPath = fileURLToPath(new URL('../../../../spec/amqp/amqp-rabbitmq-0.9.1.json', import.meta.url));
const frameHeaderBytes = 7;
const frameEnd = 0xce;

interface SpecArgument {
  readonly type?: string;
  readonly domain?: string;
}
interface Spec {
  readonly domains: ReadonlyArray<readonly [string, string]>;
  readonly classes: ReadonlyArray<{
    readonly id: number;
    readonly methods: ReadonlyArray<{ readonly id: number; readonly arguments: readonly SpecArgument[] }>;
  }>;
}

/** Argument types of every method, by `classId << 16 | methodId`. */
const argumentTypes: ReadonlyMap<number, readonly string[]> = (() => {
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as Spec;
  const domains = new Map(spec.domains.map(([name, type]) => [name, type]));
  const map = new Map<number, string[]>();
  for (const c of spec.classes) {
    for (const m of c.methods) {
      const types = m.arguments.map((a) => a.type ?? domains.get(a.domain ?? '') ?? 'octet');
      map.set((c.id << 16) | m.id, types);
    }
  }
  return map;
})();

/** Basic properties in flag order (bit 15 first), as the content header carries them. */
const propertyTypes = [
  'shortstr', // content-type
  'shortstr', // content-encoding
  'table', // headers
  'octet', // delivery-mode
  'octet', // priority
  'shortstr', // correlation-id
  'shortstr', // reply-to
  'shortstr', // expiration
  'shortstr', // message-id
  'timestamp', // timestamp
  'shortstr', // type
  'shortstr', // user-id
  'shortstr', // app-id
  'shortstr', // cluster-id
] as const;

function isProtocolHeader(frame: Uint8Array): boolean {
  return frame[0] === 0x41 && frame[1] === 0x4d && frame[2] === 0x51 && frame[3] === 0x50;
}

function split(bytes: Uint8Array): Uint8Array[] {
  const frames: Uint8Array[] = [];
  let at = 0;
  if (isProtocolHeader(bytes)) {
    frames.push(bytes.slice(0, 8));
    at = 8;
  }
  while (at < bytes.byteLength) {
    const view = new DataView(bytes.buffer, bytes.byteOffset + at);
    const whole =
      bytes.byteLength - at >= frameHeaderBytes ? frameHeaderBytes + view.getUint32(3) + 1 : Infinity;
    const end = Math.min(at + whole, bytes.byteLength);
    frames.push(bytes.slice(at, end));
    at = end;
  }
  return frames;
}

function value(w: Walker, tag: number): void {
  switch (String.fromCharCode(tag)) {
    case 't':
    case 'b':
    case 'B':
      w.skip(1);
      return;
    case 's':
    case 'u':
      w.skip(2);
      return;
    case 'I':
    case 'i':
    case 'f':
      w.skip(4);
      return;
    case 'l':
    case 'L':
    case 'd':
    case 'T':
      w.skip(8);
      return;
    case 'D':
      w.skip(5);
      return;
    case 'S':
    case 'x':
      w.skip(w.fixed('u32', 'length'));
      return;
    case 'F':
      table(w);
      return;
    case 'A': {
      const end = w.at + w.fixed('u32', 'length');
      while (w.at < end) value(w, w.fixed('u8', 'value'));
      return;
    }
    default:
      return;
  }
}

function table(w: Walker): void {
  const end = w.at + w.fixed('u32', 'length');
  while (w.at < end) {
    w.skip(w.fixed('u8', 'length'));
    value(w, w.fixed('u8', 'value'));
  }
}

function argument(w: Walker, type: string): void {
  switch (type) {
    case 'octet':
      return void w.fixed('u8', 'value');
    case 'short':
      return void w.fixed('u16', 'value');
    case 'long':
      return void w.fixed('u32', 'value');
    case 'longlong':
    case 'timestamp':
      return void w.fixed('u64', 'value');
    case 'shortstr':
      w.skip(w.fixed('u8', 'length'));
      return;
    case 'longstr':
      w.skip(w.fixed('u32', 'length'));
      return;
    case 'table':
      table(w);
      return;
    default:
      return;
  }
}

function methodFields(w: Walker): void {
  const classId = w.fixed('u16', 'value');
  const methodId = w.fixed('u16', 'value');
  const types = argumentTypes.get((classId << 16) | methodId) ?? [];
  let bits = 0;
  for (const type of types) {
    if (type === 'bit') {
      if (bits++ % 8 === 0) w.fixed('u8', 'value');
      continue;
    }
    bits = 0;
    argument(w, type);
  }
}

function headerFields(w: Walker): void {
  w.fixed('u16', 'value'); // class
  w.fixed('u16', 'value'); // weight
  w.fixed('u64', 'length'); // body size
  const flags = w.fixed('u16', 'value');
  propertyTypes.forEach((type, i) => {
    if (flags & (1 << (15 - i))) argument(w, type);
  });
}

export const amqpDialect: Dialect = {
  name: 'amqp',
  split,
  context: () => undefined,
  fields(frame) {
    if (isProtocolHeader(frame))
      return [4, 5, 6, 7]
        .filter((at) => at < frame.byteLength)
        .map((at) => ({ at, width: 1, kind: 'u8', role: 'value' }));
    return walked(new FieldWalker(frame, 0, Math.max(0, frame.byteLength - 1)), (w) => {
      const type = w.fixed('u8', 'value');
      w.fixed('u16', 'value'); // channel
      w.fixed('u32', 'length');
      if (type === 1) methodFields(w);
      else if (type === 2) headerFields(w);
    });
  },
  repair(frame) {
    if (isProtocolHeader(frame) || frame.byteLength < frameHeaderBytes + 1) return frame;
    const out = frame.slice();
    new DataView(out.buffer).setUint32(3, out.byteLength - frameHeaderBytes - 1);
    out[out.byteLength - 1] = frameEnd;
    return out;
  },
  opening(frames) {
    // Header, start-ok, tune-ok, connection.open: everything before the first channel frame.
    const first = frames.findIndex((f, i) => i > 0 && !isProtocolHeader(f) && (f[1] !== 0 || f[2] !== 0));
    return first === -1 ? Math.min(frames.length, 4) : first;
  },
};
