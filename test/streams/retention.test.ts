import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { retentionIntervalMs } from '../../src/core/logs/index.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { openStreams } from '../../testing/stream-harness.js';

const payload = new Uint8Array(100);

describe('stream retention', () => {
  it('trims each partition to bytesMax on the retention timer, keeping the newest entries', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 2, bytesMax: 1000 });
    for (let i = 0; i < 30; i++) {
      registry.partition('s', i % 2).append(payload, { timestamp: clock.now(), format: 1 });
    }
    const p0 = registry.partition('s', 0);
    assert.equal(p0.startOffset, 0, 'nothing is trimmed before the timer runs');
    clock.advance(retentionIntervalMs);
    for (const index of [0, 1]) {
      const p = registry.partition('s', index);
      assert.ok(p.startOffset > 0, `partition ${index} was trimmed`);
      assert.ok(p.log.sizeBytes <= 1000, `partition ${index} holds at most bytesMax`);
      assert.equal(p.endOffset, 15, 'offsets are never reused');
      assert.equal(p.read(p.endOffset - 1)[0]?.offset, 14, 'the newest entry stays');
    }
    await registry.close();
  });

  it('drops entries older than ageMsMax once the clock passes them', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 1, ageMsMax: 60_000 });
    const p = registry.partition('s', 0);
    // The timer runs every 30 s from creation (t = 30, 60, 90, 120 s).
    p.append(payload, { timestamp: clock.now(), format: 1 });
    clock.advance(50_000);
    p.append(payload, { timestamp: clock.now(), format: 1 });
    clock.advance(10_000);
    assert.equal(p.startOffset, 0, 'at 60 s the first entry is not older than ageMsMax yet');
    clock.advance(30_000);
    assert.equal(p.startOffset, 1, 'at 90 s the first entry goes, the 40 s old second stays');
    clock.advance(30_000);
    assert.equal(p.startOffset, 2, 'at 120 s the second entry goes too');
    assert.equal(p.endOffset, 2);
    await registry.close();
  });

  it('leaves streams without bounds alone and stops its timer on close', async () => {
    const { registry, clock } = await openStreams(new MemoryStorage());
    await registry.create('s', { partitions: 1 });
    registry.partition('s', 0).append(payload, { timestamp: clock.now(), format: 1 });
    clock.advance(retentionIntervalMs * 10);
    assert.equal(registry.partition('s', 0).startOffset, 0);
    await registry.close();
    assert.equal(clock.pending, 0);
  });
});
