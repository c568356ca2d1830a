/**
 * `StateLog`: commits are read at once and replayed after a reopen; the log is compacted by snapshot
 * runs of ordinary entries; a crash at any record leaves the state of what was committed before it;
 * random sequences match a plain model across snapshots and reopens; and a log the disk refuses
 * fails its object alone, which comes back from its log once the disk heals.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { GroupMembership, GroupOffset } from '../../src/core/api.js';
import { Supervisor } from '../../src/core/exec/supervisor.js';
import { FoundObjects } from '../../src/core/state/discover.js';
import { type GroupEntry, type GroupState, groupMachine } from '../../src/core/state/group-entries.js';
import { encodeJson } from '../../src/core/state/json.js';
import { stateLogName } from '../../src/core/state/names.js';
import { OwnedLog } from '../../src/core/state/owned-log.js';
import {
  type RetainedEntry,
  type RetainedState,
  retainedMachine,
} from '../../src/core/state/retained-entries.js';
import { Replayer, recordFormat, replayLog, StateLog } from '../../src/core/state/state-log.js';
import { ManualClock } from '../../src/shared/clock.js';
import { isBrokerError } from '../../src/shared/errors.js';
import { silentLogger } from '../../src/shared/logger.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import type { LogEntry, Storage } from '../../src/storage/types.js';
import { testExecutor, testSupervisor } from '../../testing/exec-helpers.js';
import { until } from '../../testing/server-helpers.js';

const clock = new ManualClock();
const retainedIdentity = { kind: 'retained', vhost: '/', name: '' };
const groupIdentity = { kind: 'group', vhost: '/', name: 'g' };
const small = { snapshotEntriesMin: 4, snapshotBytesMin: 1 << 30 };

const set = (key: string, text: string): RetainedEntry => ({
  type: 'set',
  message: { key, body: new TextEncoder().encode(text), properties: {} },
});

function bodies(state: RetainedState): Record<string, string> {
  return Object.fromEntries([...state].map(([key, m]) => [key, new TextDecoder().decode(m.body)]));
}

async function openRetained(
  storage: Storage,
  limits = small,
): Promise<StateLog<RetainedState, RetainedEntry>> {
  const { exec } = testExecutor(clock, 'retained', '/');
  return StateLog.open({ storage, machine: retainedMachine, exec, identity: retainedIdentity, limits }, 'r');
}

/** Lets deferred work (compaction) and durability continuations run. */
async function turns(count = 5): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A fresh log holding exactly `records`, as a crash would leave a prefix of what was written. */
async function logOf(records: readonly LogEntry[]): Promise<MemoryStorage> {
  const storage = new MemoryStorage();
  const log = await storage.openLog('r');
  for (const { payload, format, timestamp } of records) log.append({ payload, format, timestamp });
  await log.close();
  return storage;
}

