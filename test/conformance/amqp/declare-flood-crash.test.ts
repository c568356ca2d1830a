/**
 * Many durable queues declared at once, each created as new logs whose syncs run off the event loop
 * with the `logs/` folder's fsync shared: a persistent message confirmed to each, then SIGKILL; after
 * the restart every queue is there with its message. Another connection is answered meanwhile.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { confirmChannelOf, open } from '../../../testing/amqp-helpers.js';
import { inTempFolder } from '../../../testing/crash-stall.js';
import { freePort, listenerFlags, startCli } from '../../../testing/server-cli.js';

/** Queues declared together: two logs each. */
const queuesCount = 150;
const queues = Array.from({ length: queuesCount }, (_, i) => `flood.${i}`);

test(
  'durable queues declared at once, each with a confirmed message, all survive a SIGKILL',
  { timeout: 180_000 },
  () =>
    inTempFolder('switchyard-declare-flood-', async (dataDir) => {
      const port = await freePort();
      const args = ['--data-dir', dataDir, '--log-level', 'warn', ...listenerFlags({ amqp: port })];
      const url = `amqp://guest:guest@127.0.0.1:${port}`;
      const first = await startCli(args, { lifetimeMs: 150_000 });
      try {
        const c = await open(url);
        const other = await confirmChannelOf(await open(url));
        const ch = await confirmChannelOf(c);
        const declared = Promise.all(queues.map((q) => ch.assertQueue(q, { durable: true })));
        // Answered while the declares are being stored (asserted answered, not how fast).
        await other.checkExchange('amq.direct');
        await declared;
        for (const q of queues) ch.sendToQueue(q, Buffer.from(q), { persistent: true });
        await ch.waitForConfirms();
        await first.stop('SIGKILL');
      } finally {
        first.kill();
      }
      const second = await startCli(args, { lifetimeMs: 150_000 });
      try {
        const c = await open(url);
        const ch = await confirmChannelOf(c);
        const counts = await Promise.all(
          queues.map((q) =>
            ch.checkQueue(q).then(
              (ok) => ok.messageCount,
              () => -1,
            ),
          ),
        );
        const lost = queues.filter((_, i) => counts[i] !== 1);
        assert.deepEqual(lost, [], 'every declared queue holds its confirmed message after the crash');
        await c.close();
      } finally {
        await second.stop();
      }
    }),
);
