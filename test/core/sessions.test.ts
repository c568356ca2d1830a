import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sessionQueueName } from '../../src/core/sessions.js';
import { stateLogName } from '../../src/core/state/names.js';
import { sessionMachine } from '../../src/core/state/session-entries.js';
import { ManualClock } from '../../src/shared/clock.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { type CoreFixture, drain, message, openCore, settle } from '../../testing/core-helpers.js';
import { readStateLog } from '../../testing/state-helpers.js';

test('sessions: a durable session keeps its subscriptions, messages and in-flight markers across a restart', async () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock();
  const first = await openCore({ storage, clock });
  const session = await first.broker.sessions('/').openSession('client/1', { durable: true });
  assert.equal(session.present, false);
  await settle();
  await session.subscribe('amq.topic', 'home.*.temp', { qos: 1 });
  // 42 names a delivery, which a restart renumbers: kept in memory only. -1 is an adapter's marker.
  await session.setInflight(7, 42);
  await session.setInflight(9, -1);
  assert.deepEqual(
    [...session.inflight()],
    [
      [7, 42],
      [9, -1],
    ],
  );
  await first.vhost.publish('amq.topic', 'home.kitchen.temp', message('21', { persistent: true })).confirmed;
  await session.disconnect();
  await first.broker.close();

  const second = await openCore({ storage, clock });
  const listed = second.broker.sessions('/').listSessions();
  assert.equal(listed.length, 1);
  assert.deepEqual(listed[0]?.subscriptions, [
    { exchange: 'amq.topic', pattern: 'home.*.temp', options: { qos: 1 } },
  ]);
  const back = await second.broker.sessions('/').openSession('client/1', { durable: true });
  assert.equal(back.present, true);
  assert.equal(back.connected, true);
  assert.deepEqual([...back.inflight()], [[9, -1]]);
  assert.equal(second.vhost.publish('amq.topic', 'home.hall.temp', message('19')).routedCount, 1);
  assert.deepEqual(drain(second.vhost, back.queue), ['21', '19']);
  await second.broker.close();
});

test('sessions: a transient session is gone after a restart', async () => {
  const storage = new MemoryStorage();
  const first = await openCore({ storage });
  await first.broker.sessions('/').openSession('temp', { durable: false });
  await first.broker.close();
  const second = await openCore({ storage });
  assert.deepEqual(second.broker.sessions('/').listSessions(), []);
  assert.equal(
    second.vhost.listQueues().some((q) => q.name === sessionQueueName('temp')),
    false,
  );
  await second.broker.close();
});

test('sessions: the queue is declared at the first subscription, not at open', async () => {
  const { broker, vhost } = await openCore();
  const session = await broker.sessions('/').openSession('lazy', { durable: false });
  await settle();
  assert.equal(session.hasQueue, false);
  assert.equal(vhost.hasQueue(session.queue), false);
  await session.subscribe('amq.topic', 'a.b');
  assert.equal(session.hasQueue, true);
  assert.equal(vhost.publish('amq.topic', 'a.b', message('1')).routedCount, 1);
  assert.deepEqual(drain(vhost, session.queue), ['1']);
  await session.destroy();
  assert.equal(vhost.hasQueue(session.queue), false);
  await broker.close();
});

test('sessions: unsubscribe stops routing; resubscribing replaces options', async () => {
  const { broker, vhost } = await openCore();
  const session = await broker.sessions('/').openSession('s', { durable: false });
  await settle();
  await session.subscribe('amq.topic', 'a.#', { qos: 0 });
  await session.subscribe('amq.topic', 'a.#', { qos: 1 });
  assert.equal(
    vhost.listBindings().filter((b) => b.destination === session.queue && b.source !== '').length,
    1,
  );
  assert.equal(vhost.publish('amq.topic', 'a.b', message('x')).routedCount, 1);
  assert.equal(await session.unsubscribe('amq.topic', 'a.#'), true);
  assert.equal(await session.unsubscribe('amq.topic', 'a.#'), false);
  assert.equal(vhost.publish('amq.topic', 'a.b', message('y')).routedCount, 0);
  await broker.close();
});

test('sessions: clean start destroys the previous session', async () => {
  const { broker, vhost } = await openCore();
  const sessions = broker.sessions('/');
  const old = await sessions.openSession('c', { durable: true });
  await settle();
  await old.subscribe('amq.topic', 'x');
  vhost.publish('amq.topic', 'x', message('old'));
  const fresh = await sessions.openSession('c', { durable: true, clean: true });
  await settle();
  assert.equal(fresh.present, false);
  assert.deepEqual(fresh.subscriptions(), []);
  // The old queue went with its messages; the fresh session declares its own at its first subscription.
  assert.equal(fresh.hasQueue, false);
  await fresh.subscribe('amq.topic', 'y');
  assert.deepEqual(drain(vhost, fresh.queue), []);
  await broker.close();
});

