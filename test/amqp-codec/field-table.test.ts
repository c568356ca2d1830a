/** Field tables with every RabbitMQ type tag, checked against hand-written bytes. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ByteReader, ByteWriter } from '../../src/protocols/amqp/codec/bytes.js';
import { AmqpCodecError } from '../../src/protocols/amqp/codec/errors.js';
import {
  type FieldTable,
  type FieldValue,
  fieldDepthMax,
  fieldEntriesMax,
  fieldNumber,
  plainFieldValue,
  readTable,
  Tagged,
  writeTable,
} from '../../src/protocols/amqp/codec/field-table.js';
import { bytes, type Part, sstr, u16, u32, u64 } from '../../testing/amqp-bytes.js';

/** A table's wire form: long byte length, then the entries. */
const table = (...entries: Part[]): Part => [u32(bytes(entries).byteLength), entries];

function encode(value: FieldTable): Uint8Array {
  const w = new ByteWriter();
  writeTable(w, value);
  return w.finish();
}

function decode(wire: Uint8Array): FieldTable {
  const r = new ByteReader(wire);
  const value = readTable(r);
  r.end('table');
  return value;
}

function isSyntaxError(err: unknown): boolean {
  return err instanceof AmqpCodecError && err.replyCode === 502;
}

const f64 = (n: number): Part => {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n);
  return [...new Uint8Array(view.buffer)];
};
const f32 = (n: number): Part => {
  const view = new DataView(new ArrayBuffer(4));
  view.setFloat32(0, n);
  return [...new Uint8Array(view.buffer)];
};

/** One entry per tag: the value as decoded, and its bytes after the key. */
const everyTag: [string, FieldValue, Part][] = [
  ['t', true, ['t', 1]],
  ['b', new Tagged('b', -5), ['b', 0xfb]],
  ['B', new Tagged('B', 200), ['B', 200]],
  ['s', new Tagged('s', -300), ['s', u16(0x10000 - 300)]],
  ['u', new Tagged('u', 60000), ['u', u16(60000)]],
  ['I', -100000, ['I', u32(2 ** 32 - 100000)]],
  ['i', new Tagged('i', 4_000_000_000), ['i', u32(4_000_000_000)]],
  ['l', 2 ** 40, ['l', u64(2n ** 40n)]],
  ['l-big', -(2n ** 60n), ['l', u64(2n ** 64n - 2n ** 60n)]],
  ['l-small', new Tagged('l', 3n), ['l', u64(3n)]],
  ['f', new Tagged('f', 1.5), ['f', f32(1.5)]],
  ['d', 2.25, ['d', f64(2.25)]],
  ['d-integral', new Tagged('d', 3), ['d', f64(3)]],
  ['D', new Tagged('D', 12345, 2), ['D', 2, u32(12345)]],
  ['S', 'héllo', ['S', u32(6), 'héllo']],
  ['S-binary', new Tagged('S', Uint8Array.of(0xff, 0xfe)), ['S', u32(2), 0xff, 0xfe]],
  ['A', [1, 'x', null], ['A', u32(12), 'I', u32(1), 'S', u32(1), 'x', 'V']],
  ['T', new Date(1_700_000_000_000), ['T', u64(1_700_000_000n)]],
  ['T-far', new Tagged('T', 2n ** 63n), ['T', u64(2n ** 63n)]],
  ['F', { inner: false }, ['F', table(sstr('inner'), 't', 0)]],
  ['V', null, ['V']],
  ['x', Uint8Array.of(1, 2, 3), ['x', u32(3), 1, 2, 3]],
];

