import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { headersToJson as adminJson } from '../../src/admin/json.js';
import { encodeMessage, entryFormat } from '../../src/core/message-codec.js';
import { canonicalHeaders, headersMatch, headerValueEqual } from '../../src/core/routing/index.js';
import { headersFromJson, headersToJson } from '../../src/core/state/json.js';
import { type Headers, headerList, TypedNumber } from '../../src/core/types.js';
import { batchRecords, entryAsBatch } from '../../src/protocols/kafka/entry-format.js';
import { toMqtt } from '../../src/protocols/mqtt/properties.js';

describe('TypedNumber', () => {
  test('reads as its plain value', () => {
    const short = new TypedNumber('int16', -2);
    assert.equal(String(short), '-2');
    assert.equal(short.valueOf(), -2);
    assert.equal(JSON.stringify({ short }), '{"short":-2}');
    const decimal = new TypedNumber('decimal', -5, 3);
    assert.equal(decimal.toString(), '-0.005');
    assert.equal(decimal.valueOf(), -0.005);
    assert.equal(new TypedNumber('decimal', 125, 2).toString(), '1.25');
    assert.equal(new TypedNumber('decimal', 7).toString(), '7');
    const huge = new TypedNumber('int64', 2n ** 62n);
    assert.equal(huge.valueOf(), 2n ** 62n);
    assert.equal(JSON.stringify([huge]), `["${2n ** 62n}"]`);
  });

  test('normalises so equal numbers have equal fields', () => {
    assert.deepEqual(new TypedNumber('int64', 5n), new TypedNumber('int64', 5));
    assert.deepEqual(new TypedNumber('int16', 5n), new TypedNumber('int16', 5));
    assert.equal(new TypedNumber('float32', 1.1).value, Math.fround(1.1));
    assert.equal(new TypedNumber('int8', 1, 4).scale, 0);
  });

  test('refuses values its type cannot hold', () => {
    const bad: Array<() => TypedNumber> = [
      () => new TypedNumber('int8', 128),
      () => new TypedNumber('uint8', -1),
      () => new TypedNumber('int16', 1.5),
      () => new TypedNumber('uint32', 2 ** 32),
      () => new TypedNumber('int64', 2n ** 63n),
      () => new TypedNumber('int32', Number.NaN),
      () => new TypedNumber('float64', 1n),
      () => new TypedNumber('decimal', 1.5, 1),
      () => new TypedNumber('decimal', 1, 256),
    ];
    for (const make of bad) assert.throws(make, RangeError);
  });
});

const headers: Headers = {
  short: new TypedNumber('int16', -2),
  long: new TypedNumber('int64', 2n ** 60n),
  decimal: new TypedNumber('decimal', 125, 2),
  nested: { list: [new TypedNumber('float32', 1.5)] },
};

describe('typed numbers outside AMQP', () => {
  test('stored definitions keep the type, value and scale', () => {
    const json = JSON.parse(JSON.stringify(headersToJson(headers)));
    assert.deepEqual(headersFromJson(json), headers);
    const odd: Headers = { z: new TypedNumber('float64', -0), n: new TypedNumber('float32', Number.NaN) };
    assert.deepEqual(headersFromJson(JSON.parse(JSON.stringify(headersToJson(odd)))), odd);
  });

  test('admin JSON shows the number', () => {
    assert.deepEqual(adminJson(headers), {
      short: -2,
      long: (2n ** 60n).toString(),
      decimal: 1.25,
      nested: { list: [1.5] },
    });
  });

  test('MQTT user properties and Kafka record headers get the decimal text', () => {
    const user = toMqtt({ headers: headerList(headers) }, 0).userProperties;
    assert.deepEqual(user, [
      ['short', '-2'],
      ['long', (2n ** 60n).toString()],
      ['decimal', '1.25'],
      ['nested', '{"list":[1.5]}'],
    ]);
    const payload = encodeMessage({
      exchange: '',
      routingKey: '',
      body: new Uint8Array(),
      properties: { headers: headerList(headers) },
    });
    const entry = {
      offset: 0,
      count: 1,
      timestamp: 0,
      maxTimestamp: 0,
      format: entryFormat.message,
      payload,
    };
    const [record] = batchRecords(entryAsBatch(entry)!).records;
    const text = record!.headers.map((h) => [h.key, Buffer.from(h.value!).toString()]);
    assert.deepEqual(text, user);
  });

  test('header matching and argument equivalence compare by value, whatever the width', () => {
    assert.ok(headerValueEqual(new TypedNumber('int16', 5), 5));
    assert.ok(headerValueEqual(new TypedNumber('int64', 5), new TypedNumber('uint8', 5)));
    assert.ok(headerValueEqual(new TypedNumber('decimal', 15, 1), 1.5));
    assert.ok(!headerValueEqual(new TypedNumber('int16', 5), '5'));
    assert.ok(!headerValueEqual(new TypedNumber('int16', 5), { type: 'int16', value: 5, scale: 0 }));
    assert.ok(headersMatch({ 'x-match': 'all', n: new TypedNumber('int16', 5) }, [['n', 5]]));
    assert.equal(canonicalHeaders({ n: new TypedNumber('int16', 5) }), canonicalHeaders({ n: 5 }));
  });
});
