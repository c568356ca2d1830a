import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { kubemqListeners } from '../../../src/protocols/kubemq/index.js';
import {
  type KubemqTestBroker,
  openSocket,
  refusedUpgrade,
  rest,
  sleep,
  startKubemqBroker,
  until,
} from '../../../testing/kubemq-harness.js';

let server: KubemqTestBroker;
const jsonBytesMax = 64 * 1024;
before(async () => {
  // A small JSON bound, so the oversized-body test need not allocate 136 MiB.
  server = await startKubemqBroker({
    listeners: kubemqListeners({ limits: { jsonBytesMax: jsonBytesMax } }),
  });
});
after(() => server.stop());

const b64 = (text: string) => Buffer.from(text).toString('base64');
const unb64 = (value: unknown) => Buffer.from(String(value), 'base64').toString('utf8');
type Row = Record<string, unknown>;

test('GET /ping answers in the envelope, with CORS', async () => {
  const response = await fetch(`${server.rest}/ping`, { headers: { origin: 'http://example.test' } });
  assert.equal(response.status, 200);
  assert.equal(response.headers.get('access-control-allow-origin'), '*');
  const body = (await response.json()) as Row;
  assert.equal(body['is_error'], false);
  assert.equal(body['message'], 'OK');
  assert.ok(((body['data'] as Row)['Host'] as string).length > 0);
  const preflight = await fetch(`${server.rest}/send/event`, { method: 'OPTIONS' });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-methods') ?? '', /POST/);
});

test('WS /subscribe/events gets what POST /send/event sends; keys match whatever their case', async () => {
  const { ws, frames } = await openSocket(
    `${server.ws}/subscribe/events?client_id=s1&channel=r.ev&subscribe_type=events`,
  );
  await sleep(100);
  const sent = await rest(server.rest, '/send/event', {
    clientid: 'p1',
    CHANNEL: 'r.ev',
    Body: b64('hi'),
    metadata: 'm',
  });
  assert.equal(sent.is_error, false);
  assert.equal(sent.data['Sent'], true);
  await until(() => frames.length === 1);
  assert.equal(unb64(frames[0]!['Body']), 'hi');
  assert.equal(frames[0]!['Metadata'], 'm');
  assert.equal(frames[0]!['Channel'], 'r.ev');
  ws.close();
});

test('events store over REST and WebSocket: sequences and start positions from the query string', async () => {
  for (const text of ['s1', 's2'])
    await rest(server.rest, '/send/event', {
      ClientID: 'p',
      Channel: 'r.store',
      Body: b64(text),
      Store: true,
    });
  const url = `${server.ws}/subscribe/events?client_id=rs1&channel=r.store&subscribe_type=events_store&events_store_type_data=4&events_store_type_value=2`;
  const { ws, frames } = await openSocket(url);
  await until(() => frames.length === 1);
  assert.equal(unb64(frames[0]!['Body']), 's2');
  assert.equal(frames[0]!['Sequence'], 2);
  ws.close();
});

test('a subscription failing its checks is refused before the upgrade with a 400 envelope', async () => {
  const refused = await refusedUpgrade(
    `${server.ws}/subscribe/events?client_id=&channel=x&subscribe_type=events`,
  );
  assert.equal(refused.status, 400);
  const body = JSON.parse(refused.body) as Row;
  assert.equal(body['is_error'], true);
  assert.match(body['message'] as string, /^Error 101/);
  const store = await refusedUpgrade(
    `${server.ws}/subscribe/events?client_id=a&channel=x&subscribe_type=events_store`,
  );
  assert.match((JSON.parse(store.body) as Row)['message'] as string, /^Error 111/);
  const kind = await refusedUpgrade(
    `${server.ws}/subscribe/events?client_id=a&channel=x&subscribe_type=nope`,
  );
  assert.match((JSON.parse(kind.body) as Row)['message'] as string, /^Error 207/);
});

test('WS /send/stream answers every event with a result, errors included', async () => {
  const { ws, frames } = await openSocket(`${server.ws}/send/stream`);
  ws.send(JSON.stringify({ EventID: 'a', ClientID: 'c', Channel: 'r.stream', Body: b64('x') }));
  ws.send(JSON.stringify({ EventID: 'b', ClientID: 'c', Channel: 'bad.', Body: b64('x') }));
  ws.send(JSON.stringify({ EventID: 'c', ClientID: 'c', Channel: 'r.stream', Body: b64('x'), Store: true }));
  await until(() => frames.length === 3);
  const byId = new Map(frames.map((f) => [f['EventID'], f]));
  assert.equal(byId.get('a')!['Sent'], true);
  assert.match(byId.get('b')!['Error'] as string, /^Error 119/);
  assert.equal(byId.get('c')!['Sent'], true);
  ws.close();
});

