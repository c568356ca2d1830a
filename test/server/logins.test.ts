/**
 * The login gate's parts: hashing processes behind a bounded queue, the per-address throttle, and the
 * gate that puts them together. Times are kept small and never asserted.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { scryptSync } from 'node:crypto';
import { once } from 'node:events';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { BrokerCore } from '../../src/core/broker.js';
import { createAuthenticator } from '../../src/server/auth.js';
import { LoginThrottle } from '../../src/server/login-throttle.js';
import { ScryptPool } from '../../src/server/scrypt-pool.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';

const job = (password: string, cost = 1024) => ({ password, salt: new Uint8Array(16), cost, keyBytes: 32 });
/** A hash that keeps a thread busy for a while (tens of milliseconds). */
const slow = (password: string) => job(password, 16_384);
const exhausted = (err: unknown) => isBrokerError(err, ErrorCode.resourceExhausted);

describe('hashing processes', () => {
  test('give the same key as scrypt', async () => {
    const pool = new ScryptPool({ threads: 2, queueMax: 4 });
    const key = await pool.hash(job('guest'));
    assert.deepEqual(Buffer.from(key), scryptSync('guest', new Uint8Array(16), 32, { N: 1024, r: 8, p: 1 }));
    await pool.close();
  });

  test('a full queue refuses at once; queued jobs run in turn', async () => {
    const pool = new ScryptPool({ threads: 1, queueMax: 2 });
    const running = pool.hash(slow('a'));
    const queued = [pool.hash(job('b')), pool.hash(job('c'))];
    await assert.rejects(pool.hash(job('d')), exhausted);
    assert.deepEqual(pool.stats(), { threads: 1, hashes: 1, running: 1, queued: 2 });
    await Promise.all([running, ...queued]);
    assert.equal(pool.stats().hashes, 3);
    await pool.close();
  });

  test('a job whose client went leaves the queue and is never hashed', async () => {
    const pool = new ScryptPool({ threads: 1, queueMax: 4 });
    const running = pool.hash(slow('a'));
    const gone = new AbortController();
    const waiting = pool.hash(job('b'), { signal: gone.signal });
    gone.abort(new Error('client gone'));
    await assert.rejects(waiting, /client gone/);
    assert.equal(pool.stats().queued, 0);
    await running;
    assert.equal(pool.stats().hashes, 1, 'the aborted job never reached a thread');
    await pool.close();
  });

  test('the lowest rank runs first, and outranks a waiting job when the queue is full', async () => {
    const pool = new ScryptPool({ threads: 1, queueMax: 2 });
    const order: string[] = [];
    const hash = (name: string, rank: number) =>
      pool.hash(job(name), { rank: () => rank }).then(() => void order.push(name));
    const first = pool.hash(slow('first'));
    const suspect = hash('suspect', 5);
    const other = hash('other', 3);
    const clean = hash('clean', 0);
    await assert.rejects(suspect, exhausted, 'refused to make room for a better-ranked job');
    await Promise.all([first, other, clean]);
    assert.deepEqual(order, ['clean', 'other']);
    await pool.close();
  });

  test('closing refuses what waits', async () => {
    const pool = new ScryptPool({ threads: 1, queueMax: 4 });
    const closed = (err: unknown) => isBrokerError(err, ErrorCode.invalidState);
    const running = assert.rejects(pool.hash(slow('a')), closed);
    const waiting = assert.rejects(pool.hash(job('b')), closed);
    await pool.close();
    await Promise.all([running, waiting]);
    await assert.rejects(pool.hash(job('c')), (err) => isBrokerError(err, ErrorCode.invalidState));
  });

  test('an idle pool never keeps the process alive', async () => {
    const script = fileURLToPath(new URL('../../testing/scrypt-pool-exit.js', import.meta.url));
    const out = await new Promise<string>((resolve, reject) =>
      execFile(process.execPath, [script], { timeout: 20_000 }, (err, stdout) =>
        err ? reject(err) : resolve(stdout),
      ),
    );
    assert.equal(out.trim(), '32');
  });

  test('an idle hashing process ends, and the next hash starts another', async () => {
    const pool = new ScryptPool({ threads: 1, queueMax: 1, idleMs: 50 });
    await pool.hash(job('a'));
    for (let i = 0; i < 200 && pool.stats().threads > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(pool.stats().threads, 0, 'ended after idleMs');
    const key = await pool.hash(job('guest'));
    assert.deepEqual(Buffer.from(key), scryptSync('guest', new Uint8Array(16), 32, { N: 1024, r: 8, p: 1 }));
    await pool.close();
  });

  test('a hashing process exits when the process that started it is killed', async () => {
    const script = fileURLToPath(new URL('../../testing/scrypt-pool-exit.js', import.meta.url));
    const parent = spawn(process.execPath, [script, 'hold'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      await once(parent.stdout, 'data');
      const children = execFileSync('pgrep', ['-P', String(parent.pid)])
        .toString()
        .trim()
        .split('\n');
      assert.equal(children.length, 1, 'one hashing process');
      const child = Number(children[0]);
      parent.kill('SIGKILL');
      let alive = true;
      for (let i = 0; i < 400 && alive; i++) {
        await new Promise((r) => setTimeout(r, 25));
        alive = isAlive(child);
      }
      assert.equal(alive, false, 'the orphan exited');
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

/** Whether a process of that id exists (signal 0 checks without sending). */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('login throttle', () => {
  const limits = {
    failuresFree: 2,
    delayMs: 10,
    delayMsMax: 40,
    windowMs: 1000,
    addressesMax: 3,
    pendingPerAddressMax: 2,
  };

  test('delays double after the free failures, up to the most', () => {
    const throttle = new LoginThrottle(limits);
    assert.deepEqual(
      [0, 1, 2, 3, 4, 5, 50].map((n) => throttle.delayMs(n)),
      [0, 0, 10, 20, 40, 40, 40],
    );
  });

  test('failures are forgotten after the window, and the table stays bounded', () => {
    const clock = new ManualClock(0);
    const throttle = new LoginThrottle(limits, clock);
    throttle.failed('10.0.0.1');
    throttle.failed('10.0.0.1');
    assert.equal(throttle.failures('10.0.0.1'), 2);
    clock.advance(1001);
    assert.equal(throttle.failures('10.0.0.1'), 0);
    for (let i = 0; i < 1000; i++) throttle.failed(`10.1.${i >> 8}.${i & 255}`);
    assert.equal(throttle.stats().addresses, 3);
    assert.equal(throttle.failures('10.1.3.231'), 1, 'the latest addresses are kept');
  });

  test('an address with too many logins under way waits for room, and is refused past its deadline', async () => {
    const clock = new ManualClock(0);
    const throttle = new LoginThrottle(limits, clock);
    const done = [await throttle.admit('10.0.0.1'), await throttle.admit('10.0.0.1')];
    const third = throttle.admit('10.0.0.1');
    const other = await throttle.admit('10.0.0.2');
    assert.equal(throttle.stats().waiting, 1);
    done[0]!();
    const end = await third;
    const refused = throttle.admit('10.0.0.1');
    await settleMicrotasks();
    clock.advance(limits.delayMsMax);
    await assert.rejects(refused, exhausted, 'no room before its deadline');
    for (const finish of [done[1]!, end, other]) finish();
    assert.deepEqual(throttle.stats(), { addresses: 0, pendingAddresses: 0, waiting: 0 });
    (await throttle.admit('10.0.0.1'))();
  });

  test('attempts from a failing address are spaced out, and refused when their turn is too far', async () => {
    const clock = new ManualClock(0);
    // random 0.5: every deadline falls 75 ms after arrival.
    const throttle = new LoginThrottle(
      { ...limits, delayMsMax: 100, pendingPerAddressMax: 100 },
      clock,
      () => 0.5,
    );
    for (let i = 0; i < 3; i++) throttle.failed('10.0.0.1');
    // Turns 20 ms apart: 0, 20, 40, 60 fall before the deadline; 80 and later after it.
    const attempts = Array.from({ length: 8 }, () => throttle.admit('10.0.0.1'));
    await settleMicrotasks();
    clock.advance(200);
    const results = await Promise.allSettled(attempts);
    const status = results.map((r) => r.status);
    assert.deepEqual(status.slice(0, 3), ['fulfilled', 'fulfilled', 'fulfilled'], 'turns at 0, 20, 40 ms');
    assert.deepEqual(status.slice(6), ['rejected', 'rejected'], 'turns at 120 and 140 ms: past any deadline');
    for (const r of results) if (r.status === 'fulfilled') r.value();
  });

  test('a client that goes stops waiting for its turn', async () => {
    const throttle = new LoginThrottle({ ...limits, delayMs: 10_000, delayMsMax: 10_000 });
    for (let i = 0; i < 3; i++) throttle.failed('10.0.0.1');
    (await throttle.admit('10.0.0.1'))();
    const gone = new AbortController();
    const waiting = throttle.admit('10.0.0.1', gone.signal);
    gone.abort(new Error('client gone'));
    await assert.rejects(waiting, /client gone/);
  });
});

describe('login gate', () => {
  const users = { defaultUser: 'guest', defaultPass: 'guest', loopbackOnlyUsers: ['guest'] };

  test('hashes on its own threads and throttles an address after failures', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const gate = createAuthenticator(
      { ...users, loginFailuresBeforeDelay: 1, loginFailureDelayMs: 5, loginFailureDelayMsMax: 10 },
      core,
    );
    assert.deepEqual(await gate.login('guest', 'guest', '127.0.0.1'), {
      ok: true,
      user: 'guest',
      tags: ['administrator'],
    });
    assert.equal(gate.stats().hashes, 1);
    assert.deepEqual(
      await gate.login('guest', 'guest', '127.0.0.1'),
      { ok: true, user: 'guest', tags: ['administrator'] },
      'cached',
    );
    assert.equal(gate.stats().hashes, 1);
    for (const guess of ['wrong-1', 'wrong-2']) await gate.login('guest', guess, '127.0.0.2');
    const guesses = await Promise.all(
      Array.from({ length: 6 }, (_, i) => gate.login('guest', `again-${i}`, '127.0.0.2')),
    );
    const reasons = new Set(guesses.map((r) => (r.ok ? 'ok' : r.reason)));
    assert.ok(reasons.has('busy'), 'some guesses were turned away unhashed');
    assert.ok(!reasons.has('ok'));
    assert.equal(gate.stats().throttledAddresses, 1);
    assert.deepEqual(
      await gate.login('guest', 'guest', '127.0.0.3'),
      { ok: true, user: 'guest', tags: ['administrator'] },
      'other addresses log in',
    );
    await gate.close();
    await core.close();
  });

  test('a loopback-only user from elsewhere is refused before any hash', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const gate = createAuthenticator(users, core);
    assert.deepEqual(await gate.login('guest', 'anything', '10.1.2.3'), {
      ok: false,
      reason: 'loopback_only',
    });
    assert.equal(gate.stats().hashes, 0);
    await gate.close();
    await core.close();
  });
});

/** Lets awaited steps inside `admit` run up to their timers. */
async function settleMicrotasks(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}
