import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ApiKey,
  decodeApiVersionsRequest,
  decodeRequestHeader,
  decodeResponseHeader,
  encodeApiVersionsResponse,
  encodeMetadataResponse,
  FrameSplitter,
  frameRequest,
  frameResponse,
  isKafkaCodecError,
  KafkaCodecReason,
  KafkaReader,
  requestHeaderVersion,
  responseHeaderVersion,
  writeApiVersionsRequest,
} from '../../src/protocols/kafka/codec/index.js';

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const fromHex = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

describe('header versions', () => {
  it('follow each API flexibleVersions for requests', () => {
    assert.equal(requestHeaderVersion(ApiKey.ApiVersions, 0), 1);
    assert.equal(requestHeaderVersion(ApiKey.ApiVersions, 3), 2);
    assert.equal(requestHeaderVersion(ApiKey.Metadata, 8), 1);
    assert.equal(requestHeaderVersion(ApiKey.Metadata, 9), 2);
    assert.equal(requestHeaderVersion(ApiKey.SaslHandshake, 1), 1, 'SaslHandshake is never flexible');
    assert.equal(requestHeaderVersion(7, 0), 0, 'ControlledShutdown v0 has no client id');
    assert.equal(requestHeaderVersion(9999, 5), 1);
  });

  it('use response header v0 for ApiVersions even when the body is flexible (KIP-511)', () => {
    assert.equal(responseHeaderVersion(ApiKey.ApiVersions, 3), 0);
    assert.equal(responseHeaderVersion(ApiKey.Metadata, 9), 1);
    assert.equal(responseHeaderVersion(ApiKey.Metadata, 8), 0);
    assert.equal(responseHeaderVersion(ApiKey.InitProducerId, 2), 1);
  });
});

describe('request and response frames', () => {
  it('reads a librdkafka-style ApiVersions v3 request: header v2 with an int16 client id', () => {
    const frame = frameRequest(
      { requestApiKey: 18, requestApiVersion: 3, correlationId: 1, clientId: 'rdkafka' },
      (w) =>
        writeApiVersionsRequest(w, { clientSoftwareName: 'librdkafka', clientSoftwareVersion: '2.0.2' }, 3),
    );
    const expectedHeader = `00120003000000010007${Buffer.from('rdkafka').toString('hex')}00`;
    assert.equal(hex(frame.subarray(4, 4 + expectedHeader.length / 2)), expectedHeader);
    const frames = new FrameSplitter(1024).push(frame);
    assert.equal(frames.length, 1);
    const r = new KafkaReader(frames[0]!);
    const header = decodeRequestHeader(r);
    assert.deepEqual(header, {
      requestApiKey: 18,
      requestApiVersion: 3,
      correlationId: 1,
      clientId: 'rdkafka',
    });
    assert.equal(decodeApiVersionsRequest(r, 3).clientSoftwareName, 'librdkafka');
    assert.equal(r.remaining, 0);
  });

  it('reads a header v1 request with a null client id', () => {
    const r = new KafkaReader(fromHex('0003000000000009ffff'));
    assert.deepEqual(decodeRequestHeader(r), {
      requestApiKey: 3,
      requestApiVersion: 0,
      correlationId: 9,
      clientId: null,
    });
  });

  it('writes the ApiVersions v3 response without a header tag byte', () => {
    const body = encodeApiVersionsResponse({ apiKeys: [] }, 3);
    const frame = frameResponse(ApiKey.ApiVersions, 3, 42, (w) => w.writeRaw(body));
    assert.equal(hex(frame), `${(4 + body.length).toString(16).padStart(8, '0')}0000002a${hex(body)}`);
    const r = new KafkaReader(frame, 4);
    assert.deepEqual(decodeResponseHeader(r, 0), { correlationId: 42 });
  });

  it('writes a tag byte after the correlation id for flexible responses', () => {
    const body = encodeMetadataResponse({}, 9);
    const frame = frameResponse(ApiKey.Metadata, 9, 1, (w) => w.writeRaw(body));
    assert.equal(hex(frame.subarray(4, 9)), '0000000100');
    assert.equal(frame.length, 9 + body.length);
  });
});