test('commands over REST: WS /subscribe/requests, POST /send/request and /send/response', async () => {
  const { ws, frames } = await openSocket(
    `${server.ws}/subscribe/requests?client_id=r&channel=r.cmd&subscribe_type=commands`,
  );
  await sleep(100);
  const pending = rest(server.rest, '/send/request', {
    RequestTypeData: 1,
    ClientID: 'q',
    Channel: 'r.cmd',
    Body: b64('do'),
    Timeout: 5000,
  });
  await until(() => frames.length === 1);
  const request = frames[0]!;
  assert.equal(unb64(request['Body']), 'do');
  const answered = await rest(server.rest, '/send/response', {
    ClientID: 'r',
    RequestID: request['RequestID'],
    ReplyChannel: request['ReplyChannel'],
    Executed: true,
  });
  assert.equal(answered.is_error, false);
  assert.equal(answered.data, null);
  const reply = await pending;
  assert.equal(reply.data['Executed'], true);
  assert.equal(reply.data['RequestID'], request['RequestID']);
  const timeout = await rest(server.rest, '/send/request', {
    RequestTypeData: 1,
    ClientID: 'q',
    Channel: 'r.none',
    Body: b64('x'),
    Timeout: 200,
  });
  assert.equal(timeout.status, 400);
  assert.match(timeout.message, /^Error 301/);
  ws.close();
});

test('queues over REST: send, send_batch, receive, ack_all, info', async () => {
  const sent = await rest(server.rest, '/queue/send', {
    ClientID: 'c',
    Channel: 'r.q',
    Body: b64('one'),
    Metadata: 'm',
  });
  assert.equal(sent.data['IsError'], undefined, 'omitted when false');
  assert.ok(Number(sent.data['SentAt']) > 0);
  const batch = await rest(server.rest, '/queue/send_batch', {
    BatchID: 'b1',
    Messages: [2, 3].map((n) => ({ ClientID: 'c', Channel: 'r.q', Body: b64(`m${n}`) })),
  });
  assert.equal((batch.data['Results'] as Row[]).length, 2);
  const info = await rest(server.rest, '/queue/info?QueueName=r.q');
  assert.equal((info.data['Info'] as Row)['TotalQueue'], 1);
  const got = await rest(server.rest, '/queue/receive', {
    ClientID: 'c',
    Channel: 'r.q',
    MaxNumberOfMessages: 2,
    WaitTimeSeconds: 1,
  });
  assert.deepEqual(
    (got.data['Messages'] as Row[]).map((m) => unb64(m['Body'])),
    ['one', 'm2'],
  );
  const acked = await rest(server.rest, '/queue/ack_all', {
    ClientID: 'c',
    Channel: 'r.q',
    WaitTimeSeconds: 1,
  });
  assert.equal(acked.data['AffectedMessages'], 1);
  const bad = await rest(server.rest, '/queue/receive', {
    ClientID: 'c',
    Channel: 'r.q',
    MaxNumberOfMessages: 0,
  });
  assert.match(bad.data['Error'] as string, /^Error 122/);
});

test('WS /queue/stream: receive, ack, and the server closes the socket', async () => {
  await rest(server.rest, '/queue/send', { ClientID: 'c', Channel: 'r.qs', Body: b64('tx') });
  const { ws, frames } = await openSocket(`${server.ws}/queue/stream`);
  const closed = new Promise((resolve) => ws.once('close', resolve));
  ws.send(
    JSON.stringify({
      ClientID: 'c',
      StreamRequestTypeData: 1,
      Channel: 'r.qs',
      VisibilitySeconds: 10,
      WaitTimeSeconds: 2,
    }),
  );
  await until(() => frames.length === 1);
  const message = frames[0]!['Message'] as Row;
  assert.equal(unb64(message['Body']), 'tx');
  const sequence = (message['Attributes'] as Row)['Sequence'];
  ws.send(JSON.stringify({ ClientID: 'c', StreamRequestTypeData: 2, RefSequence: sequence }));
  await closed;
  assert.equal(frames.length, 2);
  assert.equal(frames[1]!['IsError'], undefined);
});

test('malformed and oversized REST input: an error envelope, never a crash', async () => {
  const notJson = await rest(server.rest, '/send/event', '{"ClientID": ');
  assert.equal(notJson.status, 400);
  assert.equal(notJson.is_error, true);
  const wrongType = await rest(server.rest, '/send/event', { ClientID: 5, Channel: 'x', Body: 'aGk=' });
  assert.equal(wrongType.status, 400);
  const unknown = await fetch(`${server.rest}/no/such/path`);
  assert.equal(unknown.status, 404);
  const huge = await fetch(`${server.rest}/queue/send`, {
    method: 'POST',
    body: 'x'.repeat(2 * jsonBytesMax),
  }).catch((err: unknown) => err);
  assert.ok(huge instanceof Error || (huge as Response).status === 413);
  const ping = await rest(server.rest, '/ping');
  assert.equal(ping.is_error, false, 'still serving');
});
