/**
 * The frame reader (src/protocols/mqtt/codec/framing.ts): whole packets out of a byte stream however
 * it is cut into reads, and the size limit and malformed lengths found from the fixed header alone.
 */
import assert from 'node:assert/strict';
import { Buffer } from 'node:buffer';
import { test } from 'node:test';
import mqttPacket, { type Packet } from 'mqtt-packet';
import { FrameReader } from '../../src/protocols/mqtt/codec/framing.js';

const packets: Packet[] = [
  {
    cmd: 'publish',
    topic: 'a/b',
    payload: Buffer.alloc(300, 1),
    qos: 1,
    messageId: 7,
    dup: false,
    retain: false,
  },
  { cmd: 'puback', messageId: 7 },
  { cmd: 'pingreq' },
  { cmd: 'publish', topic: 'c', payload: Buffer.alloc(20_000, 2), qos: 0, dup: false, retain: false },
  { cmd: 'pubrel', messageId: 9 },
];
const encoded = packets.map((p) => mqttPacket.generate(p, { protocolVersion: 4 }));
const stream = Buffer.concat(encoded);

function readAll(reader: FrameReader, reads: Buffer[]): Buffer[] {
  const out: Buffer[] = [];
  for (const read of reads) {
    const result = reader.push(read);
    assert.equal(result.kind, 'frames');
    out.push(...result.frames.map((f) => Buffer.from(f)));
  }
  return out;
}

test('the same packets come out however the stream is cut into reads', () => {
  // One read, cuts at every byte of the small packets and a few in the large one, and reads of 1 byte.
  const cuts = [0, 1, 2, 3, 5, 100, 305, 306, 307, 308, 309, 311, 312, 5000, stream.length - 3];
  for (const cut of cuts) {
    const frames = readAll(new FrameReader(1 << 20), [stream.subarray(0, cut), stream.subarray(cut)]);
    assert.deepEqual(frames, encoded, `cut at ${cut}`);
  }
  const bytes = Array.from({ length: 400 }, (_, i) => stream.subarray(i, i + 1));
  const reader = new FrameReader(1 << 20);
  const frames = readAll(reader, [...bytes, stream.subarray(400)]);
  assert.deepEqual(frames, encoded);
  assert.equal(reader.bufferedBytes, 0);
});

test('a packet over the limit or a length of five bytes is an error; the packets before it still come out', () => {
  const tooLarge = new FrameReader(1000).push(stream);
  assert.equal(tooLarge.kind, 'error');
  assert.equal(tooLarge.frames.length, 3);
  const malformed = new FrameReader(1000).push(
    Buffer.concat([encoded[1]!, Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]),
  );
  assert.equal(malformed.kind, 'error');
  assert.equal(malformed.frames.length, 1);
  // The same after a partial packet held from an earlier read.
  const reader = new FrameReader(1000);
  assert.deepEqual(reader.push(encoded[1]!.subarray(0, 2)).frames, []);
  const later = reader.push(
    Buffer.concat([encoded[1]!.subarray(2), Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])]),
  );
  assert.equal(later.kind, 'error');
  assert.equal(later.frames.length, 1);
});
