import assert from 'node:assert/strict';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type amqp from 'amqplib';
import { channelOf, confirmChannelOf, open, until } from '../../../testing/amqp-helpers.js';
import { freePort, listenerFlags, startCli } from '../../../testing/server-cli.js';

describe('AMQP durability across SIGKILL', () => {
  test('confirmed persistent messages on a durable queue survive; unacked come back redelivered', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-amqp-kill-'));
    const port = await freePort();
    const args = ['--data-dir', dataDir, ...listenerFlags({ amqp: port }), '--log-level', 'warn'];
    const url = `amqp://guest:guest@127.0.0.1:${port}`;
    const first = await startCli(args);
    try {
      const c = await open(url);
      const ch = await confirmChannelOf(c);
      await ch.assertQueue('jobs.durable', { durable: true });
      for (let i = 0; i < 20; i++)
        ch.sendToQueue('jobs.durable', Buffer.from(`job-${i}`), { persistent: true });
      await ch.waitForConfirms();
      const consumer = await channelOf(c);
      await consumer.prefetch(5);
      const held: amqp.ConsumeMessage[] = [];
      await consumer.consume('jobs.durable', (m) => m && held.push(m));
      await until(() => held.length === 5);
    } finally {
      first.kill();
    }
    await new Promise((r) => setTimeout(r, 200));
    const second = await startCli(args);
    try {
      const c = await open(url);
      const ch = await channelOf(c);
      const got: amqp.ConsumeMessage[] = [];
      await ch.consume('jobs.durable', (m) => m && got.push(m), { noAck: true });
      await until(() => got.length === 20, 5000, 'all 20 messages after restart');
      const bodies = got.map((m) => m.content.toString()).sort();
      assert.deepEqual(bodies, Array.from({ length: 20 }, (_, i) => `job-${i}`).sort());
      const redelivered = got.filter((m) => m.fields.redelivered).map((m) => m.content.toString());
      for (let i = 0; i < 5; i++) assert.ok(redelivered.includes(`job-${i}`), `job-${i} redelivered`);
      await c.close();
    } finally {
      await second.stop();
    }
  });
});
