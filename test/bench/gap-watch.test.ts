import assert from 'node:assert/strict';
import { constants } from 'node:perf_hooks';
import { describe, it } from 'node:test';
import { gcSummary } from '../../bench/gap-watch.js';

describe("latency bench: the bench process's own collections per phase", () => {
  it('leaves out the forced collection before the phase, whose entry arrives after the phase began', () => {
    const major = constants.NODE_PERFORMANCE_GC_MAJOR;
    const minor = constants.NODE_PERFORMANCE_GC_MINOR;
    const gaps = [
      { kind: 'gc' as const, fromMs: 900, toMs: 939, gcKind: major }, // the settle's, before the phase
      { kind: 'gc' as const, fromMs: 1200, toMs: 1202, gcKind: minor },
      { kind: 'busy' as const, fromMs: 1300, toMs: 1305 },
    ];
    assert.equal(gcSummary(gaps, 1000, 6000), 'GC 1 (2 ms, max 2.0; of them full 0, 0 ms)');
  });
});
