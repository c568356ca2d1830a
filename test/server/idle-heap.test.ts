/**
 * The idle heap watch of `switchyard start`: one full collection once the event loop has been quiet
 * long enough for V8 to find the allocation rate low, while the young generation is grown; none while
 * busy or already small, and one again only after the process has been busy in between.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  IdleHeapWatch,
  idleCheckMs,
  quietBytesPerMsMax,
  youngBytesIdleMax,
  youngBytesMax,
  youngGrowthFactorFor,
} from '../../src/server/idle-heap.js';
import { ManualClock } from '../../src/shared/clock.js';
import { silentLogger } from '../../src/shared/logger.js';

/** Probes whose busy share and young generation the test sets; counts the collections asked. */
function fakeProbes() {
  const state = { busy: 0, young: youngBytesIdleMax * 4, used: 0, collections: 0 };
  return {
    state,
    probes: {
      utilization: () => state.busy,
      young: () => ({ committed: state.young, used: state.used }),
      collect: () => {
        state.collections += 1;
        state.young = 1024 * 1024;
      },
    },
  };
}

test('a quiet process with a grown young generation is collected once, when its rate is low', () => {
  const clock = new ManualClock();
  const { state, probes } = fakeProbes();
  // What the young generation holds must spread to under the low rate over the quiet time.
  state.used = quietBytesPerMsMax * idleCheckMs * 3;
  const watch = new IdleHeapWatch(clock, silentLogger(), probes);
  for (let i = 0; i < 3; i++) clock.advance(idleCheckMs);
  assert.equal(state.collections, 0, 'not before the rate is low');
  clock.advance(idleCheckMs);
  assert.equal(state.collections, 1);
  state.young = youngBytesIdleMax * 4;
  for (let i = 0; i < 5; i++) clock.advance(idleCheckMs);
  assert.equal(state.collections, 1, 'one collection per quiet spell');
  watch.stop();
});

test('busy windows are not collected; quiet after busy is, again', () => {
  const clock = new ManualClock();
  const { state, probes } = fakeProbes();
  const watch = new IdleHeapWatch(clock, silentLogger(), probes);
  state.busy = 0.5;
  for (let i = 0; i < 3; i++) clock.advance(idleCheckMs);
  assert.equal(state.collections, 0);
  state.busy = 0.001;
  clock.advance(idleCheckMs);
  assert.equal(state.collections, 1);
  state.busy = 0.3;
  state.young = youngBytesIdleMax * 4;
  clock.advance(idleCheckMs);
  state.busy = 0;
  clock.advance(idleCheckMs);
  assert.equal(state.collections, 2);
  watch.stop();
});

test('a young generation that is already small is left alone; stop ends the watch', () => {
  const clock = new ManualClock();
  const { state, probes } = fakeProbes();
  state.young = youngBytesIdleMax;
  const watch = new IdleHeapWatch(clock, silentLogger(), probes);
  for (let i = 0; i < 3; i++) clock.advance(idleCheckMs);
  assert.equal(state.collections, 0);
  watch.stop();
  state.young = youngBytesIdleMax * 4;
  clock.advance(idleCheckMs * 3);
  assert.equal(state.collections, 0);
  assert.equal(clock.pending, 0);
});

/**
 * In a process of its own (the test runner's heap is not the test's): survivors that would grow the
 * young generation, held, then released (it grows, up to the cap).
 */
const youngScript = `
const { holdYoungGeneration, releaseYoungGeneration, youngBytesMax } = await import(process.argv[1]);
const { getHeapSpaceStatistics } = await import('node:v8');
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
const kept = [];
// In steps with turns between, as a broker's traffic comes: the watch runs after collections.
const survive = async () => {
  for (let step = 0; step < 40; step++) {
    for (let i = 0; i < 20000; i++) kept.push({ i, s: 'k' + i });
    await new Promise((resolve) => setImmediate(resolve));
  }
};
// Scavenges commit both semi-spaces; the process's first ones decide what "its size" is.
let garbage = [];
for (let i = 0; i < 400000; i++) garbage = [i, garbage.length];
holdYoungGeneration();
const before = young();
await survive();
const held = young();
const watch = releaseYoungGeneration();
await survive();
watch.stop();
process.stdout.write(JSON.stringify({ before, held, released: young(), capped: youngBytesMax }));
`;

