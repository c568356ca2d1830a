/** Frame parsing and encoding (spec 4.2.2 protocol header, 4.2.3 frames, 4.2.6 content). */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { AmqpCodecError } from '../../src/protocols/amqp/codec/errors.js';
import {
  checkProtocolHeader,
  decodeContentHeader,
  encodeBodyFrames,
  encodeContent,
  encodeHeaderFrame,
  encodeHeartbeatFrame,
  encodeMethodFrame,
  type Frame,
  frameOverheadBytes,
  parseFrame,
  parseFrames,
  protocolHeader,
} from '../../src/protocols/amqp/codec/frame.js';
import { frameMinBytes, type Method } from '../../src/protocols/amqp/codec/generated.js';

const utf8 = new TextEncoder();
const ack: Method = { name: 'basic.ack', fields: { deliveryTag: 1, multiple: false } };
const deliver: Method = {
  name: 'basic.deliver',
  fields: { consumerTag: 'c', deliveryTag: 1, redelivered: false, exchange: '', routingKey: 'q' },
};

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

function frameErrorWith(replyCode: number) {
  return (err: unknown): boolean => err instanceof AmqpCodecError && err.replyCode === replyCode;
}

describe('protocol header', () => {
  test('accepts AMQP 0-9-1, waits on a prefix, refuses other versions and protocols', () => {
    assert.equal(checkProtocolHeader(Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 0, 0, 9, 1)), 'ok');
    assert.equal(checkProtocolHeader(protocolHeader.subarray(0, 5)), 'incomplete');
    assert.equal(checkProtocolHeader(new Uint8Array()), 'incomplete');
    assert.equal(checkProtocolHeader(Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 1, 1, 0, 9)), 'unsupported');
    assert.equal(checkProtocolHeader(Uint8Array.of(0x41, 0x4d, 0x51, 0x50, 0, 1, 0, 0)), 'unsupported');
    assert.equal(checkProtocolHeader(utf8.encode('GET / HTTP/1.1')), 'unsupported');
  });
});

