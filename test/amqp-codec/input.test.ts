/**
 * parseInput, the server's frame parser: a basic.publish with its header and one body frame comes
 * as one record and a basic.ack as its own fields, and otherwise it reads exactly what parseFrames
 * reads (the same frames, the same bytes used, the same errors) on every input.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmqpCodecError } from '../../src/protocols/amqp/codec/errors.js';
import {
  encodeContent,
  encodeMethodFrame,
  type Frame,
  type InputFrame,
  parseFrames,
  parseInput,
} from '../../src/protocols/amqp/codec/frame.js';
import type { BasicProperties, Method } from '../../src/protocols/amqp/codec/generated.js';

const frameBytesMax = 4096;
const publish = (exchange: string, routingKey: string, mandatory = false): Method => ({
  name: 'basic.publish',
  fields: { ticket: 0, exchange, routingKey, mandatory, immediate: false },
});
const body = (n: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => i & 0xff);

function concat(...parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

/** The frames a record stands for, as parseFrames gives them. */
function expand(frame: InputFrame): Frame[] {
  if (frame.kind === 'ack') {
    const { channel, deliveryTag, multiple } = frame;
    return [{ kind: 'method', channel, method: { name: 'basic.ack', fields: { deliveryTag, multiple } } }];
  }
  if (frame.kind !== 'publish') return [frame];
  const { channel, ticket, exchange, routingKey, mandatory, immediate, properties } = frame;
  return [
    {
      kind: 'method',
      channel,
      method: { name: 'basic.publish', fields: { ticket, exchange, routingKey, mandatory, immediate } },
    },
    { kind: 'header', channel, classId: 60, bodySize: frame.body.byteLength, properties },
    { kind: 'body', channel, payload: frame.body },
  ];
}

type Outcome = { frames: unknown[]; bytes: number } | { error: number };

function outcome(parse: () => { frames: InputFrame[]; bytes: number }): Outcome {
  try {
    const { frames, bytes } = parse();
    // Compared as plain data: a frozen shared properties object equals a fresh one.
    return {
      frames: JSON.parse(
        JSON.stringify(frames.flatMap(expand), (_, v) => (v instanceof Uint8Array ? [...v] : v)),
      ),
      bytes,
    };
  } catch (err) {
    assert.ok(err instanceof AmqpCodecError);
    return { error: err.replyCode };
  }
}

function assertSameAsFrames(input: Uint8Array): void {
  assert.deepEqual(
    outcome(() => parseInput(input, frameBytesMax)),
    outcome(() => parseFrames(input, frameBytesMax)),
  );
}

const persistent: BasicProperties = { deliveryMode: 2 };
const message = (channel: number, bytes = 256, properties = persistent, method = publish('', 'q')) =>
  encodeContent(channel, method, properties, body(bytes), frameBytesMax);

describe('parseInput', () => {
  test('a publish with its header and body is one record; an ack is its own fields', () => {
    const ack = encodeMethodFrame(
      1,
      { name: 'basic.ack', fields: { deliveryTag: 7, multiple: true } },
      frameBytesMax,
    );
    const input = concat(message(1, 256, persistent, publish('ex', 'rk', true)), ack, message(2, 3, {}));
    const { frames, bytes } = parseInput(input, frameBytesMax);
    assert.equal(bytes, input.byteLength);
    assert.deepEqual(
      frames.map((f) => f.kind),
      ['publish', 'ack', 'publish'],
    );
    const first = frames[0];
    assert.ok(first?.kind === 'publish');
    assert.equal(first.exchange, 'ex');
    assert.equal(first.routingKey, 'rk');
    assert.equal(first.mandatory, true);
    assert.deepEqual(first.properties, persistent);
    assert.deepEqual([...first.body], [...body(256)]);
    assert.deepEqual(frames[1], { kind: 'ack', channel: 1, deliveryTag: 7, multiple: true });
  });

  test('what it does not join comes frame by frame, as parseFrames reads it', () => {
    const cases = {
      'body over two frames': encodeContent(1, publish('', 'q'), {}, body(5000), frameBytesMax),
      'empty body': message(1, 0),
      'properties beyond the common shapes': message(1, 10, { contentType: 'text/plain', headers: { a: 1 } }),
      'a name that is not ASCII': message(1, 10, {}, publish('', 'clé')),
      'channel 0': message(0),
      "publish, then another channel's header": concat(
        encodeMethodFrame(1, publish('', 'q'), frameBytesMax),
        message(2).subarray(encodeMethodFrame(2, publish('', 'q'), frameBytesMax).byteLength),
      ),
      'publish without its content': concat(
        encodeMethodFrame(1, publish('', 'q'), frameBytesMax),
        message(1),
      ),
    };
    for (const [name, input] of Object.entries(cases)) {
      const kinds = parseInput(input, frameBytesMax).frames.map((f) => f.kind);
      assert.ok(kinds[0] !== 'publish', name);
      assertSameAsFrames(input);
    }
  });

  test('the same frames, bytes used and errors as parseFrames at every cut and on damaged input', () => {
    const input = concat(
      message(1),
      encodeMethodFrame(1, { name: 'basic.ack', fields: { deliveryTag: 1, multiple: false } }, frameBytesMax),
      message(3, 100, {}),
      encodeContent(1, publish('', 'q'), {}, body(5000), frameBytesMax),
      message(1, 1),
    );
    for (let cut = 0; cut <= input.byteLength; cut += cut < 700 ? 1 : 97)
      assertSameAsFrames(input.subarray(0, cut));
    // framesMax counts records: a publish record is one, so its frames run ahead of parseFrames'.
    const all = outcome(() => parseFrames(input, frameBytesMax));
    for (const framesMax of [1, 2, 3]) {
      const some = parseInput(input, frameBytesMax, framesMax);
      assert.equal(some.frames.length, framesMax);
      const { frames } = outcome(() => some) as { frames: unknown[] };
      assert.deepEqual(frames, (all as { frames: unknown[] }).frames.slice(0, frames.length));
    }
    // Every byte changed in turn: a bad frame end, size, type or field fails (or reads) the same way.
    for (let at = 0; at < 320; at++) {
      for (const value of [0, 0xce, 0xff]) {
        const damaged = input.slice();
        damaged[at] = value;
        assertSameAsFrames(damaged);
      }
    }
  });

  test('a header or body frame over frame-max is refused as parseFrames refuses it', () => {
    const big = encodeContent(1, publish('', 'q'), {}, body(200), 4096);
    assert.deepEqual(
      outcome(() => parseInput(big, 128)),
      { error: 501 },
    );
    assertSameAsFrames(big);
  });
});
