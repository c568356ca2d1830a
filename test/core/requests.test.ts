import assert from 'node:assert/strict';
import { test } from 'node:test';
import { internalContext } from '../../src/core/entry/context.js';
import { isReplyAddress, requestsPendingMax } from '../../src/core/requests.js';
import type { Delivery } from '../../src/core/types.js';
import { ErrorCode, isBrokerError } from '../../src/shared/errors.js';
import { message, openCore, settle } from '../../testing/core-helpers.js';

/** A responder: a queue bound to topic exchange `rpc` with `pattern`, collecting requests. */
async function responder(fixture: Awaited<ReturnType<typeof openCore>>, queue: string, pattern: string) {
  const { client } = fixture;
  client.declareExchange('rpc', { type: 'topic' });
  client.declareQueue(queue, { durable: false });
  client.bindQueue(queue, 'rpc', pattern);
  await settle();
  const got: Delivery[] = [];
  client.consume(queue, { tag: queue, owner: 'r', noAck: true, deliver: (d) => got.push(d) });
  return got;
}

test('a request carries a reply address; a publish to it on the default exchange is the reply', async () => {
  const fixture = await openCore();
  const got = await responder(fixture, 'workers', 'jobs.*');
  const requester = fixture.broker.connect(internalContext('/', 'c2'));
  const sent = requester.request('rpc', 'jobs.resize', message('please', { correlationId: 'r1' }), {
    timeoutMs: 5000,
  });
  assert.equal(sent.routedCount, 1);
  assert.ok(isReplyAddress(sent.replyTo));
  await settle();
  const request = got[0]!.message;
  assert.equal(request.properties.replyTo, sent.replyTo);
  assert.equal(request.properties.correlationId, 'r1');
  assert.equal(request.properties.expirationMs, 5000, 'the request expires with its timeout');
  const answered = fixture.client.publish('', request.properties.replyTo!, message('done'));
  assert.equal(answered.routedCount, 1);
  const reply = await sent.reply;
  assert.equal(new TextDecoder().decode(reply!.body), 'done');
  assert.equal(fixture.client.publish('', sent.replyTo, message('late')).routedCount, 0, 'only the first');
  await fixture.broker.close();
});

test('no reply within the timeout resolves undefined; a request routed nowhere resolves at once', async () => {
  const fixture = await openCore();
  await responder(fixture, 'idle', 'idle.#');
  const waiting = fixture.client.request('rpc', 'idle.x', message('?'), { timeoutMs: 1000 });
  fixture.clock.advance(1000);
  assert.equal(await waiting.reply, undefined);
  assert.equal(fixture.client.publish('', waiting.replyTo, message('too late')).routedCount, 0);
  const nowhere = fixture.client.request('rpc', 'nobody.listens', message('?'), { timeoutMs: 60_000 });
  assert.equal(nowhere.routedCount, 0);
  assert.equal(await nowhere.reply, undefined);
  await fixture.broker.close();
});

test('bad timeouts are refused, closing the broker answers every waiting requester', async () => {
  const fixture = await openCore();
  await responder(fixture, 'q', '#');
  for (const timeoutMs of [0, -5, 1.5, 2 ** 40]) {
    assert.throws(
      () => fixture.client.request('rpc', 'a', message('x'), { timeoutMs }),
      (err) => isBrokerError(err, ErrorCode.invalidArgument),
    );
  }
  const open = fixture.client.request('rpc', 'a', message('x'), { timeoutMs: 60_000 });
  await fixture.broker.close();
  assert.equal(await open.reply, undefined);
  assert.ok(requestsPendingMax >= 1000);
});
