/**
 * CoreClient.take on a quorum queue waits for returns being counted before it takes (./client.ts).
 * A caller that went away during that wait takes nothing: what it would take is for the callers left.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { internalContext } from '../../src/core/entry/context.js';
import { MemoryStorage } from '../../src/storage/memory.js';
import { message, openCore, settle, text } from '../../testing/core-helpers.js';

const queue = 'jobs';

test('a take whose connection closes while it waits for a return takes nothing; the next caller gets the message', async () => {
  const core = await openCore({ storage: new MemoryStorage() });
  const gone = core.client;
  gone.declareQueue(queue, { durable: true, arguments: { 'x-queue-type': 'quorum' } });
  await settle();
  await gone.publish('', queue, message('a', { persistent: true })).confirmed;
  const [first] = await gone.take(queue, { noAck: false, owner: 'c1/1' });
  assert.ok(first !== undefined);
  // Returned: ready again once its count is written, which the take waits for.
  gone.nack(queue, first.id, true);
  const taking = gone.take(queue, { noAck: false, owner: 'c1/1' });
  gone.closeConnection();
  assert.deepEqual(await taking, [], 'nothing taken for a connection that is gone');
  await settle();
  const next = core.broker.connect(internalContext('/', 'c2'));
  const back = next.get(queue, { noAck: true, owner: 'c2/1' });
  assert.equal(text(back), 'a');
  await core.broker.close();
});
