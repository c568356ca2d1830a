/**
 * The MQTT server's one keep-alive timer for all connections (src/protocols/mqtt/keep-alive.ts):
 * each deadline fires when a timer of its own would have, in deadline order, and a cancelled or
 * replaced one never fires.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type KeepAliveMember, KeepAliveWheel } from '../../src/protocols/mqtt/keep-alive.js';
import { ManualClock } from '../../src/shared/clock.js';

function member(name: string, fired: string[], clock: ManualClock): KeepAliveMember {
  return {
    keepAliveDueMs: 0,
    keepAliveSlot: -1,
    keepAliveDue: () => void fired.push(`${name}@${clock.now()}`),
  };
}

test('deadlines fire at their time, in order; cancelled and replaced ones do not', () => {
  const clock = new ManualClock(0);
  const wheel = new KeepAliveWheel(clock);
  const fired: string[] = [];
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((name) => member(name, fired, clock)) as [
    KeepAliveMember,
    KeepAliveMember,
    KeepAliveMember,
    KeepAliveMember,
  ];
  wheel.set(a, 300);
  wheel.set(b, 100);
  wheel.set(c, 200);
  wheel.set(d, 50);
  wheel.cancel(c);
  wheel.set(d, 400); // replaced: fires at 400, not 50
  clock.advance(1_000);
  assert.deepEqual(fired, ['b@100', 'a@300', 'd@400']);
  assert.equal(wheel.size, 0);
  assert.equal(clock.pending, 0);
});

test('a member set again from its own call is looked at again later; many members stay ordered', () => {
  const clock = new ManualClock(0);
  const wheel = new KeepAliveWheel(clock);
  const fired: number[] = [];
  const count = 500;
  const members = Array.from({ length: count }, (): KeepAliveMember => {
    const m: KeepAliveMember = {
      keepAliveDueMs: 0,
      keepAliveSlot: -1,
      keepAliveDue: () => {
        fired.push(clock.now());
        // Renewed once, as a connection that had a packet meanwhile.
        if (clock.now() < 10_000) wheel.set(m, 10_000);
      },
    };
    return m;
  });
  // Deadlines in a scrambled order, some cancelled.
  for (const [i, m] of members.entries()) wheel.set(m, ((i * 7919) % count) + 1);
  for (let i = 0; i < count; i += 5) wheel.cancel(members[i]!);
  clock.advance(20_000);
  assert.equal(fired.length, 2 * (count - count / 5));
  assert.deepEqual(
    fired,
    [...fired].sort((x, y) => x - y),
  );
  assert.equal(wheel.size, 0);
  wheel.set(members[0]!, 5);
  wheel.clear();
  clock.advance(100);
  assert.equal(fired.length, 2 * (count - count / 5));
});

test('a member whose deadline throws leaves the others due later still timed', () => {
  const clock = new ManualClock(0);
  const wheel = new KeepAliveWheel(clock);
  const fired: string[] = [];
  const failing: KeepAliveMember = {
    keepAliveDueMs: 0,
    keepAliveSlot: -1,
    keepAliveDue: () => {
      throw new Error('teardown failed');
    },
  };
  const later = member('later', fired, clock);
  wheel.set(failing, 100);
  wheel.set(later, 200);
  assert.throws(() => clock.advance(150), /teardown failed/);
  clock.advance(100);
  assert.deepEqual(fired, ['later@200']);
});
