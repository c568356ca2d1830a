/**
 * Producers' pressure told to the compaction thread (storage/file/pressure.ts): a slow fdatasync
 * against its recent median raises the flag, usual ones do not; a thread holding on the flag goes on
 * once it is lowered or has expired, and never past its ceiling however long the flag stays up.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Worker } from 'node:worker_threads';
import {
  holdWhilePressed,
  ProducePressure,
  pressureRaisedMs,
  pressureSlowFactor,
} from '../../src/storage/file/pressure.js';
import { IoThrottle, pressureHoldMsMax } from '../../src/storage/file/throttle.js';

const pressureUrl = new URL('../../src/storage/file/pressure.js', import.meta.url).href;

/** Whether the flag is up now: a hold of at most 1 ms returns at once when it is down. */
const raisedNow = (pressure: ProducePressure) => holdWhilePressed(pressure.signal, 1) >= 1;

test('an fdatasync well above the recent median raises the flag; usual ones do not', () => {
  const pressure = new ProducePressure();
  for (let i = 0; i < 64; i++) pressure.observeSync(2 + (i % 3) * 0.1);
  assert.equal(raisedNow(pressure), false, 'usual fdatasyncs leave it down');
  pressure.observeSync(2 * pressureSlowFactor + 1);
  assert.equal(raisedNow(pressure), true, 'a slow one raises it');
  pressure.lower();
  assert.equal(raisedNow(pressure), false);
});

test('a raised flag expires by itself', () => {
  const pressure = new ProducePressure();
  pressure.raise(pressureRaisedMs);
  const held = holdWhilePressed(pressure.signal, 5_000);
  assert.ok(held >= pressureRaisedMs - 2 && held < 1_000, `held ${held} ms`);
});

test('a flag that stays up holds no longer than the ceiling', () => {
  const pressure = new ProducePressure();
  pressure.raise(60_000);
  const held = holdWhilePressed(pressure.signal, 50);
  assert.ok(held >= 49 && held < 1_000, `held ${held} ms`);
  const throttle = new IoThrottle(0);
  throttle.pressure = pressure.signal;
  throttle.spend(1024);
  assert.ok(throttle.heldMs >= pressureHoldMsMax - 1 && throttle.heldMs < 5_000, `${throttle.heldMs} ms`);
});

test('another thread is held while the flag is up and goes on when it is lowered', async () => {
  const pressure = new ProducePressure();
  pressure.raise(60_000);
  // The thread holds as the compaction thread does, with a ceiling far above the test's own wait.
  const worker = new Worker(
    `const { parentPort, workerData } = require('node:worker_threads');
     import(workerData.url).then((m) => {
       parentPort.postMessage('holding');
       parentPort.postMessage(m.holdWhilePressed(workerData.signal, 20000));
     });`,
    { eval: true, workerData: { url: pressureUrl, signal: pressure.signal } },
  );
  try {
    const messages: unknown[] = [];
    const held = new Promise<number>((resolve, reject) => {
      worker.on('error', reject);
      worker.on('message', (m) => {
        messages.push(m);
        if (typeof m === 'number') resolve(m);
      });
    });
    await new Promise<void>((resolve) => worker.once('message', () => resolve()));
    await new Promise((resolve) => setTimeout(resolve, 150));
    assert.equal(messages.length, 1, 'still held while the flag is up');
    pressure.lower();
    const ms = await held;
    assert.ok(ms >= 140 && ms < 10_000, `held ${ms} ms, released by the lowering`);
  } finally {
    await worker.terminate();
  }
});
