/**
 * A crash can cut the unwritten (SIGKILL) or unsynced (power loss) end of a queue's message log while
 * the removals log, written on its own schedule, keeps a record naming an offset of that lost end: a
 * message delivered as it arrived and acked (or, in a quorum queue, counted) before its own write.
 * Such a message was never confirmed, so losing it is allowed; but the offset must not be handed to
 * the next message, or that record would apply to it at the following start. The tests cut the
 * segment's tail as a power loss would (the removals log kept whole) and check the next message.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { queueLogNames } from '../../src/core/queues/names.js';
import type { Delivery, QueueOptions } from '../../src/core/types.js';
import { FileStorage } from '../../src/storage/file/storage.js';
import type { Storage } from '../../src/storage/types.js';
import { msg, openQueue, text, tick } from '../../testing/queue-harness.js';

type Harness = Awaited<ReturnType<typeof openQueue>>;

const persistent = { persistent: true } as const;
const classic: QueueOptions = { durable: true };
const quorum: QueueOptions = { durable: true, arguments: { 'x-queue-type': 'quorum' } };
const queueName = 'cut';

interface Folder {
  storage: Storage;
  restart(): Promise<Storage>;
  /** The message log's active segment, where the tail is cut. */
  readonly segment: string;
  /** Stops the storage, cuts the segment back to `bytes` as a power loss would, and starts it again. */
  cut(bytes: number): Promise<void>;
  close(): Promise<void>;
}

async function folder(): Promise<Folder> {
  const dir = mkdtempSync(path.join(tmpdir(), 'switchyard-offreuse-'));
  const options = { dir, fsync: { kind: 'always' } as const };
  const name = queueLogNames('/', queueName).messages;
  const f: Folder = {
    storage: await FileStorage.open(options),
    segment: path.join(dir, 'logs', name, '00000000000000000000.log'),
    async restart() {
      await f.storage.close();
      f.storage = await FileStorage.open(options);
      return f.storage;
    },
    async cut(bytes) {
      await f.storage.close();
      truncateSync(f.segment, bytes);
      f.storage = await FileStorage.open(options);
    },
    async close() {
      await f.storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return f;
}

/**
 * Leaves the state a crash can leave: `kept` stored, then `lost` stored and handed to `touch` (which
 * acks or counts it, records that reach the removals log), then the message log cut back to `kept`.
 */
async function cutAfterTouch(f: Folder, options: QueueOptions, touch: (h: Harness) => void): Promise<void> {
  const first = await openQueue(options, { storage: f.storage, name: queueName });
  await first.queue.enqueue(msg('kept', persistent)).durable;
  await first.queue.close();
  const keptBytes = statSync(f.segment).size;
  const second = await openQueue(options, { storage: await f.restart(), name: queueName });
  const lost = second.queue.get({ noAck: false, owner: 'o' });
  assert.equal(text(lost), 'kept');
  second.queue.nack(lost!.id, true);
  await second.queue.enqueue(msg('lost', persistent)).durable;
  touch(second);
  await second.queue.close();
  await f.cut(keptBytes);
}

/** Takes every message there is, unacked, by text. */
function drain(h: Harness): Map<string, number> {
  const got = new Map<string, number>();
  for (
    let d = h.queue.get({ noAck: false, owner: 'o' });
    d !== undefined;
    d = h.queue.get({ noAck: false, owner: 'o' })
  ) {
    got.set(text(d), d.deliveryCount);
  }
  return got;
}

/**
 * After the cut: only `kept` is back; `fresh` is stored, and after one more restart every message
 * there is, by text, with its delivery count.
 */
async function freshAfterCut(f: Folder, options: QueueOptions): Promise<Map<string, number>> {
  const third = await openQueue(options, { storage: f.storage, name: queueName });
  assert.equal(third.queue.info().messageCount, 1, 'only `kept` is back');
  await third.queue.enqueue(msg('fresh', persistent)).durable;
  await third.queue.close();
  const fourth = await openQueue(options, { storage: await f.restart(), name: queueName });
  const got = drain(fourth);
  await fourth.queue.close();
  return got;
}

/** `touch` takes `kept` (returned before), then `lost`, which it hands to `settle`. */
function takeLost(settle: (h: Harness, lost: Delivery) => void): (h: Harness) => void {
  return (h) => {
    h.queue.get({ noAck: false, owner: 'o' });
    const lost = h.queue.get({ noAck: false, owner: 'o' });
    assert.equal(text(lost), 'lost');
    settle(h, lost!);
  };
}

const ackLost = takeLost((h, lost) => h.queue.ack(lost.id));

test('an ack of a message lost to a cut tail never removes the next message stored', async () => {
  const f = await folder();
  try {
    await cutAfterTouch(f, classic, ackLost);
    assert.deepEqual([...(await freshAfterCut(f, classic)).keys()].sort(), ['fresh', 'kept']);
  } finally {
    await f.close();
  }
});

test("a quorum count of a message lost to a cut tail never becomes the next message's count", async () => {
  const f = await folder();
  try {
    // Taken unacked: its count (1) is recorded, and the close leaves it so.
    await cutAfterTouch(
      f,
      quorum,
      takeLost(() => {}),
    );
    const got = await freshAfterCut(f, quorum);
    assert.deepEqual([...got.keys()].sort(), ['fresh', 'kept']);
    assert.equal(got.get('fresh'), 0, 'never delivered');
  } finally {
    await f.close();
  }
});

/** More removal records than one snapshot follows (`ackRecordsPerSnapshot` in store.ts is 1024). */
const removalsPastSnapshot = 1100;

test('a removals snapshot whose base lies past the cut end of the log keeps the next message', async () => {
  const f = await folder();
  try {
    const first = await openQueue(classic, { storage: f.storage, name: queueName });
    for (let i = 0; i < removalsPastSnapshot; i++) {
      await first.queue.enqueue(msg(`m${i}`, persistent)).durable;
      first.queue.ack(first.queue.get({ noAck: false, owner: 'o' })!.id);
      // Each ack its own removal record, so a snapshot (base: every offset so far) follows.
      await tick();
    }
    await first.queue.close();
    // Power loss: not one message reached the disk, the removals log with its snapshot did.
    await f.cut(0);
    const second = await openQueue(classic, { storage: f.storage, name: queueName });
    assert.equal(second.queue.info().messageCount, 0);
    await second.queue.enqueue(msg('fresh', persistent)).durable;
    await second.queue.close();
    const third = await openQueue(classic, { storage: await f.restart(), name: queueName });
    assert.deepEqual([...drain(third).keys()], ['fresh']);
    await third.queue.close();
  } finally {
    await f.close();
  }
});

test('opening again and again after a cut tail neither grows the log nor loses a message', async () => {
  const f = await folder();
  try {
    await cutAfterTouch(f, classic, ackLost);
    // Each open repairs what the one before may have left half-done; one repair is all there is.
    const sizes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const h = await openQueue(classic, {
        storage: i === 0 ? f.storage : await f.restart(),
        name: queueName,
      });
      assert.equal(h.queue.info().messageCount, 1, 'only `kept` is back');
      // `lost`'s offset (1): a marker naming it is settled as naming nothing the queue holds.
      assert.equal(h.queue.holdsStored(1), false);
      await h.queue.close();
      sizes.push(statSync(f.segment).size);
    }
    assert.equal(new Set(sizes).size, 1, `segment sizes ${sizes.join(', ')}`);
    assert.deepEqual([...(await freshAfterCut(f, classic)).keys()].sort(), ['fresh', 'kept']);
  } finally {
    await f.close();
  }
});