describe('StateLog', () => {
  test('a commit is read at once and comes back after a reopen; a new log starts with its identity', async () => {
    const storage = new MemoryStorage();
    const first = await openRetained(storage);
    const written = first.commit(set('a', '1'));
    assert.deepEqual(bodies(first.state), { a: '1' }, 'reads see a commit before it is durable');
    await written;
    await first.commit({ type: 'clear', key: 'a' });
    await first.commit(set('b', '2'));
    await first.close();
    const second = await openRetained(storage);
    assert.deepEqual(bodies(second.state), { b: '2' });
    await second.close();
    const log = await storage.openLog('r');
    const [begin] = log.read(0, { maxEntries: 1 });
    assert.equal(begin?.format, recordFormat.snapshotBegin, 'the first record names the object');
    await log.close();
  });

  test('compaction writes a snapshot run once the log has grown, and truncates before it', async () => {
    const storage = new MemoryStorage();
    const log = await openRetained(storage);
    for (let i = 0; i < 40; i++) await log.commit(set(`k${i % 3}`, `v${i}`));
    await turns();
    await log.close();
    const raw = await storage.openLog('r');
    assert.ok(raw.startOffset > 0, 'records before the last whole run are gone');
    const records = raw.read(raw.startOffset);
    assert.equal(records[0]?.format, recordFormat.snapshotBegin);
    assert.ok(records.length < 20, `${records.length} records left of 40 commits`);
    await raw.close();
    const reopened = await openRetained(storage);
    assert.deepEqual(bodies(reopened.state), { k0: 'v39', k1: 'v37', k2: 'v38' });
    await reopened.close();
  });

  test("a share group's updates are compacted: the log stays bounded and reopens to the last state", async () => {
    const storage = new MemoryStorage();
    const { exec } = testExecutor(clock, 'group', '/');
    const options = { storage, machine: groupMachine, exec, identity: groupIdentity, limits: small };
    const log = await StateLog.open<GroupState, GroupEntry>(options, 'g');
    // Record i acquired (delivery 1), then accepted; the start offset follows: 2000 updates.
    for (let i = 0; i < 1000; i++) {
      const at = (done: boolean, start: number) => ({
        stream: 's',
        partition: 0,
        startOffset: start,
        endOffset: i + 1,
        records: [{ first: i, last: i, deliveries: 1, done }],
      });
      await log.commit({ type: 'share.update', partition: at(false, i) });
      await log.commit({ type: 'share.update', partition: at(true, i === 999 ? 999 : i + 1) });
    }
    await turns();
    await log.close();
    const raw = await storage.openLog('g');
    const left = raw.read(raw.startOffset).length;
    assert.ok(left < 20, `${left} records left of 2000 updates`);
    await raw.close();
    const reopened = await StateLog.open<GroupState, GroupEntry>(options, 'g');
    const row = [...reopened.state.share.partitions.values()][0];
    assert.equal(row?.startOffset, 999);
    assert.equal(row?.endOffset, 1000);
    assert.deepEqual([...(row?.records ?? [])], [[999, { deliveries: 1, done: true }]]);
    await reopened.close();
  });

  test('a state larger than one entry may be is snapshotted as a run of ordinary entries', async () => {
    const storage = new MemoryStorage({ entryBytesMax: 4096 });
    const log = await openRetained(storage, { snapshotEntriesMin: 150, snapshotBytesMin: 1 << 30 });
    for (let i = 0; i < 200; i++) await log.commit(set(`key.${i}`, 'x'.repeat(1000)));
    await turns();
    await log.close();
    const reopened = await openRetained(storage);
    assert.equal(reopened.state.size, 200);
    await reopened.close();
  });

  test('an entry larger than storage takes is refused, and the object carries on', async () => {
    const storage = new MemoryStorage({ entryBytesMax: 4096 });
    const { exec, faults } = testExecutor(clock, 'retained', '/');
    const options = { storage, machine: retainedMachine, exec, identity: retainedIdentity };
    const log = await StateLog.open(options, 'r');
    assert.throws(
      () => log.commit(set('big', 'x'.repeat(5000))),
      (err) => isBrokerError(err, 'invalid_argument'),
    );
    await log.commit(set('small', 'x'));
    await turns();
    assert.deepEqual(Object.keys(bodies(log.state)), ['small']);
    assert.deepEqual(faults, []);
    await log.close();
  });
});

