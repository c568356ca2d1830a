import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { endP50, held, P50Floor, p50BoundMs } from '../../bench/step-acceptance.js';

/** A run's latencies: `count` messages, the first `flat` share at `ms`, the rest rising by `riseMs` each. */
function run(count: number, ms: number, flatShare: number, riseMs: number): Float64Array {
  const latency = new Float64Array(count);
  const flat = Math.floor(count * flatShare);
  for (let i = 0; i < count; i++) latency[i] = i < flat ? ms : ms + (i - flat) * riseMs;
  return latency;
}

describe('latency bench: when the step search takes a rate as sustained', () => {
  it('keeps the bound at the lowest p50 seen, so one stalled first step does not let a backlog pass', () => {
    const floor = new P50Floor(false);
    floor.see(13.8); // the first step of the 19:51 run at load 13
    floor.see(1.08);
    assert.equal(floor.ms, 1.08);
    assert.ok(14.03 > p50BoundMs(floor.ms), 'a 14 ms p50 fails against a 1 ms floor');
    const quick = new P50Floor(true);
    quick.see(13.8);
    quick.see(1.08);
    assert.equal(quick.ms, 13.8, 'LATENCY_STEP=quick keeps the first step as before');
  });

  it('fails a run whose p50 is flat but whose end is a growing backlog', () => {
    // 80 % of the run at 1 ms, then a backlog growing by 0.01 ms a message: p50 1 ms, the end's 6 ms.
    const latency = run(5000, 1, 0.8, 0.01);
    const r = { lost: 0, p50Ms: 1, latency };
    assert.ok(endP50(latency) > 5);
    assert.equal(held(r, 1).passed, false);
    assert.equal(held({ lost: 0, p50Ms: 1, latency: run(5000, 1, 1, 0) }, 1).passed, true);
  });

  it('fails a run that lost messages, and counts the lost at the end as never back', () => {
    const latency = run(100, 1, 1, 0);
    assert.equal(held({ lost: 1, p50Ms: 1, latency }, 1).passed, false);
    latency.fill(Number.NaN, 80);
    assert.equal(endP50(latency), Number.POSITIVE_INFINITY);
  });
});
