/**
 * The byte rate of the compaction thread's file I/O (Kafka's log.cleaner.io.max.bytes.per.second): a
 * thread ahead of the rate sleeps until it is not; an idle spell earns no burst.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { IoThrottle } from '../../src/storage/file/throttle.js';

const mebibyte = 1024 * 1024;

/** A throttle on a clock that only its sleeps (and `idle`) move. */
function paced(rate: number) {
  let now = 1000;
  const sleeps: number[] = [];
  const throttle = new IoThrottle(
    rate,
    () => now,
    (ms) => {
      sleeps.push(ms);
      now += ms;
    },
  );
  return { throttle, sleeps, idle: (ms: number) => (now += ms), now: () => now };
}

test('I/O ahead of the rate waits until the rate allows it', () => {
  const { throttle, sleeps, now } = paced(4 * mebibyte);
  const start = now();
  for (let i = 0; i < 8; i++) throttle.spend(mebibyte);
  // 8 MiB at 4 MiB/s: 2 s, a quarter of a second after each chunk.
  assert.equal(now() - start, 2000);
  assert.deepEqual(sleeps, Array(8).fill(250));
});

test('an idle spell earns at most a moment of unpaced I/O', () => {
  const { throttle, sleeps, idle } = paced(mebibyte);
  throttle.spend(mebibyte);
  idle(60_000);
  sleeps.length = 0;
  throttle.spend(mebibyte);
  throttle.spend(mebibyte);
  assert.ok(sleeps.length === 2 && sleeps[0]! > 950 && sleeps[1] === 1000, String(sleeps));
});

test('no limit never sleeps; a new rate applies from then on', () => {
  const { throttle, sleeps } = paced(0);
  for (let i = 0; i < 100; i++) throttle.spend(64 * mebibyte);
  assert.deepEqual(sleeps, []);
  throttle.bytesPerSecondMax = 2 * mebibyte;
  throttle.spend(mebibyte);
  assert.deepEqual(sleeps, [500]);
});