describe('StateLog after a crash', () => {
  test('a crash at every record, snapshot runs included, leaves the state of what was committed', async () => {
    // File segments are truncated whole, so with one segment every record written stays readable.
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-statelog-'));
    try {
      const storage = await FileStorage.open({ dir, fsync: { kind: 'never' } });
      const log = await openRetained(storage, { snapshotEntriesMin: 3, snapshotBytesMin: 1 << 30 });
      const models: Array<Record<string, string>> = [{}];
      for (let i = 0; i < 12; i++) {
        await log.commit(i % 4 === 3 ? { type: 'clear', key: `k${i % 2}` } : set(`k${i % 5}`, `v${i}`));
        models.push(bodies(log.state));
        await turns();
      }
      await log.close();
      const raw = await storage.openLog('r');
      const records = raw.read(0).map((r) => ({ ...r, payload: r.payload.slice() }));
      await storage.close();
      assert.ok(records.filter((r) => r.format === recordFormat.snapshotEnd).length >= 3, 'several runs');
      for (let cut = 0; cut <= records.length; cut++) await checkPrefix(records.slice(0, cut), models);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a snapshot run replaces the state only when it is whole', () => {
    const begin = encodeJson({ ...retainedIdentity, entries: 1 });
    const only = encodeJson(retainedMachine.encode(set('only', 'x')));
    const before = new Replayer(retainedMachine);
    before.push(recordFormat.entry, encodeJson(retainedMachine.encode(set('old', 'o'))));
    before.push(recordFormat.snapshotBegin, begin);
    before.push(recordFormat.snapshotEntry, only);
    assert.deepEqual(bodies(before.result().state), { old: 'o' }, 'no end marker: the older state');
    before.push(recordFormat.snapshotEnd, encodeJson({ entries: 1 }));
    assert.deepEqual(bodies(before.result().state), { only: 'x' }, 'whole: the run is the state');
    const short = new Replayer(retainedMachine);
    short.push(recordFormat.snapshotBegin, begin);
    short.push(recordFormat.snapshotEnd, encodeJson({ entries: 1 }));
    assert.equal(short.result().identity, undefined, 'a run missing an entry is not whole');
  });
});

/** Replays `prefix`; then, as the object would after the crash, opens it, commits and reopens. */
async function checkPrefix(prefix: readonly LogEntry[], models: ReadonlyArray<Record<string, string>>) {
  const committed = prefix.filter((r) => r.format === recordFormat.entry).length;
  const storage = await logOf(prefix);
  const raw = await storage.openLog('r');
  assert.deepEqual(
    bodies(replayLog(raw, retainedMachine).state),
    models[committed],
    `cut at ${prefix.length}`,
  );
  await raw.close();
  const reopened = await openRetained(storage);
  await reopened.commit(set('after', 'crash'));
  await reopened.close();
  const again = await openRetained(storage);
  assert.deepEqual(
    bodies(again.state),
    { ...models[committed], after: 'crash' },
    `cut at ${prefix.length}, reopened`,
  );
  await again.close();
}

// ---- random sequences against a model

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): (n: number) => number {
  let x = seed;
  return (n) => {
    x = (x * 1_103_515_245 + 12_345) % 2 ** 31;
    return x % n;
  };
}

interface GroupModel {
  offsets: Map<string, GroupOffset>;
  membership: GroupMembership | undefined;
}

function randomGroupEntry(next: (n: number) => number): GroupEntry {
  const stream = ['a', 'b', 'c'][next(3)]!;
  switch (next(10)) {
    case 0:
      return { type: 'offsets.dropStream', stream };
    case 1:
      return { type: 'offsets.clear' };
    case 2:
      return { type: 'membership.clear' };
    case 3: {
      const members = [
        {
          id: `m${next(5)}`,
          instanceId: null,
          clientId: 'c',
          clientHost: 'h',
          sessionTimeoutMs: 1,
          rebalanceTimeoutMs: 2,
          protocols: [],
          assignment: new Uint8Array([next(256)]),
        },
      ];
      return {
        type: 'membership.put',
        membership: {
          generation: next(100),
          protocolType: 'consumer',
          protocol: null,
          leader: null,
          rebalance: next(2) === 1,
          members,
        },
      };
    }
    default:
      return {
        type: 'offset.commit',
        stream,
        partition: next(3),
        offset: { offset: next(1000), metadata: `m${next(9)}`, committedAt: next(99) },
      };
  }
}

function applyModel(model: GroupModel, entry: GroupEntry): void {
  if (entry.type === 'offset.commit') model.offsets.set(`${entry.stream}/${entry.partition}`, entry.offset);
  else if (entry.type === 'offsets.clear') model.offsets.clear();
  else if (entry.type === 'offsets.dropStream') {
    for (const key of [...model.offsets.keys()])
      if (key.startsWith(`${entry.stream}/`)) model.offsets.delete(key);
  } else if (entry.type === 'membership.put') model.membership = entry.membership;
  else model.membership = undefined;
}

function view(state: GroupState): GroupModel {
  const offsets = new Map(
    [...state.offsets.values()].map((row) => [`${row.stream}/${row.partition}`, row.offset]),
  );
  return { offsets, membership: state.membership };
}