/** Runs `script` in a fresh node of its own with the module's URL as its argument; its stdout. */
async function ownProcess(script: string): Promise<string> {
  const { execFile } = await import('node:child_process');
  const modulePath = new URL('../../src/server/idle-heap.js', import.meta.url).href;
  return new Promise<string>((resolve, reject) => {
    const env = { ...process.env, NODE_OPTIONS: '' };
    const args = ['--input-type=module', '-e', script, modulePath];
    execFile(process.execPath, args, { env, timeout: 60_000 }, (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    );
  });
}

test('switchyard start keeps the young generation at its size while loading, then lets it grow up to its cap', async () => {
  const out = await ownProcess(youngScript);
  const sizes = JSON.parse(out) as Record<'before' | 'held' | 'released' | 'capped', number>;
  assert.equal(sizes.held, sizes.before, 'held: no growth however much survives');
  assert.ok(sizes.released > sizes.held, 'released: it grows again with survivors');
  assert.ok(sizes.released <= sizes.capped, `released: no further than the cap (${sizes.released})`);
});

/**
 * Messages that die young: little survives each scavenge, so V8 grows the young generation only after
 * many of them. The first growth after the release must reach the cap, not a step short of it.
 */
const firstGrowthScript = `
const { holdYoungGeneration, releaseYoungGeneration, youngBytesMax } = await import(process.argv[1]);
const { getHeapSpaceStatistics } = await import('node:v8');
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
let garbage = [];
for (let i = 0; i < 400000; i++) garbage = [i, garbage.length];
holdYoungGeneration();
const held = young();
const watch = releaseYoungGeneration();
const inFlight = [];
let grown = held;
for (let step = 0; step < 4000 && grown === held; step++) {
  for (let i = 0; i < 5000; i++) {
    inFlight.push({ i, body: 'm' + i });
    if (inFlight.length > 2000) inFlight.shift();
  }
  await new Promise((resolve) => setImmediate(resolve));
  grown = young();
}
watch.stop();
process.stdout.write(JSON.stringify({ held, grown, capped: youngBytesMax }));
`;

test('under a stream of short-lived messages the young generation grows to its cap in one step', async () => {
  const out = await ownProcess(firstGrowthScript);
  const sizes = JSON.parse(out) as Record<'held' | 'grown' | 'capped', number>;
  assert.ok(sizes.held < sizes.capped, `it starts below the cap (${sizes.held})`);
  assert.equal(sizes.grown, sizes.capped, 'the first growth reaches the cap');
});

test('the growth factor takes the young generation to the cap and never past it', () => {
  const mib = 1024 * 1024;
  assert.equal(youngGrowthFactorFor(2 * mib), youngBytesMax / (2 * mib));
  assert.equal(youngGrowthFactorFor(youngBytesMax / 2), 2);
  assert.equal(youngGrowthFactorFor(youngBytesMax), 1);
  assert.equal(youngGrowthFactorFor(youngBytesMax * 2), 1);
  assert.equal(youngGrowthFactorFor(0.75 * youngBytesMax), 1, 'a growth would pass the cap');
  for (const committed of [1, 2, 3, 5, 6, 7].map((n) => n * mib))
    assert.ok(committed * youngGrowthFactorFor(committed) <= Math.max(committed, youngBytesMax));
});

/**
 * A full collection in a quiet spell (the idle watch's) uncommits the from-space, so the committed
 * bytes read one semi-space; the growth steered from them must still stop at the cap.
 */
const afterFullScript = `
const { holdYoungGeneration, releaseYoungGeneration, youngBytesMax } = await import(process.argv[1]);
const { getHeapSpaceStatistics, setFlagsFromString } = await import('node:v8');
const { runInNewContext } = await import('node:vm');
const { PerformanceObserver } = await import('node:perf_hooks');
const young = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space').space_size;
holdYoungGeneration();
const watch = releaseYoungGeneration();
let largest = young();
const traffic = async () => {
  const inFlight = new Array(20000);
  for (let step = 0; step < 300; step++) {
    for (let i = 0; i < 5000; i++) inFlight[(step * 5000 + i) % inFlight.length] = { i, body: 'm' + i };
    await new Promise((resolve) => setImmediate(resolve));
  }
};
await traffic();
const seen = new PerformanceObserver(() => { largest = Math.max(largest, young()); });
seen.observe({ entryTypes: ['gc'] });
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc');
setFlagsFromString('--no-expose-gc');
// Quiet for longer than V8's 5 s allocation window, as before the idle watch's collection.
await new Promise((resolve) => setTimeout(resolve, 6000));
gc();
await new Promise((resolve) => setTimeout(resolve, 50));
const afterFull = young();
await traffic();
largest = Math.max(largest, young());
watch.stop();
seen.disconnect();
process.stdout.write(JSON.stringify({ afterFull, largest, capped: youngBytesMax }));
`;

test('after a full collection the young generation still grows no further than its cap', async () => {
  const out = await ownProcess(afterFullScript);
  const sizes = JSON.parse(out) as Record<'afterFull' | 'largest' | 'capped', number>;
  assert.ok(sizes.largest <= sizes.capped, `no further than the cap (${sizes.largest} > ${sizes.capped})`);
});
