/**
 * User verification as a login flood meets it: a credential verified a moment ago costs no hash,
 * identical checks under way share one, a caller that goes stops its wait (and the hash, when it was
 * the last), and a password change or a deleted user ends the cached verification at once.
 */
import assert from 'node:assert/strict';
import { scrypt } from 'node:crypto';
import { describe, test } from 'node:test';
import type { PasswordHashJob } from '../../src/core/api.js';
import { BrokerCore } from '../../src/core/broker.js';
import { SharedFlights, VerifiedCache } from '../../src/core/login-cache.js';
import { MemoryStorage } from '../../src/storage/memory.js';

/** scrypt as core's default runs it, counting calls; `gate` holds each hash until released. */
function countingDerive(gate?: Promise<void>) {
  const calls: AbortSignal[] = [];
  const derive = async (job: PasswordHashJob, signal: AbortSignal): Promise<Uint8Array> => {
    calls.push(signal);
    await gate;
    signal.throwIfAborted();
    return new Promise((resolve, reject) =>
      scrypt(job.password, job.salt, job.keyBytes, { N: job.cost, r: 8, p: 1 }, (err, key) =>
        err ? reject(err) : resolve(key),
      ),
    );
  };
  return { derive, calls };
}

function release(): { gate: Promise<void>; open: () => void } {
  let open: () => void = () => {};
  const gate = new Promise<void>((resolve) => (open = resolve));
  return { gate, open };
}

describe('verified credentials', () => {
  test('a credential verified a moment ago is accepted again without a hash', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const { derive, calls } = countingDerive();
    assert.equal(await core.users.verify('guest', 'guest', { derive }), true);
    assert.equal(await core.users.verify('guest', 'guest', { derive }), true);
    assert.equal(calls.length, 1);
    // Wrong passwords are never cached: each costs its own hash.
    assert.equal(await core.users.verify('guest', 'wrong', { derive }), false);
    assert.equal(await core.users.verify('guest', 'wrong', { derive }), false);
    assert.equal(calls.length, 3);
    await core.close();
  });

  test('a password change or a deleted user ends the cached verification', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const { derive } = countingDerive();
    await core.users.put('alice', 'one');
    assert.equal(await core.users.verify('alice', 'one', { derive }), true);
    await core.users.put('alice', 'two');
    assert.equal(await core.users.verify('alice', 'one', { derive }), false);
    assert.equal(await core.users.verify('alice', 'two', { derive }), true);
    await core.users.delete('alice');
    assert.equal(await core.users.verify('alice', 'two', { derive }), false);
    await core.close();
  });

  test('an unknown user costs the same hash as a wrong password', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const { derive, calls } = countingDerive();
    assert.equal(await core.users.verify('nobody', 'guest', { derive }), false);
    assert.equal(calls.length, 1);
    await core.close();
  });

  test('entries expire after their TTL and the oldest go first when full', () => {
    let now = 0;
    const cache = new VerifiedCache({ ttlMs: 100, entriesMax: 2 }, () => now);
    const [a, b, c] = ['a', 'b', 'c'].map((user) => cache.keyOf(user, 'pw')) as [string, string, string];
    cache.add(a, 'h');
    assert.equal(cache.has(a, 'h'), true);
    assert.equal(cache.has(a, 'other hash'), false, 'verified against another hash');
    cache.add(a, 'h');
    now = 100;
    assert.equal(cache.has(a, 'h'), false, 'expired');
    cache.add(a, 'h');
    cache.add(b, 'h');
    cache.add(c, 'h');
    assert.equal(cache.size, 2);
    assert.equal(cache.has(a, 'h'), false, 'evicted');
    assert.equal(cache.has(c, 'h'), true);
  });

  test('keys are keyed hashes: no password in them, and another cache gets other keys', () => {
    const one = new VerifiedCache({ ttlMs: 1000, entriesMax: 10 });
    const two = new VerifiedCache({ ttlMs: 1000, entriesMax: 10 });
    const key = one.keyOf('guest', 'guest');
    assert.doesNotMatch(key, /guest/);
    assert.notEqual(key, two.keyOf('guest', 'guest'));
    assert.notEqual(one.keyOf('a', 'b\0c'), one.keyOf('a\0b', 'c'));
  });
});

describe('shared checks', () => {
  test('200 checks of one credential at once cost one hash', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const { gate, open } = release();
    const { derive, calls } = countingDerive(gate);
    const checks = Array.from({ length: 200 }, () => core.users.verify('guest', 'guest', { derive }));
    open();
    assert.deepEqual(new Set(await Promise.all(checks)), new Set([true]));
    assert.equal(calls.length, 1);
    await core.close();
  });

  test('a caller that goes stops waiting; the hash stops only when the last one goes', async () => {
    const core = await BrokerCore.open({ storage: new MemoryStorage() });
    const { gate, open } = release();
    const { derive, calls } = countingDerive(gate);
    const first = new AbortController();
    const second = new AbortController();
    const one = core.users.verify('guest', 'guest', { derive, signal: first.signal });
    const two = core.users.verify('guest', 'guest', { derive, signal: second.signal });
    first.abort(new Error('first client gone'));
    await assert.rejects(one, /first client gone/);
    assert.equal(calls[0]!.aborted, false, 'the other caller still waits');
    second.abort(new Error('second client gone'));
    await assert.rejects(two, /second client gone/);
    assert.equal(calls[0]!.aborted, true, 'nobody waits: the hash is called off');
    open();
    // A later check of the same credential starts afresh rather than join the abandoned one.
    assert.equal(await core.users.verify('guest', 'guest', { derive }), true);
    assert.equal(calls.length, 2);
    await core.close();
  });

  test('a flight settles every caller with its result or error', async () => {
    const flights = new SharedFlights<number>();
    const { gate, open } = release();
    let runs = 0;
    const run = async () => {
      runs++;
      await gate;
      throw new Error('hash failed');
    };
    const all = [flights.join('k', undefined, run), flights.join('k', undefined, run)];
    assert.equal(flights.size, 1);
    open();
    for (const p of all) await assert.rejects(p, /hash failed/);
    assert.equal(runs, 1);
    assert.equal(flights.size, 0);
  });
});
