import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ApiKey,
  encodeUsualProduceResponse,
  frameResponsePieces,
  KafkaReader,
  KafkaWriter,
  produceResponseSchema,
  writeMessage,
} from '../../src/protocols/kafka/codec/index.js';

/** The frame the schema writer makes for `body`, joined. */
function bySchema(correlationId: number, version: number, body: object): Buffer {
  const pieces = frameResponsePieces(ApiKey.Produce, version, correlationId, (w) =>
    writeMessage(w, produceResponseSchema, body, version, true),
  );
  return Buffer.concat(pieces);
}

const partition = (extra: object = {}) => ({
  index: 3,
  errorCode: 0,
  baseOffset: 123_456_789_012n,
  logAppendTimeMs: -1n,
  logStartOffset: 7n,
  ...extra,
});
const body = (name: string, p: object, extra: object = {}) => ({
  responses: [{ name, partitionResponses: [p] }],
  ...extra,
});

describe('the usual Produce response written by hand', () => {
  const shapes: Array<[string, object]> = [
    ['plain', body('orders', partition())],
    [
      'LogAppendTime and an error code',
      body('t', partition({ logAppendTimeMs: 1_733_000_000_000n, errorCode: 0 })),
    ],
    ['throttled (an alarm held it)', body('a.b-c_d', partition(), { throttleTimeMs: 250 })],
    ['defaults left out', body('x', { index: 0, errorCode: 0, baseOffset: 0n })],
    [
      'an empty record error list and a null message',
      body('x', partition({ recordErrors: [], errorMessage: null })),
    ],
    ['a 126-byte name', body('n'.repeat(126), partition())],
    [
      'the int64s at their edges',
      body(
        'e',
        partition({
          baseOffset: 2n ** 53n - 1n,
          logAppendTimeMs: -(2n ** 53n) + 1n,
          logStartOffset: 2n ** 32n,
        }),
      ),
    ],
    [
      'int64s past doubles',
      body(
        'e',
        partition({
          baseOffset: 2n ** 63n - 1n,
          logAppendTimeMs: -(2n ** 63n),
          logStartOffset: 2n ** 53n + 1n,
        }),
      ),
    ],
    [
      'small negatives',
      body('e', partition({ baseOffset: -1n, logAppendTimeMs: -2n, logStartOffset: -(2n ** 32n) - 1n })),
    ],
  ];
  for (const [what, b] of shapes) {
    it(`is the schema writer's bytes for every version: ${what}`, () => {
      for (let version = 0; version <= 12; version++) {
        const hand = encodeUsualProduceResponse(0x01020304, version, b);
        assert.ok(hand !== undefined, `v${version} written by hand`);
        assert.equal(hand.toString('hex'), bySchema(0x01020304, version, b).toString('hex'), `v${version}`);
      }
    });
  }

  it('leaves every other shape to the schema writer', () => {
    const others: object[] = [
      body('x', partition({ recordErrors: [{ batchIndex: 0, batchIndexErrorMessage: 'no key' }] })),
      body('x', partition({ errorMessage: 'One or more records have been rejected' })),
      body('x', { index: 0, errorCode: 3 }),
      body('ünïcode', partition()),
      body('n'.repeat(127), partition()),
      { responses: [] },
      { responses: [{ name: 'a', partitionResponses: [partition(), partition()] }] },
      { responses: [body('a', partition()).responses[0], body('b', partition()).responses[0]] },
    ];
    for (const b of others)
      assert.equal(
        encodeUsualProduceResponse(1, 7, b),
        undefined,
        JSON.stringify(b, (_, v) => (typeof v === 'bigint' ? `${v}` : v)),
      );
    assert.equal(
      encodeUsualProduceResponse(1, 13, body('x', partition())),
      undefined,
      'v13 names topics by id',
    );
  });
});

describe('strings read again', () => {
  it('decode to the same text whether seen before or not, across slot collisions', () => {
    const names = Array.from({ length: 300 }, (_, i) => `topic-${i % 150}-${'é'.repeat(i % 3)}`);
    names.push('', 'a', '\u{1F600}', 'x'.repeat(64), 'y'.repeat(65));
    for (let round = 0; round < 3; round++) {
      for (const name of names) {
        const w = new KafkaWriter();
        w.writeString(name, false);
        w.writeString(name, true);
        const r = new KafkaReader(w.finish());
        assert.equal(r.readString(false), name);
        assert.equal(r.readString(true), name);
      }
    }
  });

  it('do not hand back an earlier string for bytes reused under it', () => {
    const bytes = Buffer.from('\x00\x05hello');
    assert.equal(new KafkaReader(bytes).readString(false), 'hello');
    bytes.write('jelly', 2, 'latin1');
    assert.equal(new KafkaReader(bytes).readString(false), 'jelly');
    bytes[2] = 0xff; // not UTF-8: replaced as TextDecoder does
    assert.equal(new KafkaReader(bytes).readString(false), '\uFFFDelly');
  });
});
