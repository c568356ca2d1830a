/**
 * The owned objects reached through commands: a vhost's retained set, its producer registry and its
 * consumer groups' membership records. Each keeps what it is given across a restart.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { CoreClient, GroupMembership } from '../../src/core/api.js';
import { membershipBytesMax } from '../../src/core/groups.js';
import { ManualClock } from '../../src/shared/clock.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { openCore, settle } from '../../testing/core-helpers.js';

const utf8 = new TextEncoder();
const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

function keys(client: CoreClient, pattern: string): string[] {
  return client
    .matchRetained(pattern)
    .map((m) => m.key)
    .sort();
}

describe('retained messages', () => {
  test('one per key, matched by topic pattern, cleared, expired, and kept across a restart', async () => {
    const storage = new MemoryStorage();
    const clock = new ManualClock(1_000);
    const first = await openCore({ storage, clock });
    for (const key of ['a.b', 'a.c', 'a.b.c', 'x', '']) {
      await first.client.setRetained({ key, body: utf8.encode(`v ${key}`), properties: {} });
    }
    await first.client.setRetained({ key: 'a.b', body: utf8.encode('newer'), properties: { priority: 2 } });
    await first.client.setRetained({
      key: 'soon',
      body: utf8.encode('gone'),
      properties: { expiresAtMs: 1_500 },
    });
    assert.deepEqual(keys(first.client, 'a.*'), ['a.b', 'a.c']);
    assert.deepEqual(keys(first.client, 'a.#'), ['a.b', 'a.b.c', 'a.c']);
    assert.deepEqual(keys(first.client, '#'), ['', 'a.b', 'a.b.c', 'a.c', 'soon', 'x']);
    await first.client.clearRetained('x');
    clock.advance(500);
    assert.deepEqual(keys(first.client, 'soon'), [], 'an expired message is not handed out');
    await settle();
    assert.equal(first.client.retainedCount(), 4, 'and it was cleared');
    await first.broker.close();

    const second = await openCore({ storage, clock });
    const [kept] = second.client.matchRetained('a.b');
    assert.equal(text(kept!.body), 'newer');
    assert.deepEqual(kept!.properties, { priority: 2 });
    assert.deepEqual(keys(second.client, '#'), ['', 'a.b', 'a.b.c', 'a.c']);
    await second.broker.close();
  });

  test('a pattern finds its retained messages without looking at every other one', {
    timeout: 120_000,
  }, async () => {
    // 100,000 retained messages made each subscription look at all of them: 10,000 subscriptions here
    // held the event loop for minutes, each of them as long as a MQTT client's SUBSCRIBE.
    const core = await openCore({ storage: new MemoryStorage() });
    const retained = 100_000;
    const body = utf8.encode('v');
    for (let i = 0; i < retained; i += 1000) {
      const sets = Array.from({ length: 1000 }, (_, j) =>
        core.client.setRetained({ key: `r.${i + j}.x`, body, properties: {} }),
      );
      await Promise.all(sets);
    }
    for (let n = 0; n < 10_000; n++) assert.deepEqual(keys(core.client, `other.${n}.#`), []);
    assert.deepEqual(keys(core.client, 'r.77.*'), ['r.77.x']);
    assert.equal(core.client.matchRetained('r.*.x').length, retained);
    await core.broker.close();
  });

  test('retained messages are kept up to retainedBytesMax; one past it is refused, a smaller replacement is not', async () => {
    const storage = new MemoryStorage();
    const first = await openCore({ storage, limits: { retainedBytesMax: 10_000 } });
    const kib = new Uint8Array(1024);
    for (let i = 0; i < 9; i++)
      await first.client.setRetained({ key: `big.${i}`, body: kib, properties: {} });
    await assert.rejects(first.client.setRetained({ key: 'big.9', body: kib, properties: {} }), (err) =>
      isBrokerError(err, ErrorCode.resourceExhausted),
    );
    await first.client.setRetained({ key: 'big.0', body: utf8.encode('smaller'), properties: {} });
    await first.client.setRetained({ key: 'big.9', body: kib, properties: {} });
    assert.equal(first.client.retainedCount(), 10, 'room made by the replacement is used');
    await first.broker.close();
    // The bytes are counted again from the log at the next start.
    const second = await openCore({ storage, limits: { retainedBytesMax: 10_000 } });
    await assert.rejects(second.client.setRetained({ key: 'big.10', body: kib, properties: {} }), (err) =>
      isBrokerError(err, ErrorCode.resourceExhausted),
    );
    await second.client.clearRetained('big.1');
    await second.client.setRetained({ key: 'big.10', body: kib, properties: {} });
    await second.broker.close();
  });
});

describe('retained bytes', () => {
  test("retainedBytesMax counts a retained message's headers: a one-byte body with large headers is refused past it", async () => {
    const storage = new MemoryStorage();
    const core = await openCore({ storage, limits: { retainedBytesMax: 10_000 } });
    const headers: Array<[string, string]> = [['pad', 'x'.repeat(1024)]];
    for (let i = 0; i < 9; i++)
      await core.client.setRetained({ key: `h.${i}`, body: utf8.encode('b'), properties: { headers } });
    await assert.rejects(
      core.client.setRetained({ key: 'h.9', body: utf8.encode('b'), properties: { headers } }),
      (err) => isBrokerError(err, ErrorCode.resourceExhausted),
    );
    await core.client.clearRetained('h.0');
    await core.client.setRetained({ key: 'h.9', body: utf8.encode('b'), properties: { headers } });
    await core.broker.close();
  });
});

describe('idempotent producers', () => {
  const options = { timestamp: 1, format: 9 };

  test('ids, epochs and sequences: retries answered with their offset, gaps refused, all kept', async () => {
    const storage = new MemoryStorage();
    const first = await openCore({ storage });
    const { client } = first;
    await client.createStream('t', { partitions: 1 });
    const init = await client.initProducer(-1, -1);
    assert.deepEqual(init, { kind: 'ok', producerId: 1000, epoch: 0 });
    const batch = { producerId: 1000, epoch: 0, baseSequence: 0, count: 3 };
    const stored = client.appendIdempotent('t', 0, batch, utf8.encode('b0'), options);
    assert.equal(stored.kind, 'appended');
    if (stored.kind === 'appended') await stored.durable;
    assert.deepEqual(client.appendIdempotent('t', 0, batch, utf8.encode('b0'), options), {
      kind: 'duplicate',
      offset: 0,
    });
    const gap = { ...batch, baseSequence: 5 };
    assert.deepEqual(client.appendIdempotent('t', 0, gap, utf8.encode('x'), options), {
      kind: 'refused',
      reason: 'outOfOrder',
    });
    const next = client.appendIdempotent(
      't',
      0,
      { ...batch, baseSequence: 3, count: 1 },
      utf8.encode('b1'),
      options,
    );
    assert.equal(next.kind === 'appended' ? next.offset : -1, 1);
    await first.broker.close();

    const second = await openCore({ storage });
    const again = second.client;
    assert.deepEqual(again.appendIdempotent('t', 0, batch, utf8.encode('b0'), options), {
      kind: 'duplicate',
      offset: 0,
    });
    assert.deepEqual((await again.initProducer(-1, -1)).kind === 'ok', true);
    assert.deepEqual(await again.initProducer(1000, 0), { kind: 'ok', producerId: 1000, epoch: 1 });
    assert.deepEqual(await again.initProducer(1000, 0), { kind: 'refused', reason: 'staleEpoch' });
    assert.deepEqual(await again.initProducer(5, 0), { kind: 'refused', reason: 'unknownProducer' });
    const stale = { ...batch, baseSequence: 4, count: 1 };
    assert.deepEqual(again.appendIdempotent('t', 0, stale, utf8.encode('x'), options), {
      kind: 'refused',
      reason: 'staleEpoch',
    });
    await second.broker.close();
  });

  test("a deleted stream's sequences go with it", async () => {
    const { broker, client } = await openCore();
    await client.createStream('t', { partitions: 1 });
    const { producerId } = (await client.initProducer(-1, -1)) as { producerId: number };
    const batch = { producerId, epoch: 0, baseSequence: 0, count: 1 };
    client.appendIdempotent('t', 0, batch, utf8.encode('a'), options);
    await client.deleteStream('t');
    await client.createStream('t', { partitions: 1 });
    const resent = client.appendIdempotent('t', 0, { ...batch, baseSequence: 1 }, utf8.encode('b'), options);
    assert.deepEqual(
      resent,
      { kind: 'refused', reason: 'unknownProducer' },
      'nothing is known of the old topic',
    );
    await broker.close();
  });
});

describe('consumer group membership records', () => {
  const membership: GroupMembership = {
    generation: 3,
    protocolType: 'consumer',
    protocol: 'range',
    leader: 'm-1',
    rebalance: false,
    members: [
      {
        id: 'm-1',
        instanceId: null,
        clientId: 'c',
        clientHost: '/127.0.0.1',
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 10_000,
        protocols: [{ name: 'range', metadata: utf8.encode('topics') }],
        assignment: utf8.encode('t-0'),
      },
    ],
  };

  test('kept with the group, beside its offsets, across a restart; deleted with the group', async () => {
    const storage = new MemoryStorage();
    const first = await openCore({ storage });
    await first.client.createStream('t', { partitions: 1 });
    assert.equal(await first.client.saveGroupMembership('g', membership), true);
    await first.client.commitOffset('g', 't', 0, { offset: 4, metadata: '', committedAt: 1 });
    await first.broker.close();

    const second = await openCore({ storage });
    assert.deepEqual(second.client.listGroups(), [{ name: 'g', membership }]);
    assert.equal(second.client.fetchOffset('g', 't', 0)?.offset, 4);
    await second.client.deleteGroup('g');
    assert.deepEqual(second.client.listGroups(), []);
    assert.equal(second.client.fetchOffset('g', 't', 0), undefined);
    await second.broker.close();
    const third = await openCore({ storage });
    assert.deepEqual(third.client.listGroups(), []);
    await third.broker.close();
  });

  test('a record past its bound is refused and the stored one removed; the offsets stay', async () => {
    const { broker, client } = await openCore();
    await client.createStream('t', { partitions: 1 });
    await client.saveGroupMembership('g', membership);
    await client.commitOffset('g', 't', 0, { offset: 1, metadata: '', committedAt: 1 });
    const member = { ...membership.members[0]!, assignment: new Uint8Array(membershipBytesMax) };
    assert.equal(await client.saveGroupMembership('g', { ...membership, members: [member] }), false);
    assert.equal(client.groupMembership('g'), undefined);
    assert.equal(client.fetchOffset('g', 't', 0)?.offset, 1);
    await broker.close();
  });
});
