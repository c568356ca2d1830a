/**
 * One connection's frames cannot hold the event loop for all of a read: past a slice of time the
 * connection yields and goes on at the next turn. A publish through a chain of 2,000 exchanges costs
 * milliseconds; before, the 600 publishes of one write ran in one turn and another client's request
 * waited behind all of them.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Frame, Method } from '../../../src/protocols/amqp/codec/index.js';
import { encodeContent } from '../../../src/protocols/amqp/codec/index.js';
import { channelOf, RawClient, sharedAmqpBroker, until } from '../../../testing/amqp-helpers.js';

const shared = sharedAmqpBroker();
const chainLength = 2000;
const publishes = 600;

/** `chain.0` → … → `chain.<n-1>` (fanout exchanges bound end to end) → queue `chain.end`. */
async function chain(): Promise<void> {
  const channel = await channelOf(shared.conn);
  const declared: Array<Promise<unknown>> = [];
  for (let i = 0; i < chainLength; i++)
    declared.push(channel.assertExchange(`chain.${i}`, 'fanout', { durable: false }));
  for (let i = 0; i + 1 < chainLength; i++)
    declared.push(channel.bindExchange(`chain.${i + 1}`, `chain.${i}`, ''));
  declared.push(channel.assertQueue('chain.end', { durable: false }));
  declared.push(channel.bindQueue('chain.end', `chain.${chainLength - 1}`, ''));
  await Promise.all(declared);
  await channel.close();
}

/** Calls `seen` with each method as its frame arrives, in arrival order across clients. */
function watch(client: RawClient, seen: (method: Method) => void): void {
  client.frames.push = (...frames: Frame[]): number => {
    for (const frame of frames) if (frame.kind === 'method') seen(frame.method);
    return Array.prototype.push.apply(client.frames, frames);
  };
}

test("another client's request is answered while one client's publishes cross a long exchange chain", async () => {
  await chain();
  const flood = await RawClient.connect(shared.sy.port);
  await flood.handshake();
  flood.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await flood.method('channel.open-ok');
  flood.send(1, { name: 'confirm.select', fields: { noWait: false } });
  await flood.method('confirm.select-ok');
  const other = await RawClient.connect(shared.sy.port);
  await other.handshake();
  other.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
  await other.method('channel.open-ok');
  let acked = 0;
  let ackedAtAnswer: number | undefined;
  watch(flood, (m) => {
    if (m.name === 'basic.ack') acked = m.fields.multiple ? m.fields.deliveryTag : acked + 1;
  });
  watch(other, (m) => {
    if (m.name === 'queue.declare-ok') ackedAtAnswer ??= acked;
  });
  const publish: Method = {
    name: 'basic.publish',
    fields: { ticket: 0, exchange: 'chain.0', routingKey: '', mandatory: false, immediate: false },
  };
  const one = encodeContent(1, publish, {}, Buffer.from('x'), 131_072);
  flood.write(Buffer.concat(Array.from({ length: publishes }, () => one)));
  // The other client asks once the first confirms are out: the publishes are under way.
  await until(() => acked > 0, 60_000, 'a first confirm');
  other.send(1, {
    name: 'queue.declare',
    fields: {
      ticket: 0,
      queue: 'chain.end',
      passive: true,
      durable: false,
      exclusive: false,
      autoDelete: false,
      noWait: false,
      arguments: {},
    },
  });
  await until(
    () => ackedAtAnswer !== undefined && acked === publishes,
    120_000,
    'the answer and every confirm',
  );
  assert.ok(ackedAtAnswer! < publishes, `the answer came after ${ackedAtAnswer} of ${publishes} confirms`);
  for (const client of [flood, other]) client.close();
});