test('StateLog: random sequences match a model across snapshots and reopens', async () => {
  const storage = new MemoryStorage();
  const { exec } = testExecutor(clock, 'group', '/g');
  const options = { storage, machine: groupMachine, exec, identity: groupIdentity, limits: small };
  const next = random(7);
  const model: GroupModel = { offsets: new Map(), membership: undefined };
  let log = await StateLog.open(options, 'g');
  for (let step = 0; step < 600; step++) {
    const entry = randomGroupEntry(next);
    void log.commit(entry);
    applyModel(model, entry);
    assert.deepEqual(view(log.state), model, `step ${step}`);
    if (next(40) === 0) {
      await turns(2);
      await log.close();
      log = await StateLog.open(options, 'g');
      assert.deepEqual(view(log.state), model, `reopened at step ${step}`);
    }
  }
  await log.close();
});

// ---- failures and discovery

test('OwnedLog: a log the disk refuses fails its object alone, which restarts from its log', async () => {
  const { FaultyIo } = await import('../../testing/faulty-io.js');
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-statelog-'));
  const io = new FaultyIo();
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, io });
  const supervisor = testSupervisor(new ManualClock());
  let restarts = 0;
  const open = (name: string) =>
    OwnedLog.open(
      {
        storage,
        supervisor,
        machine: retainedMachine,
        identity: { kind: 'retained', vhost: name, name: '' },
        logName: stateLogName('retained', name),
        onRestarted: () => restarts++,
      },
      'open',
    );
  try {
    const doomed = await open('doomed');
    const healthy = await open('healthy');
    await doomed.commit(set('a', 'kept'));
    io.failing.add(stateLogName('retained', 'doomed'));
    await assert.rejects(doomed.commit(set('b', 'lost')), (err) => isBrokerError(err, 'storage_failed'));
    await healthy.commit(set('c', 'fine'));
    await until(() => restarts === 1, 5000);
    io.failing.clear();
    assert.deepEqual(bodies(doomed.state), { a: 'kept' }, 'the state is what the log holds');
    await doomed.commit(set('d', 'after'));
    await doomed.close();
    await healthy.close();
    const back = await open('doomed');
    assert.deepEqual(bodies(back.state), { a: 'kept', d: 'after' });
    await back.close();
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('OwnedLog: an object that failed for good is still deleted with its log', async () => {
  const { FaultyIo } = await import('../../testing/faulty-io.js');
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-statelog-'));
  const io = new FaultyIo();
  const storage = await FileStorage.open({ dir, fsync: { kind: 'always' }, io });
  const supervisor = new Supervisor({ clock: new ManualClock(), logger: silentLogger(), restartsMax: 0 });
  const logName = stateLogName('retained', 'v');
  const identity = { kind: 'retained', vhost: 'v', name: '' };
  try {
    const owned = await OwnedLog.open(
      { storage, supervisor, machine: retainedMachine, identity, logName },
      'open',
    );
    io.failing.add(logName);
    await assert.rejects(owned.commit(set('a', 'lost')));
    await until(() => owned.failed, 5000);
    io.failing.clear();
    await owned.destroy();
    assert.deepEqual(await storage.listLogs(), []);
  } finally {
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
});

test('discovery hands each vhost its objects and removes torn creations and orphans', async () => {
  const storage = new MemoryStorage();
  const supervisor = testSupervisor(clock);
  for (const [vhost, name] of [
    ['/', 'kept'],
    ['/', ''],
    ['gone', 'orphan'],
  ]) {
    const identity = { kind: 'group', vhost: vhost!, name: name! };
    const logName = stateLogName('group', vhost!, name);
    const owned = await OwnedLog.open(
      { storage, supervisor, machine: groupMachine, identity, logName },
      'create',
    );
    await owned.commit({ type: 'offsets.clear' });
    await owned.close();
  }
  const torn = await storage.openLog(stateLogName('group', '/', 'torn'));
  torn.append({
    payload: encodeJson({ kind: 'group', vhost: '/', name: 'torn', entries: 0 }),
    format: 2,
    timestamp: 0,
  });
  await torn.close();

  const found = await FoundObjects.discover(storage);
  const mine = found.take('/', 'group');
  assert.deepEqual(mine.map((opened) => opened.replayed.identity?.name).sort(), ['', 'kept']);
  for (const opened of mine) await opened.log.close();
  await found.discardRest();
  assert.deepEqual(
    (await storage.listLogs()).sort(),
    [stateLogName('group', '/', ''), stateLogName('group', '/', 'kept')].sort(),
  );
});