describe('field tables', () => {
  test('every tag encodes as spelled out and decodes back', () => {
    for (const [key, value, wire] of everyTag) {
      const expected = bytes(table(sstr(key), wire));
      assert.deepEqual(encode({ [key]: value }), expected, `${key} encodes`);
      assert.deepStrictEqual(decode(expected), { [key]: value }, `${key} decodes`);
    }
  });

  test('one table holding every tag survives decode → encode byte for byte', () => {
    const wire = bytes(table(everyTag.map(([key, , entry]) => [sstr(key), entry])));
    assert.deepEqual(encode(decode(wire)), wire);
  });

  test('JS values pick their tag: int32 → I, wider integers and bigint → l, fractions → d', () => {
    const wire = encode({ a: 2 ** 31 - 1, b: 2 ** 31, c: 0.5, d: 2n });
    const entries = [sstr('a'), 'I', u32(2 ** 31 - 1), sstr('b'), 'l', u64(2n ** 31n)];
    assert.deepEqual(wire, bytes(table(entries, sstr('c'), 'd', f64(0.5), sstr('d'), 'l', u64(2n))));
    assert.deepStrictEqual(decode(wire), { a: 2 ** 31 - 1, b: 2 ** 31, c: 0.5, d: new Tagged('l', 2n) });
  });

  test('values written across the writer growing keep their bytes', () => {
    // The writer starts small and doubles; every value kind must land intact at every boundary.
    for (let pad = 0; pad < 300; pad++) {
      const value: FieldTable = { pad: 'p'.repeat(pad) };
      for (const [key, entry] of everyTag.map(([k, v]) => [k, v] as const)) value[key] = entry;
      assert.deepStrictEqual(decode(encode(value)), value, `pad ${pad}`);
    }
  });

  test('a __proto__ key is an ordinary entry', () => {
    const wire = bytes(table(sstr('__proto__'), 'I', u32(1)));
    const decoded = decode(wire);
    assert.equal(Object.getPrototypeOf(decoded), Object.prototype);
    assert.deepEqual(Object.keys(decoded), ['__proto__']);
    assert.deepEqual(encode(decoded), wire);
  });

  test('unknown tags, truncation and deep nesting are 502', () => {
    assert.throws(() => decode(bytes(table(sstr('k'), 'U', u16(1)))), isSyntaxError);
    assert.throws(() => decode(bytes(u32(10), sstr('k'))), isSyntaxError);
    let nested: Part = table(sstr('leaf'), 'V');
    for (let depth = 0; depth <= fieldDepthMax; depth++) nested = table(sstr('n'), 'F', nested);
    assert.throws(() => decode(bytes(nested)), isSyntaxError);
  });

  test('a table of more than fieldEntriesMax entries, nested ones counted, is 502; one of exactly that is read', () => {
    const voids = (count: number): Part => Array.from({ length: count }, () => 'V');
    const array = (count: number): Part => ['A', u32(count), voids(count)];
    // One key holding an array: 1 + (max - 1) entries are read, one more is refused.
    assert.equal(
      (decode(bytes(table(sstr('a'), array(fieldEntriesMax - 1))))['a'] as unknown[]).length,
      fieldEntriesMax - 1,
    );
    assert.throws(() => decode(bytes(table(sstr('a'), array(fieldEntriesMax)))), isSyntaxError);
    // Spread over nested tables: every table's keys count toward the one budget of the frame's table.
    const inner = (count: number): Part => [
      'F',
      table(Array.from({ length: count }, (_, i) => [sstr(`k${i}`), 'V'])),
    ];
    const half = fieldEntriesMax / 2;
    assert.throws(() => decode(bytes(table(sstr('x'), inner(half), sstr('y'), inner(half)))), isSyntaxError);
    assert.doesNotThrow(() => decode(bytes(table(sstr('x'), inner(half - 1), sstr('y'), inner(half - 1)))));
  });

  test('values that have no wire form are 502', () => {
    const bad = [undefined, () => 1, Symbol('s'), new Date(Number.NaN), new Tagged('b', 300)];
    for (const value of bad) {
      assert.throws(() => encode({ k: value as FieldValue }), isSyntaxError, String(value));
    }
  });

  test('plainFieldValue and fieldNumber drop tags for readers of arguments', () => {
    assert.equal(fieldNumber(new Tagged('s', 60)), 60);
    assert.equal(fieldNumber(new Tagged('l', 60n)), 60);
    assert.equal(fieldNumber(new Tagged('D', 125, 2)), 1.25);
    assert.equal(fieldNumber(60000), 60000);
    assert.equal(fieldNumber('60000'), undefined);
    assert.equal(fieldNumber(undefined), undefined);
    assert.deepStrictEqual(
      plainFieldValue({ a: [new Tagged('b', 1)], b: new Tagged('S', Uint8Array.of(0xff)) }),
      {
        a: [1],
        b: Uint8Array.of(0xff),
      },
    );
  });
});
