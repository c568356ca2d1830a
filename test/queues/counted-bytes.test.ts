/**
 * What a message counts in a classic queue's bytes: its body alone by default (x-max-length-bytes, as
 * RabbitMQ counts), its properties too with `countsPropertyBytes` (MQTT session queues).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { msg, openQueue } from '../../testing/queue-harness.js';

const headerText = 'x'.repeat(1000);
const withHeader = () => msg('abcd', { headers: [['pad', headerText]] });

test('a queue counts only bodies by default, so x-max-length-bytes keeps its meaning', async () => {
  const { queue } = await openQueue({ bytesMax: 10 });
  queue.enqueue(withHeader());
  queue.enqueue(withHeader());
  assert.equal(queue.info().messageCount, 2);
  assert.equal(queue.info().messageBytes, 8);
});

test('with countsPropertyBytes a message counts its headers too, and gives them back when taken', async () => {
  const { queue } = await openQueue({ countsPropertyBytes: true });
  queue.enqueue(withHeader());
  const counted = queue.info().messageBytes ?? 0;
  assert.ok(counted >= 4 + headerText.length, `counted ${counted}`);
  queue.get({ noAck: true, owner: 'o' });
  assert.equal(queue.info().messageBytes, 0);
});

test('with countsPropertyBytes a byte bound drops messages whose properties fill it', async () => {
  const { queue } = await openQueue({ countsPropertyBytes: true, bytesMax: 2500 });
  for (let i = 0; i < 5; i++) queue.enqueue(withHeader());
  assert.equal(queue.info().messageCount, 2);
});
