/**
 * A durable queue is declared to the client (queue.declare-ok) only once its definition is durable:
 * a child broker whose definitions log's writes never land is asked to declare a durable queue, and a
 * persistent message is published to it with a confirm; the broker is then SIGKILLed. Before the fix
 * declare-ok came at once and the message was confirmed (its own log had it), yet after the restart the
 * queue did not exist and the confirmed message was gone with it. Likewise a deletion: queue.delete-ok
 * comes only once the deletion is stored, so a queue the client was told is gone does not come back.
 * A declare with `nowait` gets no answer, but a message published to its queue is confirmed only once
 * the queue is stored (before the fix the confirm came and the queue, with the message, was gone); so
 * is a message another connection publishes to a queue whose declare is not yet stored.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Method } from '../../../src/protocols/amqp/codec/index.js';
import { confirmChannelOf, open, RawClient, startAmqpBroker } from '../../../testing/amqp-helpers.js';
import { inTempFolder, settlesWithin, startStalledChild } from '../../../testing/crash-stall.js';
import { until } from '../../../testing/wait.js';

/** How long the test waits for an answer that must not come before the definition is written. */
const answerWaitMs = 1_500;

/** A broker on `dataDir` again: the queue's message count, undefined when it does not exist. */
async function queueAfterRestart(dataDir: string, queue: string): Promise<number | undefined> {
  const broker = await startAmqpBroker({ storage: 'file', dataDir });
  try {
    const c = await open(broker.url);
    const ch = await confirmChannelOf(c);
    const found = await ch.checkQueue(queue).then(
      (q) => q.messageCount,
      () => undefined,
    );
    await c.close().catch(() => {});
    return found;
  } finally {
    await broker.stop();
  }
}

/** In a child broker with its definitions stalled: declare, publish with a confirm, die. */
async function declareWhileStalled(dataDir: string): Promise<{ declared: boolean; confirmed: boolean }> {
  const child = await startStalledChild(dataDir, 'amqp');
  try {
    const c = await open(`amqp://guest:guest@127.0.0.1:${child.port}`);
    const ch = await confirmChannelOf(c);
    await child.stall('/logs/defs/');
    const declared = await settlesWithin(ch.assertQueue('kept.durable', { durable: true }), answerWaitMs);
    let confirmed = false;
    if (declared) {
      ch.sendToQueue('kept.durable', Buffer.from('confirmed'), { persistent: true });
      confirmed = await settlesWithin(ch.waitForConfirms(), answerWaitMs);
    }
    await child.kill();
    await c.close().catch(() => {});
    return { declared, confirmed };
  } finally {
    await child.kill();
  }
}

test('a durable queue is declared only once stored: neither it nor its confirmed messages are lost by a crash', async () => {
  await inTempFolder('switchyard-declare-crash-', async (dataDir) => {
    const { declared, confirmed } = await declareWhileStalled(dataDir);
    const found = await queueAfterRestart(dataDir, 'kept.durable');
    assert.ok(!declared || found !== undefined, 'a queue whose declare-ok came is there after the crash');
    assert.ok(!confirmed || found === 1, `the confirmed message is there (found ${found})`);
    assert.equal(declared, false, 'no declare-ok while the definition is not stored');
  });
});

/** In a child broker: a durable queue declared and stored, then deleted with its definitions stalled. */
async function deleteWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'amqp');
  try {
    const c = await open(`amqp://guest:guest@127.0.0.1:${child.port}`);
    const ch = await confirmChannelOf(c);
    await ch.assertQueue('gone.durable', { durable: true });
    await child.stall('/logs/defs/');
    const deleted = await settlesWithin(ch.deleteQueue('gone.durable'), answerWaitMs);
    await child.kill();
    await c.close().catch(() => {});
    return deleted;
  } finally {
    await child.kill();
  }
}