describe('frame parsing', () => {
  test('a method frame, spelled out', () => {
    const wire = Uint8Array.of(1, 0, 5, 0, 0, 0, 13, 0, 60, 0, 80, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0xce);
    assert.deepEqual(encodeMethodFrame(5, ack, frameMinBytes), wire);
    assert.deepStrictEqual(parseFrame(wire, frameMinBytes), {
      frame: { kind: 'method', channel: 5, method: ack },
      bytes: wire.byteLength,
    });
  });

  test('waits for more bytes at every split point', () => {
    const wire = encodeMethodFrame(1, deliver, frameMinBytes);
    for (let cut = 0; cut < wire.byteLength; cut++) {
      assert.equal(parseFrame(wire.subarray(0, cut), frameMinBytes), undefined, `cut at ${cut}`);
    }
  });

  test('a bad frame end is 501', () => {
    const wire = encodeHeartbeatFrame();
    wire[7] = 0xcd;
    assert.throws(() => parseFrame(wire, frameMinBytes), frameErrorWith(501));
  });

  test('a frame over the limit is 501 as soon as its header arrives', () => {
    const header = Uint8Array.of(3, 0, 1, 0, 0, 0x10, 0x00);
    assert.throws(() => parseFrame(header, frameMinBytes), frameErrorWith(501));
    const fits = Uint8Array.of(3, 0, 1, 0, 0, 0x0f, 0xf8);
    assert.equal(parseFrame(fits, frameMinBytes), undefined);
  });

  test('unknown frame types and heartbeats off channel 0 are 501', () => {
    assert.throws(
      () => parseFrame(Uint8Array.of(4, 0, 0, 0, 0, 0, 0, 0xce), frameMinBytes),
      frameErrorWith(501),
    );
    assert.throws(
      () => parseFrame(Uint8Array.of(8, 0, 1, 0, 0, 0, 0, 0xce), frameMinBytes),
      frameErrorWith(501),
    );
    assert.throws(
      () => parseFrame(Uint8Array.of(8, 0, 0, 0, 0, 0, 1, 7, 0xce), frameMinBytes),
      frameErrorWith(501),
    );
  });

  test('a content header for a class without content is 503, a non-zero weight 502', () => {
    assert.throws(
      () => decodeContentHeader(Uint8Array.of(0, 50, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
      frameErrorWith(503),
    );
    assert.throws(
      () => decodeContentHeader(Uint8Array.of(0, 60, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
      frameErrorWith(502),
    );
  });

  test('parseFrames takes whole frames and leaves a partial one', () => {
    const first = encodeMethodFrame(1, ack, frameMinBytes);
    const second = encodeHeartbeatFrame();
    const third = encodeMethodFrame(2, deliver, frameMinBytes);
    const wire = concat(first, second, third.subarray(0, 5));
    const parsed = parseFrames(wire, frameMinBytes);
    assert.equal(parsed.frames.length, 2);
    assert.equal(parsed.bytes, first.byteLength + second.byteLength);
    assert.deepEqual(parsed.frames[1], { kind: 'heartbeat', channel: 0 });
    assert.equal(parseFrames(concat(first, first, first), frameMinBytes, 2).frames.length, 2);
  });
});

describe('frame encoding', () => {
  test('content splits the body into frames of at most frame-max bytes', () => {
    const body = Uint8Array.from({ length: 10_000 }, (_, i) => i % 251);
    const wire = encodeContent(7, deliver, { contentType: 'application/octet-stream' }, body, frameMinBytes);
    const { frames, bytes } = parseFrames(wire, frameMinBytes);
    assert.equal(bytes, wire.byteLength);
    assert.deepEqual(
      frames.map((f) => f.kind),
      ['method', 'header', 'body', 'body', 'body'],
    );
    const bodies = frames.filter((f): f is Extract<Frame, { kind: 'body' }> => f.kind === 'body');
    const chunk = frameMinBytes - frameOverheadBytes;
    assert.deepEqual(
      bodies.map((f) => f.payload.byteLength),
      [chunk, chunk, 10_000 - 2 * chunk],
    );
    assert.deepEqual(concat(...bodies.map((f) => f.payload)), body);
    assert.deepStrictEqual(frames[1], {
      kind: 'header',
      channel: 7,
      classId: 60,
      bodySize: 10_000,
      properties: { contentType: 'application/octet-stream' },
    });
  });

  test('an empty body sends no body frame', () => {
    const { frames } = parseFrames(
      encodeContent(1, deliver, {}, new Uint8Array(), frameMinBytes),
      frameMinBytes,
    );
    assert.deepEqual(
      frames.map((f) => f.kind),
      ['method', 'header'],
    );
    assert.equal(encodeBodyFrames(1, new Uint8Array(), frameMinBytes).byteLength, 0);
  });

  test('a body of exactly one frame payload fills one frame', () => {
    const body = new Uint8Array(frameMinBytes - frameOverheadBytes);
    const wire = encodeBodyFrames(3, body, frameMinBytes);
    assert.equal(wire.byteLength, frameMinBytes);
    assert.equal(parseFrames(wire, frameMinBytes).frames.length, 1);
  });

  test('header frame spelled out', () => {
    const wire = encodeHeaderFrame(1, 5, { deliveryMode: 2 }, frameMinBytes);
    const payload = [0, 60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 5, 0x10, 0x00, 2];
    assert.deepEqual(wire, Uint8Array.of(2, 0, 1, 0, 0, 0, payload.length, ...payload, 0xce));
  });

  test('heartbeat frame and frames too large to send', () => {
    assert.deepEqual(encodeHeartbeatFrame(), Uint8Array.of(8, 0, 0, 0, 0, 0, 0, 0xce));
    const bigTable: Method = {
      name: 'connection.start',
      fields: {
        versionMajor: 0,
        versionMinor: 9,
        serverProperties: { blob: new Uint8Array(frameMinBytes) },
        mechanisms: new Uint8Array(),
        locales: new Uint8Array(),
      },
    };
    assert.throws(() => encodeMethodFrame(0, bigTable, frameMinBytes), frameErrorWith(501));
  });
});
