/**
 * CoreClient.take on a quorum queue waits for returns being counted before it takes (./client.ts).
 * A caller that went away during that wait takes nothing: what it would take is for the callers left.
 * Where nothing has to wait (a classic queue) it answers at once, and N messages are one command.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Client } from '../../src/core/entry/client.js';
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

test('a take of N messages is one command for the messages, however many; a classic queue answers at once', async () => {
  const core = await openCore({ storage: new MemoryStorage() });
  const kinds: string[] = [];
  const counting = new Client(
    {
      execute: (context, command) => {
        kinds.push(command.kind);
        return core.broker.execute(context, command);
      },
    },
    internalContext('/', 'c1'),
  );
  counting.declareQueue(queue, { durable: false });
  await settle();
  for (let i = 0; i < 50; i++) counting.publish('', queue, message(`m${i}`));
  kinds.length = 0;
  const taken = counting.take(queue, { noAck: false, owner: 'admin' }, 50);
  assert.ok(Array.isArray(taken), 'nothing to wait for: taken at once');
  assert.deepEqual(
    taken.map(text),
    Array.from({ length: 50 }, (_, i) => `m${i}`),
  );
  // Each command is authorized, placed and metered: one per message was 52 here.
  assert.ok(kinds.length <= 3, `commands: ${kinds.join(', ')}`);
  const counts = counting.queueCounts(queue);
  assert.equal(counts?.delivered, 50, 'every message taken is counted delivered');
  await core.broker.close();
});