test('a durable queue is reported deleted only once the deletion is stored: it does not come back after a crash', async () => {
  await inTempFolder('switchyard-delete-crash-', async (dataDir) => {
    const deleted = await deleteWhileStalled(dataDir);
    const found = (await queueAfterRestart(dataDir, 'gone.durable')) !== undefined;
    assert.ok(!deleted || !found, 'a queue whose delete-ok came is gone after the crash');
    assert.equal(deleted, false, 'no delete-ok while the deletion is not stored');
  });
});

const nowaitDeclare: Method = {
  name: 'queue.declare',
  fields: {
    ticket: 0,
    queue: 'nowait.durable',
    passive: false,
    durable: true,
    exclusive: false,
    autoDelete: false,
    noWait: true,
    arguments: {},
  },
};

/** In a child broker with its definitions stalled: declare nowait, publish with a confirm, die. */
async function publishAfterNowaitWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'amqp');
  try {
    const raw = await RawClient.connect(child.port);
    await raw.handshake();
    raw.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw.method('channel.open-ok');
    raw.send(1, { name: 'confirm.select', fields: { noWait: false } });
    await raw.method('confirm.select-ok');
    await child.stall('/logs/defs/');
    raw.send(1, nowaitDeclare);
    raw.publish(1, '', 'nowait.durable', 'confirmed');
    const confirmed = await settlesWithin(raw.method('basic.ack', answerWaitMs), answerWaitMs);
    raw.close();
    return confirmed;
  } finally {
    await child.kill();
  }
}

test('a message confirmed to a queue declared with nowait is not lost by a crash: the confirm waits for the queue to be stored', async () => {
  await inTempFolder('switchyard-nowait-crash-', async (dataDir) => {
    const confirmed = await publishAfterNowaitWhileStalled(dataDir);
    const found = await queueAfterRestart(dataDir, 'nowait.durable');
    assert.ok(!confirmed || found === 1, `the confirmed message is there after the crash (found ${found})`);
    assert.equal(confirmed, false, 'no confirm while the queue it went to is not stored');
  });
});

/** How long the declare of one connection may take to be applied (not stored) in the child. */
const appliedWaitMs = 10_000;

/** Whether `queue` exists, asked on a channel of its own (a 404 closes the channel asking). */
async function queueExists(c: Awaited<ReturnType<typeof open>>, queue: string): Promise<boolean> {
  const ch = await c.createChannel();
  const found = await ch.checkQueue(queue).then(
    () => true,
    () => false,
  );
  if (found) await ch.close();
  return found;
}

/** In a child broker with its definitions stalled: one connection declares, another publishes; die. */
async function publishBesideDeclareWhileStalled(dataDir: string): Promise<boolean> {
  const child = await startStalledChild(dataDir, 'amqp');
  try {
    const url = `amqp://guest:guest@127.0.0.1:${child.port}`;
    const [declarer, publisher] = [await open(url), await open(url)];
    await child.stall('/logs/defs/');
    (await declarer.createChannel()).assertQueue('shared.durable', { durable: true }).catch(() => {});
    await until(() => queueExists(publisher, 'shared.durable'), appliedWaitMs, 'the declare applied');
    const ch = await confirmChannelOf(publisher);
    ch.sendToQueue('shared.durable', Buffer.from('confirmed'), { persistent: true });
    const confirmed = await settlesWithin(ch.waitForConfirms(), answerWaitMs);
    await child.kill();
    for (const c of [declarer, publisher]) await c.close().catch(() => {});
    return confirmed;
  } finally {
    await child.kill();
  }
}

test('a message confirmed to a queue another connection is still declaring is not lost by a crash', () =>
  inTempFolder('switchyard-shared-crash-', async (dataDir) => {
    const confirmed = await publishBesideDeclareWhileStalled(dataDir);
    const found = await queueAfterRestart(dataDir, 'shared.durable');
    assert.ok(!confirmed || found === 1, `the confirmed message is there after the crash (found ${found})`);
    assert.equal(confirmed, false, 'no confirm while the queue it went to is not stored');
  }));
