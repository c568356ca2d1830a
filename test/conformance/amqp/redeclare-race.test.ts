/**
 * Deleting a durable queue and declaring it again at once, pipelined without waiting for any reply,
 * must leave the new queue whole: the old incarnation's teardown can never close or remove the new
 * one's logs (it used to, and an ack then ended the process). amqplib waits for each declare-ok, so
 * the frames are written by a raw client, against the real broker on file storage.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import type { Method } from '../../../src/protocols/amqp/codec/index.js';
import { RawClient, until } from '../../../testing/amqp-helpers.js';
import { freePort, listenerFlags, startCli } from '../../../testing/server-cli.js';

const rounds = 100;
const declare: Method = {
  name: 'queue.declare',
  fields: {
    ticket: 0,
    queue: 'Q',
    passive: false,
    durable: true,
    exclusive: false,
    autoDelete: false,
    noWait: false,
    arguments: {},
  },
};
const remove: Method = {
  name: 'queue.delete',
  fields: { ticket: 0, queue: 'Q', ifUnused: false, ifEmpty: false, noWait: false },
};
const get: Method = { name: 'basic.get', fields: { ticket: 0, queue: 'Q', noAck: false } };

async function openChannels(raw: RawClient): Promise<void> {
  for (const channel of [1, 2]) {
    raw.send(channel, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw.method('channel.open-ok');
  }
  raw.send(1, { name: 'confirm.select', fields: { noWait: false } });
  await raw.method('confirm.select-ok');
}

/** Round i: declare, publish old-i, take the previous round's message unacked, delete, declare, publish new-i. */
function pipelineRounds(raw: RawClient): void {
  for (let i = 0; i < rounds; i++) {
    raw.send(1, declare);
    raw.publish(1, '', 'Q', `old-${i}`);
    raw.send(2, get);
    raw.send(1, remove);
    raw.send(1, declare);
    raw.publish(1, '', 'Q', `new-${i}`);
  }
}

describe('AMQP delete and redeclare of a durable queue, pipelined', () => {
  test('each incarnation keeps its own messages, acks of deleted ones are harmless, the broker stays up', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-redeclare-'));
    const port = await freePort();
    const args = ['--data-dir', dataDir, ...listenerFlags({ amqp: port }), '--log-level', 'warn'];
    const broker = await startCli(args);
    try {
      const raw = await RawClient.connect(port);
      await raw.handshake();
      await openChannels(raw);
      pipelineRounds(raw);
      // Every publish confirmed: the last ack covers the last delivery tag (acks may be multiple).
      let confirmed = 0;
      await until(
        () => {
          for (const ack of raw.take('basic.ack'))
            if (ack.name === 'basic.ack') confirmed = Math.max(confirmed, ack.fields.deliveryTag);
          return confirmed === 2 * rounds;
        },
        60_000,
        'every publish confirmed',
      );
      const taken = raw.take('basic.get-ok');
      assert.ok(taken.length > 0, 'some gets found a message');
      // Their queues were deleted since: settling them must touch nothing live.
      for (const got of taken) {
        if (got.name !== 'basic.get-ok') continue;
        raw.send(2, { name: 'basic.ack', fields: { deliveryTag: got.fields.deliveryTag, multiple: false } });
      }
      await until(() => raw.take('queue.declare-ok').length === 0, 1000);
      raw.send(1, { ...declare, fields: { ...declare.fields, passive: true } } as Method);
      const ok = await raw.method('queue.declare-ok', 10_000);
      assert.equal(
        ok.name === 'queue.declare-ok' && ok.fields.messageCount,
        1,
        'only the message of the last round is left',
      );
      assert.equal(raw.closed, false, 'no channel or connection error');
      raw.close();
    } finally {
      await broker.stop();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
