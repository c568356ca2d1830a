import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Headers, TypedNumber } from '../../src/core/types.js';
import { Tagged } from '../../src/protocols/amqp/codec/index.js';
import { toFieldTable, toHeaders } from '../../src/protocols/amqp/header-values.js';

test('non-default numeric tags become typed numbers in core and the same tags again', () => {
  const wire = {
    b: new Tagged('b', -1),
    l: new Tagged('l', 7n),
    d: new Tagged('d', 2),
    D: new Tagged('D', 5, 1),
    plain: 3,
    list: [new Tagged('u', 9)],
  };
  const core = toHeaders(wire);
  assert.deepEqual(core, {
    b: new TypedNumber('int8', -1),
    l: new TypedNumber('int64', 7),
    d: new TypedNumber('float64', 2),
    D: new TypedNumber('decimal', 5, 1),
    plain: 3,
    list: [new TypedNumber('uint16', 9)],
  });
  assert.deepEqual(toFieldTable(core), wire);
});

test('headers without typed numbers go out as they are; tags without a typed number stay plain', () => {
  const plain: Headers = { a: 1, nested: { list: ['x', 2n] } };
  assert.equal(toFieldTable(plain), plain);
  assert.deepEqual(
    toHeaders({ bad: new Tagged('S', Uint8Array.of(0xff)), far: new Tagged('T', 2n ** 63n) }),
    {
      bad: Uint8Array.of(0xff),
      far: 2n ** 63n,
    },
  );
  // A decimal AMQP cannot carry (negative unscaled value) goes out as its number.
  assert.deepEqual(toFieldTable({ n: new TypedNumber('decimal', -15, 1) }), { n: -1.5 });
});
