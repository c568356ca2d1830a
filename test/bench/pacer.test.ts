import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { type PacerKind, pace, wakeSpacingMsOf } from '../../bench/pacer.js';

/** Due times `stepMs` apart from `startMs` after now (negative: already late). */
function duesFrom(startMs: number, stepMs: number, count: number): Float64Array {
  const base = performance.now() + startMs;
  return Float64Array.from({ length: count }, (_, i) => base + i * stepMs);
}

for (const kind of ['thread', 'timer'] as const satisfies readonly PacerKind[]) {
  describe(`latency bench: the generator's pacing (${kind})`, () => {
    it('sends every message once, in order, none before its due time', async () => {
      const due = duesFrom(5, 0.05, 400);
      const sent: number[] = [];
      const early: number[] = [];
      await pace(
        due,
        () => performance.now(),
        (i) => {
          if (performance.now() < due[i]!) early.push(i);
          sent.push(i);
        },
        kind,
      );
      assert.deepEqual(
        sent,
        Array.from(due, (_, i) => i),
      );
      assert.deepEqual(early, []);
    });

    it('sends messages already due at once, without waiting for answers', async () => {
      const due = duesFrom(-100, 0.01, 50);
      const sent: number[] = [];
      await pace(
        due,
        () => performance.now(),
        (i) => sent.push(i),
        kind,
      );
      assert.equal(sent.length, 50);
    });

    it('keeps to the clock it is given (epoch milliseconds, as the split peers use)', async () => {
      const epochMs = () => performance.timeOrigin + performance.now();
      const base = epochMs() + 3;
      const due = Float64Array.from({ length: 20 }, (_, i) => base + i * 0.2);
      const early: number[] = [];
      await pace(due, epochMs, (i) => epochMs() < due[i]! && early.push(i), kind);
      assert.deepEqual(early, []);
    });

    it('a stalled sending thread shows as lateness from the due time, nothing skipped', async () => {
      const due = duesFrom(5, 1, 40);
      const late: number[] = [];
      await pace(
        due,
        () => performance.now(),
        (i) => {
          late[i] = performance.now() - due[i]!;
          // The thread stalls 30 ms at the 10th message: the ones due meanwhile go out late, at once.
          if (i === 9) for (const until = performance.now() + 30; performance.now() < until; );
        },
        kind,
      );
      assert.equal(late.length, 40);
      assert.ok(late[10]! >= 29, `the message due after the stall's start waited through it (${late[10]})`);
    });

    it('returns at once for no messages', async () => {
      await pace(
        new Float64Array(0),
        () => performance.now(),
        () => assert.fail('nothing to send'),
        kind,
      );
    });
  });
}

describe("latency bench: the pacing thread's spacing setting", () => {
  it('is 0.1 ms unset, and refuses what is not a number rather than spinning a core', () => {
    assert.equal(wakeSpacingMsOf(undefined), 0.1);
    assert.equal(wakeSpacingMsOf('0.25'), 0.25);
    assert.throws(() => wakeSpacingMsOf('0.1ms'), /LATENCY_PACER_SPACING_MS/);
    assert.throws(() => wakeSpacingMsOf('-1'), /LATENCY_PACER_SPACING_MS/);
  });
});
