import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CommandsClient, QueriesClient } from 'kubemq-js';
import {
  call,
  clientId,
  type KubemqTestBroker,
  rawClient,
  Subscriptions,
  sleep,
  startKubemqBroker,
  textOf,
  utf8,
} from '../../../testing/kubemq-harness.js';

let server: KubemqTestBroker;
const subscriptions = new Subscriptions();
before(async () => {
  server = await startKubemqBroker();
});
after(async () => {
  subscriptions.endAll();
  await server.stop();
});

const options = () => ({ address: server.address, clientId: clientId('rpc'), reconnectInterval: 0 });

/** A command responder on `channel` that answers every request (executed, or not with `error`). */
async function commandResponder(channel: string, answer: { error?: string; group?: string } = {}) {
  const c = new CommandsClient(options());
  const seen: string[] = [];
  subscriptions.track(
    await c.subscribe(
      { channel, ...(answer.group === undefined ? {} : { group: answer.group }) },
      (err, req) => {
        if (err !== null || !req) return;
        seen.push(textOf(req.body));
        void c.response({
          id: req.id,
          replyChannel: req.replyChannel,
          executed: answer.error === undefined,
          error: answer.error ?? '',
          timestamp: Date.now(),
        } as never);
      },
    ),
  );
  await sleep(200);
  return seen;
}

test('a command reaches its responder and the reply comes back; reply keeps no body', async () => {
  const seen = await commandResponder('cmd.do');
  const sender = new CommandsClient(options());
  const reply = await sender.send({ channel: 'cmd.do', body: utf8('go'), timeout: 5000, id: 'c-1' });
  assert.equal(reply.executed, true);
  assert.equal(reply.id, 'c-1');
  assert.equal(reply.error, '');
  assert.deepEqual(seen, ['go']);
  const failing = await commandResponder('cmd.fail', { error: 'disk full' });
  const failed = await sender.send({ channel: 'cmd.fail', body: utf8('go'), timeout: 5000 });
  assert.equal(failed.executed, false);
  assert.equal(failed.error, 'disk full');
  assert.equal(failing.length, 1);
  sender.close();
});

test('no responder or no reply in time: Error 301', async () => {
  const sender = new CommandsClient(options());
  await assert.rejects(
    sender.send({ channel: 'cmd.nobody', body: utf8('?'), timeout: 2000 }),
    /Error 301: timeout for request message/,
  );
  const mute = new CommandsClient(options());
  subscriptions.track(await mute.subscribe({ channel: 'cmd.mute' }, () => {}));
  await sleep(200);
  const started = Date.now();
  await assert.rejects(sender.send({ channel: 'cmd.mute', body: utf8('?'), timeout: 500 }), /Error 301/);
  assert.ok(Date.now() - started >= 400, 'waited for the timeout');
  sender.close();
});

test('responders in a group share the requests; wildcards subscribe to many channels', async () => {
  const a = await commandResponder('cmd.pool', { group: 'g' });
  const b = await commandResponder('cmd.pool', { group: 'g' });
  const star = await commandResponder('cmd.any.*');
  const sender = new CommandsClient(options());
  for (let i = 0; i < 10; i++) await sender.send({ channel: 'cmd.pool', body: utf8(`p${i}`), timeout: 5000 });
  assert.equal(a.length + b.length, 10);
  assert.ok(a.length > 0 && b.length > 0, `both members: ${a.length}/${b.length}`);
  await sender.send({ channel: 'cmd.any.thing', body: utf8('w'), timeout: 5000 });
  assert.deepEqual(star, ['w']);
  sender.close();
});

test('a query reply carries body and metadata; a cached query is answered without the responder', async () => {
  const q = new QueriesClient(options());
  let asked = 0;
  subscriptions.track(
    await q.subscribe({ channel: 'qry.price' }, (err, req) => {
      if (err !== null || !req) return;
      asked++;
      void q.response({
        id: req.id,
        replyChannel: req.replyChannel,
        executed: true,
        error: '',
        body: utf8(`price ${asked}`),
        metadata: 'usd',
        timestamp: Date.now(),
      } as never);
    }),
  );
  await sleep(200);
  const sender = new QueriesClient(options());
  const reply = await sender.send({ channel: 'qry.price', body: utf8('?'), timeout: 5000 });
  assert.equal(textOf(reply.body ?? ''), 'price 1');
  assert.equal(reply.metadata, 'usd');
  const raw = rawClient(server.address);
  const cached = {
    ClientID: 'c',
    Channel: 'qry.price',
    Body: utf8('?'),
    Timeout: 5000,
    RequestTypeData: 2,
    CacheKey: 'k',
    CacheTTL: 60,
  };
  const first = await call(raw, 'SendRequest', { ...cached, RequestID: 'r1' });
  const second = await call(raw, 'SendRequest', { ...cached, RequestID: 'r2' });
  assert.equal(first['CacheHit'], false);
  assert.equal(second['CacheHit'], true);
  assert.equal(second['RequestID'], 'r2');
  assert.equal(textOf(second['Body'] as Uint8Array), textOf(first['Body'] as Uint8Array));
  assert.equal(asked, 2, 'the cached query did not reach the responder');
  raw.close();
  sender.close();
});

test('bad requests and responses get KubeMQ error texts', async () => {
  const raw = rawClient(server.address);
  const base = { ClientID: 'c', Channel: 'cmd.x', Body: utf8('b'), Timeout: 1000, RequestTypeData: 1 };
  const cases: Array<[object, RegExp]> = [
    [{ ...base, ClientID: '' }, /Error 101/],
    [{ ...base, Channel: '' }, /Error 102/],
    [{ ...base, Channel: 'cmd.*' }, /Error 107/],
    [{ ...base, Timeout: 0 }, /Error 109/],
    [{ ...base, Body: new Uint8Array(0) }, /Error 115/],
    [{ ...base, RequestTypeData: 2, CacheKey: 'k', CacheTTL: 0 }, /Error 116/],
    [{ ...base, RequestTypeData: 0 }, /Error 206/],
  ];
  for (const [request, text] of cases) await assert.rejects(call(raw, 'SendRequest', request), text);
  const response = { ClientID: 'c', RequestID: 'r', ReplyChannel: 'somewhere' };
  await assert.rejects(call(raw, 'SendResponse', { ...response, RequestID: '' }), /Error 117/);
  await assert.rejects(call(raw, 'SendResponse', { ...response, ReplyChannel: '' }), /Error 102/);
  await call(raw, 'SendResponse', response);
  raw.close();
});
