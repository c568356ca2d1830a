import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { EventStoreType, EventsStoreClient } from 'kubemq-js';
import {
  clientId,
  type KubemqTestBroker,
  Subscriptions,
  sleep,
  startKubemqBroker,
  textOf,
  until,
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

interface Got {
  readonly body: string;
  readonly sequence: number;
  readonly timestamp: number;
}

function client(id = clientId('store')): EventsStoreClient {
  return new EventsStoreClient({ address: server.address, clientId: id, reconnectInterval: 0 });
}

async function sendAll(channel: string, bodies: string[]): Promise<void> {
  const c = client();
  for (const body of bodies) {
    const result = await c.send({ channel, body: utf8(body) });
    assert.equal(result.sent, true);
  }
  c.close();
}

async function subscribe(
  channel: string,
  requestType: EventStoreType,
  options: { value?: number; id?: string; group?: string } = {},
): Promise<{ got: Got[]; end(): void }> {
  const c = client(options.id);
  const got: Got[] = [];
  const request = {
    channel,
    requestType,
    ...(options.value === undefined ? {} : { requestTypeValue: options.value }),
  };
  const subscription = subscriptions.track(
    await c.subscribe(
      { ...request, ...(options.group === undefined ? {} : { group: options.group }) },
      (err, msg) => {
        if (err === null && msg)
          got.push({ body: textOf(msg.body), sequence: msg.sequence, timestamp: msg.timestamp });
      },
    ),
  );
  return {
    got,
    end: () => {
      subscription.unsubscribe();
      c.close();
    },
  };
}

const bodies = (got: readonly Got[]) => got.map((g) => g.body);

test('start from first: every stored event with sequences 1… and nanosecond timestamps', async () => {
  await sendAll('es.first', ['a', 'b', 'c']);
  const s = await subscribe('es.first', EventStoreType.StartFromFirst);
  await until(() => s.got.length === 3);
  assert.deepEqual(bodies(s.got), ['a', 'b', 'c']);
  assert.deepEqual(
    s.got.map((g) => g.sequence),
    [1, 2, 3],
  );
  const nowNs = Date.now() * 1e6;
  assert.ok(
    s.got.every((g) => g.timestamp > nowNs - 60e9 && g.timestamp <= nowNs + 1e9),
    'timestamps in ns',
  );
  await sendAll('es.first', ['d']);
  await until(() => s.got.length === 4);
  assert.equal(s.got[3]!.sequence, 4);
  s.end();
});

test('start new only, from last, at sequence', async () => {
  await sendAll('es.kinds', ['1', '2', '3', '4']);
  const fresh = await subscribe('es.kinds', EventStoreType.StartNewOnly);
  const last = await subscribe('es.kinds', EventStoreType.StartFromLast);
  const at = await subscribe('es.kinds', EventStoreType.StartAtSequence, { value: 3 });
  await until(() => last.got.length === 1 && at.got.length === 2);
  await sleep(200);
  await sendAll('es.kinds', ['5']);
  await until(() => fresh.got.length === 1 && last.got.length === 2 && at.got.length === 3);
  assert.deepEqual(bodies(fresh.got), ['5']);
  assert.deepEqual(bodies(last.got), ['4', '5']);
  assert.deepEqual(bodies(at.got), ['3', '4', '5']);
  for (const s of [fresh, last, at]) s.end();
});

test('start at a time (ns) and at a time delta (s)', async () => {
  await sendAll('es.time', ['old']);
  await sleep(50);
  const cutNs = Date.now() * 1e6;
  await sleep(50);
  await sendAll('es.time', ['new']);
  const atTime = await subscribe('es.time', EventStoreType.StartAtTime, { value: cutNs });
  const delta = await subscribe('es.time', EventStoreType.StartAtTimeDelta, { value: 60 });
  await until(() => atTime.got.length === 1 && delta.got.length === 2);
  assert.deepEqual(bodies(atTime.got), ['new']);
  assert.deepEqual(bodies(delta.got), ['old', 'new']);
  atTime.end();
  delta.end();
});

test('a client id resumes where it was, whatever start it asks; one live subscriber per client id', async () => {
  await sendAll('es.durable', ['a', 'b']);
  const id = clientId('durable');
  const first = await subscribe('es.durable', EventStoreType.StartFromFirst, { id });
  await until(() => first.got.length === 2);
  const second = await subscribe('es.durable', EventStoreType.StartFromFirst, { id });
  await sleep(300);
  assert.equal(second.got.length, 0, 'the second live subscriber of that client id is refused');
  second.end();
  first.end();
  await sleep(1500);
  await sendAll('es.durable', ['c']);
  const again = await subscribe('es.durable', EventStoreType.StartFromFirst, { id });
  await until(() => again.got.length === 1);
  await sleep(200);
  assert.deepEqual(bodies(again.got), ['c']);
  assert.equal(again.got[0]!.sequence, 3);
  again.end();
});

test('members of a group share the events of one position', async () => {
  await sendAll(
    'es.group',
    Array.from({ length: 10 }, (_, i) => `g${i}`),
  );
  const a = await subscribe('es.group', EventStoreType.StartFromFirst, { group: 'g1' });
  const b = await subscribe('es.group', EventStoreType.StartFromFirst, { group: 'g1' });
  await until(() => a.got.length + b.got.length === 10);
  await sendAll(
    'es.group',
    Array.from({ length: 10 }, (_, i) => `h${i}`),
  );
  await until(() => a.got.length + b.got.length === 20);
  await sleep(200);
  assert.equal(new Set([...bodies(a.got), ...bodies(b.got)]).size, 20, 'each event once');
  a.end();
  b.end();
});

test('a stream of events-store sends is answered event by event', async () => {
  const c = client();
  const results: Array<{ id: string; sent: boolean }> = [];
  const stream = await c.stream((err, result) => {
    if (err === null && result) results.push(result);
  });
  for (let i = 0; i < 50; i++) stream.write({ channel: 'es.stream', body: utf8(`x${i}`), id: `id-${i}` });
  await until(() => results.length === 50);
  assert.ok(results.every((r) => r.sent));
  assert.equal(new Set(results.map((r) => r.id)).size, 50);
  stream.end();
  c.close();
});

test('bad events-store subscriptions get KubeMQ error texts', async () => {
  const cases: Array<[string, EventStoreType, number | undefined, RegExp]> = [
    ['es.bad', 0 as EventStoreType, undefined, /Error 111/],
    ['es.bad', EventStoreType.StartAtSequence, 0, /Error 112/],
    ['es.bad', EventStoreType.StartAtTime, 0, /Error 113/],
    ['es.bad', EventStoreType.StartAtTimeDelta, 0, /Error 114/],
    ['es.*', EventStoreType.StartFromFirst, undefined, /Error 107/],
    ['es.bad.', EventStoreType.StartFromFirst, undefined, /Error 119/],
  ];
  for (const [channel, requestType, value, text] of cases) {
    const c = client();
    const errors: string[] = [];
    const request = { channel, requestType, ...(value === undefined ? {} : { requestTypeValue: value }) };
    subscriptions.track(
      await c.subscribe(request, (err) => {
        if (err !== null) errors.push(err.message);
      }),
    );
    await until(() => errors.length > 0);
    assert.match(errors[0]!, text);
    c.close();
  }
});
