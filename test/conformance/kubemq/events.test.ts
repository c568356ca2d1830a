import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EventsClient, Utils } from 'kubemq-js';
import {
  clientId,
  type KubemqTestBroker,
  sleep,
  startKubemqBroker,
  textOf,
  until,
  utf8,
} from '../../../testing/kubemq-harness.js';

let server: KubemqTestBroker;
before(async () => {
  server = await startKubemqBroker();
});
after(() => server.stop());

function client(): EventsClient {
  return new EventsClient({ address: server.address, clientId: clientId('events'), reconnectInterval: 0 });
}

/** kubemq-js 1.x polls its subscriptions until `unsubscribe()`; every test ends its own. */
const subscriptions: Array<{ unsubscribe(): void }> = [];
async function subscribed<T extends { unsubscribe(): void }>(subscription: Promise<T>): Promise<T> {
  const s = await subscription;
  subscriptions.push(s);
  return s;
}
after(() => {
  for (const s of subscriptions) s.unsubscribe();
});

describe('events with kubemq-js 1.2.3', () => {
  test('ping answers with host, version, start time and uptime', async () => {
    const c = client();
    const info = await c.ping();
    assert.ok(info.host.length > 0);
    assert.ok(info.version.length > 0);
    assert.ok(info.serverStartTime > 1_600_000_000);
    assert.ok(info.serverUpTimeSeconds >= 0);
    c.close();
  });

  test('a subscriber gets what is sent on its channel, metadata and id kept', async () => {
    const sub = client();
    const pub = client();
    const got: Array<{ id: string; body: string; metadata: string; channel: string }> = [];
    const subscription = await subscribed(
      sub.subscribe({ channel: 'e.single' }, (err, msg) => {
        if (err === null && msg)
          got.push({ id: msg.id, body: textOf(msg.body), metadata: msg.metadata, channel: msg.channel });
      }),
    );
    await sleep(200);
    const res = await pub.send({ channel: 'e.single', body: utf8('hello'), metadata: 'm1', id: 'ev-1' });
    assert.equal(res.sent, true);
    assert.equal(res.id, 'ev-1');
    await until(() => got.length === 1);
    assert.deepEqual(got[0], { id: 'ev-1', body: 'hello', metadata: 'm1', channel: 'e.single' });
    subscription.unsubscribe();
    sub.close();
    pub.close();
  });

  test('wildcards: * is one token, > is one or more', async () => {
    const sub = client();
    const pub = client();
    const star: string[] = [];
    const tail: string[] = [];
    await subscribed(
      sub.subscribe({ channel: 'w.*.x' }, (err, msg) => {
        if (err === null && msg) star.push(msg.channel);
      }),
    );
    await subscribed(
      sub.subscribe({ channel: 'w.>' }, (err, msg) => {
        if (err === null && msg) tail.push(msg.channel);
      }),
    );
    await sleep(200);
    for (const channel of ['w', 'w.a.x', 'w.a.b.x', 'w.b']) await pub.send({ channel, body: utf8(channel) });
    await until(() => tail.length === 3 && star.length === 1);
    await sleep(100);
    assert.deepEqual(star, ['w.a.x']);
    assert.deepEqual(tail.sort(), ['w.a.b.x', 'w.a.x', 'w.b']);
    sub.close();
    pub.close();
  });

  test('a group shares events: each goes to one member; subscribers without a group get all', async () => {
    const a = client();
    const b = client();
    const all = client();
    const pub = client();
    const byMember = { a: 0, b: 0, all: 0 };
    await subscribed(
      a.subscribe({ channel: 'g.ch', group: 'workers' }, (err, msg) => {
        if (err === null && msg) byMember.a++;
      }),
    );
    await subscribed(
      b.subscribe({ channel: 'g.ch', group: 'workers' }, (err, msg) => {
        if (err === null && msg) byMember.b++;
      }),
    );
    await subscribed(
      all.subscribe({ channel: 'g.ch' }, (err, msg) => {
        if (err === null && msg) byMember.all++;
      }),
    );
    await sleep(200);
    for (let i = 0; i < 20; i++) await pub.send({ channel: 'g.ch', body: utf8(`n${i}`) });
    await until(() => byMember.all === 20 && byMember.a + byMember.b === 20);
    assert.ok(byMember.a > 0 && byMember.b > 0, `both members served: ${JSON.stringify(byMember)}`);
    for (const c of [a, b, all, pub]) c.close();
  });

  test('a stream of events reaches the subscriber in order', async () => {
    const sub = client();
    const pub = client();
    const got: string[] = [];
    await subscribed(
      sub.subscribe({ channel: 'e.stream' }, (err, msg) => {
        if (err === null && msg) got.push(textOf(msg.body));
      }),
    );
    await sleep(200);
    const errors: Error[] = [];
    const stream = await pub.stream((err) => {
      if (err) errors.push(err);
    });
    for (let i = 0; i < 100; i++) stream.write({ channel: 'e.stream', body: utf8(`s${i}`) });
    await until(() => got.length === 100);
    assert.deepEqual(
      got,
      Array.from({ length: 100 }, (_, i) => `s${i}`),
    );
    assert.deepEqual(errors, []);
    stream.end();
    sub.close();
    pub.close();
  });

  test('bad events get KubeMQ error texts', async () => {
    const c = new EventsClient({ address: server.address, clientId: '', reconnectInterval: 0 });
    await assert.rejects(c.send({ channel: 'x', body: utf8('a') }), /Error 101: invalid clientID value/);
    const named = client();
    const cases: Array<[string, RegExp]> = [
      ['', /Error 102/],
      ['ends.', /Error 119/],
      ['has space', /Error 108/],
      ['tab\there', /Error 108/],
      ['wild.*', /Error 107/],
      ['wild.>', /Error 107/],
    ];
    for (const [channel, text] of cases) await assert.rejects(named.send({ channel, body: utf8('a') }), text);
    await assert.rejects(named.send({ channel: 'ok', body: new Uint8Array(0) }), /Error 110/);
    c.close();
    named.close();
    void Utils;
  });
});
