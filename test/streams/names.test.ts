import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { partitionLogName } from '../../src/core/logs/names.js';
import { stateLogName, statePrefixOf } from '../../src/core/state/names.js';

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

  it('names state logs safely, one per object, and tells their kind from the name', () => {
    const seen = new Set<string>();
    for (const vhost of ['/', 'a', 'a.b', 'x'.repeat(255)]) {
      for (const name of ['g', 'b.c', 'a_2eb', 'ünïcode ✓', 'y'.repeat(255)]) {
        const log = stateLogName('group', vhost, name);
        assert.match(log, storageName);
        assert.ok(!seen.has(log), `${log} is unique`);
        seen.add(log);
        assert.equal(statePrefixOf(log), 'group');
      }
    }
    assert.notEqual(stateLogName('session', 'a', 'b.c'), stateLogName('session', 'a.b', 'c'));
    assert.equal(statePrefixOf(stateLogName('retained', 'x'.repeat(255))), 'retained');
    assert.equal(statePrefixOf(partitionLogName('/', 'group', 0)), undefined);
    assert.equal(statePrefixOf('defs'), undefined);
  });
});
