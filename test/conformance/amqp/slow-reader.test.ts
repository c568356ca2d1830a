/**
 * A client that pipelines basic.get on a queue of large messages and does not read its socket: the
 * connection stops handling its frames once `outboundBytesMax` of answers wait unsent, instead of
 * taking every message off the queue into a send buffer; another client works meanwhile, and once the
 * slow one reads it gets every message, in queue order. A no-ack consumer (no prefetch applies) that
 * does not read gets no more deliveries once as much waits unsent, and the rest later; frames it sent
 * meanwhile (basic.cancel) are handled at the drain, not after the queue is emptied towards it.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Channel } from 'amqplib';
import type { Method } from '../../../src/protocols/amqp/codec/index.js';
import { outboundBytesMax } from '../../../src/protocols/amqp/connection.js';
import { channelOf, RawClient, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const mib = 1024 * 1024;
const messageBytes = 512 * 1024;
/** 40 MiB of get-ok answers if every basic.get were answered ahead of the socket. */
const messages = 80;

const shared = sharedAmqpBroker();

/**
 * Fills `queue`, has a raw client that does not read its socket `ask` for every message, watches what
 * the broker holds meanwhile, then reads: every body arrives, and `answers` names the methods it came with.
 */
/** `queue` filled with `messages`, and a raw client with channel 1 open (its socket still read). */
async function filledFor(queue: string): Promise<{ ch: Channel; slow: RawClient }> {
  const ch = await channelOf(shared.conn);
  await ch.assertQueue(queue, { durable: false });
  for (let i = 0; i < messages; i++) ch.sendToQueue(queue, Buffer.alloc(messageBytes, i));
  await until(async () => (await ch.checkQueue(queue)).messageCount === messages, 10_000, 'published');
  const slow = await RawClient.connect(shared.sy.port);
  await slow.handshake();
  slow.keepRaw = false;
  slow.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await slow.method('channel.open-ok');
  return { ch, slow };
}

/** basic.consume of `queue` without acknowledgements, tagged 'slow'. */
function noAckConsume(queue: string): Method {
  return {
    name: 'basic.consume',
    fields: {
      ticket: 0,
      queue,
      consumerTag: 'slow',
      noLocal: false,
      noAck: true,
      exclusive: false,
      noWait: false,
      arguments: {},
    },
  };
}

async function notReading(queue: string, ask: (slow: RawClient) => void, answer: string): Promise<Method[]> {
  const { ch, slow } = await filledFor(queue);
  try {
    slow.pause();
    const before = process.memoryUsage().arrayBuffers;
    ask(slow);
    let peak = 0;
    for (const until = Date.now() + 2000; Date.now() < until; ) {
      peak = Math.max(peak, process.memoryUsage().arrayBuffers - before);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    // Another client is served meanwhile, on the same queue.
    const left = (await ch.checkQueue(queue)).messageCount;
    assert.ok(left > 0 && left < messages, `${left} messages left`);
    assert.ok(
      peak < outboundBytesMax + 12 * mib,
      `held ${(peak / mib).toFixed(0)} MiB for a client that does not read`,
    );
    slow.resume();
    const bodyBytes = (): number =>
      slow.frames.reduce((n, f) => n + (f.kind === 'body' ? f.payload.length : 0), 0);
    await until(() => bodyBytes() >= messages * messageBytes, 30_000, 'every body');
    assert.equal(bodyBytes(), messages * messageBytes);
    const answers = slow.take(answer);
    assert.equal(answers.length, messages);
    return answers;
  } finally {
    slow.close();
    await ch.close();
  }
}

test('a client that does not read its basic.get answers makes the broker hold a bounded amount, and gets every message later', async () => {
  const answers = await notReading(
    'slow-get',
    (slow) => {
      for (let i = 0; i < messages; i++)
        slow.send(1, { name: 'basic.get', fields: { ticket: 0, queue: 'slow-get', noAck: true } });
    },
    'basic.get-ok',
  );
  answers.forEach((m, i) => {
    assert.equal(m.name === 'basic.get-ok' ? m.fields.messageCount : -1, messages - 1 - i);
  });
});

test('a no-ack consumer that does not read its socket stops getting deliveries at the bound, and gets the rest later', async () => {
  const answers = await notReading(
    'slow-consume',
    (slow) => slow.send(1, noAckConsume('slow-consume')),
    'basic.deliver',
  );
  answers.forEach((m, i) => {
    assert.equal(m.name === 'basic.deliver' ? m.fields.deliveryTag : -1, i + 1);
  });
});

test('a no-ack consumer whose socket is congested can still cancel: frames held by the bound are handled at the drain, before more deliveries fill it again', async () => {
  const queue = 'slow-cancel';
  const { ch, slow } = await filledFor(queue);
  try {
    slow.pause();
    slow.send(1, noAckConsume(queue));
    // Deliveries back up to the bound; the next frame handled holds the connection for its drain.
    await new Promise((resolve) => setTimeout(resolve, 500));
    slow.send(1, { name: 'basic.qos', fields: { prefetchSize: 0, prefetchCount: 10, global: false } });
    slow.send(1, { name: 'basic.cancel', fields: { consumerTag: 'slow', noWait: false } });
    await new Promise((resolve) => setTimeout(resolve, 300));
    slow.resume();
    await slow.method('basic.cancel-ok', 30_000);
    // The cancel was handled while messages were left: the consumer did not take the whole queue first.
    const left = (await ch.checkQueue(queue)).messageCount;
    assert.ok(left > 0, `${left} messages left when the cancel was answered`);
  } finally {
    slow.close();
    await ch.close();
  }
});