describe('FrameSplitter', () => {
  const frameOf = (payload: number[]): number[] => [0, 0, 0, payload.length, ...payload];

  it('returns several frames from one chunk, in order', () => {
    const frames = new FrameSplitter(100).push(
      Uint8Array.from([...frameOf([1, 2]), ...frameOf([]), ...frameOf([3])]),
    );
    assert.deepEqual(
      frames.map((f) => [...f]),
      [[1, 2], [], [3]],
    );
  });

  it('assembles a frame delivered one byte at a time', () => {
    const splitter = new FrameSplitter(100);
    const bytes = [...frameOf([5, 6, 7]), ...frameOf([8])];
    const out: number[][] = [];
    for (const b of bytes) out.push(...splitter.push(Uint8Array.of(b)).map((f) => [...f]));
    assert.deepEqual(out, [[5, 6, 7], [8]]);
    assert.equal(splitter.bufferedBytes, 0);
  });

  it('keeps a partial frame buffered', () => {
    const splitter = new FrameSplitter(100);
    assert.deepEqual(splitter.push(Uint8Array.from([0, 0, 0, 3, 1])), []);
    assert.equal(splitter.bufferedBytes, 5);
    assert.deepEqual(
      splitter.push(Uint8Array.from([2, 3])).map((f) => [...f]),
      [[1, 2, 3]],
    );
  });

  it('refuses a frame larger than frameBytesMax before buffering it', () => {
    assert.throws(
      () => new FrameSplitter(16).push(Uint8Array.from([0, 0, 0, 17])),
      (e) => isKafkaCodecError(e) && e.reason === KafkaCodecReason.frameTooLarge,
    );
    assert.throws(
      () => new FrameSplitter(16).push(Uint8Array.from([0xff, 0xff, 0xff, 0xff])),
      (e) => isKafkaCodecError(e) && e.reason === KafkaCodecReason.malformed,
    );
  });
});

/** A frame of `bytes` whose request header names `apiKey`, the rest filled from `seed`. */
const frameBytes = (apiKey: number, bytes: number, seed: number): Buffer => {
  const frame = Buffer.alloc(4 + bytes);
  frame.writeInt32BE(bytes, 0);
  for (let i = 6; i < frame.length; i++) frame[i] = (seed + i * 7) & 0xff;
  if (bytes >= 2) frame.writeInt16BE(apiKey, 4);
  return frame;
};

/** Lends buffers for frames of `minBytes` or more with api key 0; a partial frame only a free one. */
const pool = (minBytes: number) => {
  const stats = { allocated: 0, reused: 0 };
  const free: Buffer[] = [];
  const lend = (size: number, apiKey: number, whole: boolean): Buffer | undefined => {
    if (apiKey !== 0 || size < minBytes) return undefined;
    const i = free.findIndex((b) => b.length >= size);
    if (i >= 0) {
      stats.reused++;
      return free.splice(i, 1)[0]!.subarray(0, size);
    }
    if (!whole) return undefined;
    stats.allocated++;
    return Buffer.alloc(size);
  };
  const giveBack = (frame: Uint8Array) => {
    if (frame.byteLength >= minBytes)
      free.push(Buffer.from(frame.buffer, frame.byteOffset, frame.byteLength));
  };
  return { stats, lend, giveBack };
};

describe('FrameSplitter over a shared read buffer', () => {
  it('frames come out intact though the read buffer is overwritten after each push, large ones read in place', () => {
    const { stats, lend, giveBack } = pool(1000);
    const splitter = new FrameSplitter(1 << 20, lend);
    const sizes = [3000, 20, 5000, 0, 1, 2500, 2500, 7, 4000, 3000, 64, 6000];
    const sent = sizes.map((size, i) => frameBytes(i % 3 === 2 ? 3 : 0, size, i));
    const stream = Buffer.concat(sent);
    const scratch = Buffer.alloc(700);
    const received: Buffer[] = [];
    let inPlace = 0;
    let at = 0;
    for (let step = 0; at < stream.length && step < 10_000; step++) {
      // As the socket does: into the frame being read when there is one, else into the shared buffer.
      const target = splitter.readTarget();
      const into = target ?? scratch;
      const n = Math.min(into.length, stream.length - at, 1 + ((step * 131) % 700));
      stream.copy(into, 0, at, at + n);
      at += n;
      if (target !== undefined) inPlace++;
      for (const frame of splitter.push(into.subarray(0, n), true)) {
        received.push(Buffer.from(frame));
        giveBack(frame);
      }
      scratch.fill(0xee);
    }
    assert.equal(at, stream.length);
    assert.deepEqual(
      received,
      sent.map((f) => f.subarray(4)),
    );
    assert.equal(splitter.bufferedBytes, 0);
    assert.ok(inPlace > 0, 'some reads landed in the frame being read');
    assert.ok(stats.reused > 0, 'lent buffers were reused');
  });

  it('a large frame announced, with no buffer free, allocates nothing: its bytes are kept as they come', () => {
    const { stats, lend } = pool(1000);
    const splitter = new FrameSplitter(1 << 20, lend);
    const frame = frameBytes(0, 100_000, 1);
    const scratch = Buffer.alloc(4096);
    frame.copy(scratch, 0, 0, 4096);
    assert.deepEqual(splitter.push(scratch, true), []);
    assert.equal(stats.allocated, 0);
    assert.equal(splitter.readTarget(), undefined);
    assert.equal(splitter.bufferedBytes, 4096);
    scratch.fill(0);
    const rest = frame.subarray(4096);
    const frames = splitter.push(rest, true);
    assert.equal(frames.length, 1);
    assert.deepEqual(Buffer.from(frames[0]!), frame.subarray(4));
    assert.equal(stats.allocated, 1, 'once whole, it is assembled in a lent buffer');
  });
});
