import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { registerEntryFormat, unregisterEntryFormat } from '../../src/core/logs/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { LogEntry } from '../../src/storage/types.js';
import { bodyText, offsetOf, openStreams, recordingConsumer, settle } from '../../testing/stream-harness.js';

/** A stand-in for an adapter's batch format: one message per payload byte, the byte as body. */
const byteBatch = 200;
const unknownFormat = 201;
const brokenFormat = 202;

function byteBatchMessages(entry: LogEntry) {
  return [...entry.payload].map((byte, i) => ({
    offset: entry.offset + i,
    message: {
      exchange: '',
      routingKey: 'batch',
      body: new TextEncoder().encode(`b${byte}`),
      properties: {},
    },
  }));
}

registerEntryFormat(byteBatch, byteBatchMessages);
registerEntryFormat(brokenFormat, () => {
  throw new Error('corrupt batch');
});
after(() => {
  unregisterEntryFormat(byteBatch);
  unregisterEntryFormat(brokenFormat);
});

async function withBatches() {
  const { registry, clock } = await openStreams(new MemoryStorage());
  await registry.create('s', { partitions: 1 });
  const queue = registry.asQueue('s', { kind: 'stream' });
  const p = registry.partition('s', 0);
  const append = (format: number, payload: number[]) =>
    p.append(new Uint8Array(payload), { count: payload.length, timestamp: clock.now(), format });
  append(byteBatch, [10, 11, 12]); // offsets 0-2
  append(unknownFormat, [0, 0]); // offsets 3-4
  append(brokenFormat, [0]); // offset 5
  append(byteBatch, [13]); // offset 6
  return { registry, queue };
}

describe('entry format converters', () => {
  it('turns registered formats into messages and skips unknown or broken entries with their offsets', async () => {
    const { registry, queue } = await withBatches();
    const consumer = recordingConsumer('c', { offset: 'first' });
    queue.consume(consumer.options);
    await settle();
    assert.deepEqual(
      consumer.deliveries.map((d) => [offsetOf(d), bodyText(d)]),
      [
        [0, 'b10'],
        [1, 'b11'],
        [2, 'b12'],
        [6, 'b13'],
      ],
    );
    await registry.close();
  });

  it('starts inside a batch at the requested offset', async () => {
    const { registry, queue } = await withBatches();
    const consumer = recordingConsumer('c', { offset: { offset: 1 } });
    queue.consume(consumer.options);
    await settle();
    assert.deepEqual(consumer.deliveries.map(offsetOf), [1, 2, 6]);
    await registry.close();
  });

  it("'last' starts at the first offset of the newest batch", async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 1 });
    const queue = registry.asQueue('s', { kind: 'stream' });
    registry
      .partition('s', 0)
      .append(new Uint8Array([1, 2, 3]), { count: 3, timestamp: clock.now(), format: byteBatch });
    const consumer = recordingConsumer('c', { offset: 'last' });
    queue.consume(consumer.options);
    await settle();
    assert.deepEqual(consumer.deliveries.map(offsetOf), [0, 1, 2]);
    await registry.close();
  });

  it('refuses to replace the built-in message format', () => {
    assert.throws(() => registerEntryFormat(1, () => []));
    assert.throws(() => registerEntryFormat(256, () => []));
  });
});
