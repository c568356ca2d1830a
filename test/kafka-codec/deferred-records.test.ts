/**
 * A streamed Fetch answer is written with each partition's records left as a slot of known size
 * (`DeferredRecords`), filled by the sender as the records are read. Filled with the same batches, it
 * must be byte for byte the answer encoded whole, whatever the version, topics, partitions, aborted
 * lists, empty partitions and errors; and bytes missing or extra in a slot never decode silently.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  ApiKey,
  DeferredRecords,
  decodeMessage,
  decodeResponseHeader,
  frameResponse,
  frameResponseStream,
  isKafkaCodecError,
  KafkaReader,
  KafkaWriter,
  kafkaApiByKey,
  RecordChunks,
  responseHeaderVersion,
  writeMessage,
} from '../../src/protocols/kafka/codec/index.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies built for the engine
type Obj = any;

const schema = kafkaApiByKey.get(ApiKey.Fetch)!.response;
const correlationId = 77;

/** Batch-like bytes: a small one (copied into the frame) and large ones (spliced), all distinct. */
function chunk(bytes: number, seed: number): Uint8Array {
  return Uint8Array.from({ length: bytes }, (_, i) => (i * 31 + seed) & 0xff);
}

interface Shape {
  readonly topic: string;
  readonly partitions: ReadonlyArray<{ errorCode: number; chunks: Uint8Array[]; aborted: number }>;
}

const shapes: Record<string, Shape[]> = {
  'one partition': [{ topic: 't', partitions: [{ errorCode: 0, chunks: [chunk(70_000, 1)], aborted: 0 }] }],
  'many partitions, aborted lists, an empty partition and errors': [
    {
      topic: 'orders',
      partitions: [
        { errorCode: 0, chunks: [chunk(300, 2), chunk(5_000, 3), chunk(100_000, 4)], aborted: 2 },
        { errorCode: 0, chunks: [], aborted: 0 },
        { errorCode: 1, chunks: [], aborted: 0 },
        { errorCode: 0, chunks: [chunk(600, 5)], aborted: 1 },
      ],
    },
    { topic: 'refused', partitions: [{ errorCode: 29, chunks: [], aborted: 0 }] },
    { topic: 'last', partitions: [{ errorCode: 0, chunks: [chunk(2_000, 6), chunk(511, 7)], aborted: 0 }] },
  ],
};

/** The Fetch body of `shape`, its records made by `records` from each partition's chunks. */
function body(shape: readonly Shape[], records: (chunks: Uint8Array[]) => RecordChunks): Obj {
  return {
    throttleTimeMs: 0,
    errorCode: 0,
    sessionId: 9,
    responses: shape.map(({ topic, partitions }) => ({
      topic,
      partitions: partitions.map((p, index) => ({
        partitionIndex: index,
        errorCode: p.errorCode,
        highWatermark: 1000n,
        lastStableOffset: 990n,
        logStartOffset: 0n,
        abortedTransactions: Array.from({ length: p.aborted }, (_, k) => ({
          producerId: BigInt(k + 5),
          firstOffset: BigInt(k * 10),
        })),
        preferredReadReplica: -1,
        records: records(p.chunks),
      })),
    })),
  };
}

/** The streamed frame with each slot filled by `fill`, joined. */
function streamed(
  shape: readonly Shape[],
  version: number,
  fill: (chunks: Uint8Array[]) => Uint8Array[],
): Buffer {
  const slots = new Map<DeferredRecords, Uint8Array[]>();
  const pieces = frameResponseStream(ApiKey.Fetch, version, correlationId, (w) =>
    writeMessage(
      w,
      schema,
      body(shape, (chunks) => {
        const slot = new DeferredRecords(chunks.reduce((n, c) => n + c.length, 0));
        slots.set(slot, chunks);
        return slot;
      }),
      version,
      true,
    ),
  );
  return Buffer.concat(
    pieces.flatMap((piece) => (piece instanceof DeferredRecords ? fill(slots.get(piece)!) : [piece])),
  );
}

function whole(shape: readonly Shape[], version: number): Buffer {
  const frame = frameResponse(ApiKey.Fetch, version, correlationId, (w) =>
    writeMessage(
      w,
      schema,
      body(shape, (chunks) => new RecordChunks(chunks)),
      version,
      true,
    ),
  );
  return Buffer.from(frame);
}

function decode(frame: Uint8Array, version: number): Obj {
  const r = new KafkaReader(frame.subarray(4));
  decodeResponseHeader(r, responseHeaderVersion(ApiKey.Fetch, version));
  const out = decodeMessage(schema, r, version);
  assert.equal(r.remaining, 0, 'nothing left after the body');
  return out;
}

describe('streamed Fetch answers (DeferredRecords)', () => {
  for (const [name, shape] of Object.entries(shapes))
    for (const version of [4, 7, 11, 12])
      it(`${name}, v${version}: filled slots give the answer encoded whole, byte for byte`, () => {
        const expected = whole(shape, version);
        const got = streamed(shape, version, (chunks) => chunks);
        assert.equal(got.readInt32BE(0), got.length - 4, 'the size prefix counts the records announced');
        assert.ok(got.equals(expected));
      });

  it('a slot filled short or long never decodes as the announced answer', () => {
    const shape = shapes['many partitions, aborted lists, an empty partition and errors']!;
    for (const version of [11, 12]) {
      const expected = decode(whole(shape, version), version);
      const short = streamed(shape, version, (chunks) =>
        chunks.map((c) => c.subarray(0, Math.max(c.length - 1, 0))),
      );
      const long = streamed(shape, version, (chunks) =>
        chunks.length === 0 ? [] : [...chunks, Uint8Array.of(0)],
      );
      for (const frame of [short, long]) {
        let decoded: Obj;
        try {
          decoded = decode(frame, version);
        } catch (err) {
          assert.ok(isKafkaCodecError(err) || err instanceof assert.AssertionError, String(err));
          continue;
        }
        assert.notDeepEqual(decoded, expected);
      }
    }
  });

  it('a streamed frame cut anywhere refuses to decode', () => {
    const shape = shapes['many partitions, aborted lists, an empty partition and errors']!;
    const frame = streamed(shape, 12, (chunks) => chunks);
    for (const cut of [5, 20, 60, 400, 6_000, frame.length - 600, frame.length - 1])
      assert.throws(
        () => decode(frame.subarray(0, cut), 12),
        (err) => isKafkaCodecError(err),
        `cut at ${cut}`,
      );
  });

  it('deferred records have no bytes to join: pieces() and finish() refuse them', () => {
    const w = new KafkaWriter();
    w.writeRecordChunks(new DeferredRecords(4096), true);
    assert.equal(w.byteLength, w.length + 4096);
    assert.throws(
      () => w.pieces(),
      (err) => isKafkaCodecError(err),
    );
    assert.throws(
      () => w.finish(),
      (err) => isKafkaCodecError(err),
    );
  });
});