test('sessions: an expired session is removed after its owner stays away; reconnecting stops the clock', async () => {
  const { broker, vhost, clock, storage } = await openCore();
  const sessions = broker.sessions('/');
  const session = await sessions.openSession('e', { durable: true, expiryMs: 1000 });
  await settle();
  await session.disconnect();
  clock.advance(600);
  await session.connect();
  clock.advance(5000);
  assert.ok(sessions.session('e'));
  await session.disconnect();
  clock.advance(999);
  assert.ok(sessions.session('e'));
  clock.advance(2);
  await settle();
  assert.equal(sessions.session('e'), undefined);
  assert.equal(
    vhost.listQueues().some((q) => q.name === session.queue),
    false,
  );
  assert.deepEqual(
    (await storage.listLogs()).filter((name) => name.startsWith('session.')),
    [],
    'the session log is gone',
  );
  await broker.close();
});

test('sessions: expiry keeps counting across a restart', async () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock();
  const first = await openCore({ storage, clock });
  const session = await first.broker.sessions('/').openSession('r', { durable: true, expiryMs: 1000 });
  await settle();
  await session.disconnect();
  await first.broker.close();
  clock.advance(700);
  const second = await openCore({ storage, clock });
  assert.ok(second.broker.sessions('/').session('r'));
  clock.advance(301);
  await settle();
  assert.equal(second.broker.sessions('/').session('r'), undefined);
  await second.broker.close();
});

test('sessions: session queue names are escaped and bounded', () => {
  assert.equal(sessionQueueName('a/b c'), 'session.a%2Fb%20c');
  assert.match(sessionQueueName('x'.repeat(400)), /^session\.h\.[0-9a-f]{64}$/);
});

test('sessions: in-flight changes made in one event-loop turn are stored by one entry', async () => {
  const storage = new MemoryStorage();
  const { broker } = await openCore({ storage });
  const session = await broker.sessions('/').openSession('gather', { durable: true });
  const writes: Array<Promise<void>> = [];
  for (let id = 1; id <= 50; id++) writes.push(session.setInflight(id, id + 100));
  for (let id = 1; id <= 50; id++) writes.push(session.setInflight(id, -1));
  for (let id = 1; id <= 25; id++) writes.push(session.deleteInflight(id));
  await Promise.all(writes);
  await session.setInflight(100, 7);
  await session.deleteInflight(100);
  await broker.close();
  const stored = await readStateLog(storage, stateLogName('session', '/', 'gather'), sessionMachine);
  const markers = stored.entries.filter((entry) => entry.type === 'markers');
  assert.equal(markers.length, 1, 'one entry for the turn; entries naming a delivery write nothing');
  assert.equal(stored.replayed.state.markers.size, 25);
});

test('sessions: group subscriptions are kept with a durable session and go with it', async () => {
  const storage = new MemoryStorage();
  const clock = new ManualClock();
  const first = await openCore({ storage, clock });
  const session = await first.broker.sessions('/').openSession('member', { durable: true });
  await session.groupSubscribe('g1', 'amq.topic', 'a.*', { qos: 1 });
  await session.groupSubscribe('g1', 'amq.topic', 'a.*', { qos: 2 });
  await session.groupSubscribe('g2', 'amq.topic', '#', {});
  assert.equal(await session.groupUnsubscribe('g2', 'amq.topic', '#'), true);
  assert.equal(await session.groupUnsubscribe('g2', 'amq.topic', '#'), false);
  await first.broker.close();

  const second = await openCore({ storage, clock });
  const back = second.broker.sessions('/').session('member')!;
  assert.deepEqual(back.groupSubscriptions(), [
    { group: 'g1', exchange: 'amq.topic', pattern: 'a.*', options: { qos: 2 } },
  ]);
  const fresh = await second.broker.sessions('/').openSession('member', { durable: true, clean: true });
  assert.deepEqual(fresh.groupSubscriptions(), []);
  await second.broker.close();
});

/** A durable session `<name>/1` subscribed to `<name>.#`, and two persistent messages got from its queue, unacked. */
async function twoDelivered(core: CoreFixture, name: string) {
  const session = await core.broker.sessions('/').openSession(`${name}/1`, { durable: true });
  assert.equal(session.holdsStored(0), undefined, 'no queue yet: not known');
  await session.subscribe('amq.topic', `${name}.#`);
  await settle();
  for (const body of ['a', 'b']) {
    await core.vhost.publish('amq.topic', `${name}.x`, message(body, { persistent: true })).confirmed;
  }
  const owner = `test/${name}`;
  const got = [1, 2].map(() => core.vhost.get(session.queue, { noAck: false, owner })!);
  return { session, got };
}

