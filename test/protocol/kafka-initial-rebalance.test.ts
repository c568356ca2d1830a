/**
 * group.initial.rebalance.delay.ms (KIP-134) as Kafka computes it, on the group coordinator driven by
 * a manual clock: a group with no members waits the delay before its first generation, waits again
 * while members keep arriving, and never past the rebalance timeout. The kafkajs view of the same
 * behaviour is in group-lifecycle.test.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../../src/core/index.js';
import { GroupCoordinator, type JoinInput, type JoinResult } from '../../src/protocols/kafka/groups.js';
import { kafkaOptionsDefault } from '../../src/protocols/kafka/options.js';

const delayMs = 3000;

function coordinator(clock: ManualClock, delay = delayMs): GroupCoordinator {
  const options = { ...kafkaOptionsDefault, groupInitialRebalanceDelayMs: delay };
  return new GroupCoordinator(options, undefined, undefined, clock);
}

function join(
  groups: GroupCoordinator,
  clientId: string,
  more: Partial<JoinInput> = {},
): Promise<JoinResult> {
  return groups.join({
    groupId: 'g',
    memberId: '',
    groupInstanceId: null,
    clientId,
    clientHost: '/127.0.0.1',
    sessionTimeoutMs: 30_000,
    rebalanceTimeoutMs: 60_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: new Uint8Array(0) }],
    requireKnownMemberId: false,
    ...more,
  });
}

/** Whether the promise has settled once pending callbacks have run. */
async function settled(p: Promise<unknown>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((resolve) => setImmediate(resolve));
  return done;
}

test('the first member of a new group waits the delay before its first generation', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const a = join(groups, 'a');
  clock.advance(delayMs - 1);
  assert.equal(await settled(a), false);
  clock.advance(1);
  assert.equal((await a).generationId, 1);
  groups.close();
});

test('a member joining during the delay extends it, and both land in one generation', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const a = join(groups, 'a');
  clock.advance(2000);
  const b = join(groups, 'b');
  clock.advance(1000); // the first delay is over, but b came meanwhile: it waits again
  assert.equal(await settled(a), false);
  clock.advance(delayMs);
  const [ra, rb] = await Promise.all([a, b]);
  assert.deepEqual([ra.generationId, rb.generationId], [1, 1]);
  assert.equal([ra, rb].find((r) => r.leader === r.memberId)?.members.length, 2);
  groups.close();
});

test('members that keep joining cannot hold the group past the rebalance timeout', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const timeout = { rebalanceTimeoutMs: 5000 };
  const joined = [join(groups, 'a', timeout)];
  clock.advance(2000);
  joined.push(join(groups, 'b', timeout));
  clock.advance(2000);
  joined.push(join(groups, 'c', timeout));
  clock.advance(999);
  assert.equal(await settled(joined[0]!), false);
  clock.advance(1);
  const results = await Promise.all(joined);
  assert.deepEqual(
    results.map((r) => r.generationId),
    [1, 1, 1],
  );
  groups.close();
});

test('a delay of 0 completes at once', async () => {
  const groups = coordinator(new ManualClock(), 0);
  assert.equal((await join(groups, 'a')).generationId, 1);
  groups.close();
});

test('a group that has members rebalances without the delay', async () => {
  const clock = new ManualClock();
  const groups = coordinator(clock);
  const a = join(groups, 'a');
  clock.advance(delayMs);
  const first = await a;
  // b joins the stable group; a rejoins, and the join completes as soon as both are in.
  const b = join(groups, 'b');
  const again = join(groups, 'a', { memberId: first.memberId });
  assert.deepEqual(
    (await Promise.all([b, again])).map((r) => r.generationId),
    [2, 2],
  );
  groups.close();
});
