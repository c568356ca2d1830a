import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mergeWindows, ThreadReader, tailSched, threadTimesOf } from '../../bench/sched-stat.js';

describe('latency bench: which threads ran while the slowest messages waited', () => {
  it('merges overlapping waits so that time two slow messages share is counted once', () => {
    assert.deepEqual(
      mergeWindows([
        [5, 8],
        [0, 2],
        [1, 3],
        [8, 9],
      ]),
      [
        [0, 3],
        [5, 9],
      ],
    );
  });

  it('charges a sampled interval to the tail by the share of it the tail covers', () => {
    const names = new Map([[10, 'broker']]);
    // The broker's main thread ran 10 ms and waited 10 ms over [0, 20); its helper only in [20, 40).
    const threads = [
      { sinceMs: 0, atMs: 20, pid: 10, tid: 10, runNs: 10e6, waitNs: 10e6 },
      { sinceMs: 20, atMs: 40, pid: 10, tid: 11, runNs: 20e6, waitNs: 0 },
    ];
    const line = tailSched({ threads, runnable: [] }, names, [[0, 10]], [0, 40]);
    // Half of the main thread's interval is in the 10 ms tail: 5 ms run, 5 ms waited, 50 % each.
    assert.match(line, /broker main ran 50 \/ 25 %, waited 50 \/ 25 %/);
    assert.match(line, /broker others ran 0 \/ 50 %, waited 0 \/ 0 %/);
  });

  it('reads every thread of a live process, the main one included, by pread as by a fresh read', () => {
    const reader = new ThreadReader(process.pid);
    try {
      const sampled = reader.read();
      const fresh = threadTimesOf(process.pid);
      assert.ok(sampled.has(process.pid) && fresh.has(process.pid));
      assert.equal(sampled.size, fresh.size);
      assert.ok(fresh.get(process.pid)!.runNs >= sampled.get(process.pid)!.runNs);
    } finally {
      reader.close();
    }
  });
});