test('sessions: holdsStored tells whether the session queue still holds a stored message, across a restart', async () => {
  const storage = new MemoryStorage();
  const first = await openCore({ storage });
  const { session, got } = await twoDelivered(first, 'held');
  const [a, b] = got;
  const [atA, atB] = [a!.storedAt!, b!.storedAt!];
  assert.equal(session.holdsStored(atA), true);
  first.vhost.ack(session.queue, a!.id);
  assert.equal(session.holdsStored(atA), false, 'acked: gone');
  assert.equal(session.holdsStored(atB), true, 'unacked: still held');
  assert.equal(session.holdsStored(atB + 10), false, 'never appended');
  await settle();
  await first.broker.close();

  const second = await openCore({ storage });
  const back = await second.broker.sessions('/').openSession('held/1', { durable: true });
  assert.equal(back.holdsStored(atA), false, 'its ack was stored');
  assert.equal(back.holdsStored(atB), true, 'back in the queue');
  await second.broker.close();
});

/** A test adapter's marker naming a message by its offset. */
const byOffset = (offset: number) => -10 - offset;

/**
 * Two messages of session `<name>/1` delivered, markers 1 and 2 naming them by offset, then the first
 * one's ack stored; the core closed. Returns the two offsets.
 */
async function markersNamingTwo(
  storage: MemoryStorage,
  name: string,
): Promise<{ gone: number; kept: number }> {
  const first = await openCore({ storage });
  const { session, got } = await twoDelivered(first, name);
  const [gone, kept] = got;
  await Promise.all([
    session.setInflight(1, byOffset(gone!.storedAt!)),
    session.setInflight(2, byOffset(kept!.storedAt!)),
  ]);
  first.vhost.ack(session.queue, gone!.id);
  await settle();
  await first.broker.close();
  return { gone: gone!.storedAt!, kept: kept!.storedAt! };
}

test('sessions: a start settles a stored marker whose message the recovered queue no longer holds, and stores that', async () => {
  const storage = new MemoryStorage();
  const { gone, kept } = await markersNamingTwo(storage, 'settled');

  const asked: number[] = [];
  const settleStoredMarker = (marker: number, holds: (offset: number) => boolean) => {
    asked.push(marker);
    return holds(byOffset(marker)) ? undefined : -1;
  };
  const second = await openCore({ storage, settleStoredMarker });
  const back = second.broker.sessions('/').session('settled/1')!;
  assert.deepEqual(
    [...back.inflight()],
    [
      [1, -1],
      [2, byOffset(kept)],
    ],
  );
  assert.deepEqual(asked.sort(), [byOffset(gone), byOffset(kept)].sort());
  await second.broker.close();

  const third = await openCore({ storage });
  const stored = third.broker.sessions('/').session('settled/1')!;
  assert.deepEqual(stored.inflight().get(1), -1, 'the settled marker was written');
  await third.broker.close();
});

test('sessions: a start removes a stored marker the settling function answers null for, and stores that', async () => {
  const storage = new MemoryStorage();
  const { kept } = await markersNamingTwo(storage, 'cleared');

  const settleStoredMarker = (marker: number, holds: (offset: number) => boolean) =>
    holds(byOffset(marker)) ? undefined : null;
  const second = await openCore({ storage, settleStoredMarker });
  const back = second.broker.sessions('/').session('cleared/1')!;
  assert.deepEqual([...back.inflight()], [[2, byOffset(kept)]]);
  await second.broker.close();

  const third = await openCore({ storage });
  const stored = third.broker.sessions('/').session('cleared/1')!;
  assert.equal(stored.inflight().has(1), false, 'the removal was written');
  await third.broker.close();
});

test('sessions: a session queue declared by a build that did not count properties counts them after the upgrade, across a restart', async () => {
  const storage = new MemoryStorage();
  const first = await openCore({ storage });
  // What a build from before `countsPropertyBytes` left: the durable session queue, without the option.
  first.vhost.declareQueue(sessionQueueName('old'), { durable: true, autoDelete: false });
  const session = await first.broker.sessions('/').openSession('old', { durable: true });
  await settle();
  await session.subscribe('amq.topic', 'a.b', { qos: 1 });
  await session.disconnect();
  await first.broker.close();

  const second = await openCore({ storage });
  const back = await second.broker.sessions('/').openSession('old', { durable: true });
  const padding = 'p'.repeat(4000);
  await second.vhost.publish(
    'amq.topic',
    'a.b',
    message('x', { persistent: true, headers: [['pad', padding]] }),
  ).confirmed;
  const counted = second.vhost.listQueues().find((q) => q.name === back.queue)?.messageBytes ?? 0;
  assert.ok(counted > padding.length, `counted ${counted} bytes`);
  await second.broker.close();
});

test('sessions: a handle is current until its session is replaced or destroyed', async () => {
  const { broker, client } = await openCore();
  const first = await client.openSession('k', { durable: false });
  assert.equal(first.current, true);
  // Resuming keeps the incarnation: the same session goes on.
  const resumed = await client.openSession('k', { durable: false });
  assert.equal(resumed.incarnation, first.incarnation);
  assert.equal(first.current, true);
  const fresh = await client.openSession('k', { durable: false, clean: true });
  assert.equal(first.current, false);
  assert.equal(fresh.current, true);
  await fresh.destroy();
  assert.equal(fresh.current, false);
  await broker.close();
});
