import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { offsetKey, offsetKeyPrefix, partitionLogName, streamKey } from '../../src/core/logs/names.js';

const storageName = /^[A-Za-z0-9._-]{1,200}$/;

describe('stream storage names', () => {
  it('produces storage-safe log names for any vhost and stream name', () => {
    const names = ['/', 'orders', 'a.b', 'a_2eb', 'ünïcode ✓', 'x'.repeat(255), '../../etc'];
    const seen = new Set<string>();
    for (const vhost of ['/', 'prod.eu']) {
      for (const stream of names) {
        const name = partitionLogName(vhost, stream, 3);
        assert.match(name, storageName);
        assert.ok(!seen.has(name), `${name} is unique`);
        seen.add(name);
      }
    }
  });

  it('keeps names that differ only by escaping apart', () => {
    assert.notEqual(partitionLogName('a', 'b.c', 0), partitionLogName('a.b', 'c', 0));
    assert.notEqual(partitionLogName('/', 'a.b', 0), partitionLogName('/', 'a_2eb', 0));
  });

  it('keeps keys of one vhost or group out of another prefix', () => {
    assert.ok(!streamKey('a/b', 'c').startsWith(`stream/${encodeURIComponent('a')}/`));
    assert.ok(!offsetKey('/', 'g/x', 's', 0).startsWith(offsetKeyPrefix('/', 'g')));
    assert.ok(offsetKey('/', 'g', 's', 0).startsWith(offsetKeyPrefix('/', 'g')));
  });
});
