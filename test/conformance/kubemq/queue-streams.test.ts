import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { kubemqLimitsDefault } from '../../../src/protocols/kubemq/limits.js';
import {
  call,
  collectStream,
  type KubemqTestBroker,
  type RawKubemq,
  rawClient,
  sleep,
  startKubemqBroker,
  textOf,
  utf8,
} from '../../../testing/kubemq-harness.js';

let server: KubemqTestBroker;
let raw: RawKubemq;
before(async () => {
  server = await startKubemqBroker();
  raw = rawClient(server.address);
});
after(async () => {
  raw.close();
  await server.stop();
});

type Row = Record<string, unknown>;
const messagesOf = (response: Row | undefined) => (response?.['Messages'] ?? []) as Row[];
const bodies = (response: Row | undefined) =>
  messagesOf(response).map((m) => textOf(m['Body'] as Uint8Array));

/** Sends `bodies` to `channel` through one QueuesUpstream request and returns its answer. */
async function upstream(channel: string, texts: string[]): Promise<Row> {
  const stream = raw.QueuesUpstream();
  const answers = collectStream(stream);
  const messages = texts.map((text) => ({ ClientID: 'up', Channel: channel, Body: utf8(text) }));
  stream.write({ RequestID: `req-${channel}`, Messages: messages });
  const [answer] = await answers.next(1);
  stream.end();
  return answer!;
}

function downstream() {
  const stream = raw.QueuesDownstream();
  const answers = collectStream(stream);
  let n = 0;
  return {
    answers,
    stream,
    /** Sends a request; resolves with the next answer when `expect` says one comes. */
    async send(request: Row, expect = true): Promise<Row | undefined> {
      const before = answers.got.length;
      stream.write({ RequestID: `d${++n}`, ClientID: 'down', ...request });
      if (!expect) {
        await sleep(100);
        return undefined;
      }
      const got = await answers.next(before + 1);
      return got[before];
    },
  };
}

test('upstream sends a request of messages and answers one result each, in order', async () => {
  const answer = await upstream('qs.up', ['u1', 'u2', 'u3']);
  assert.equal(answer['RefRequestID'], 'req-qs.up');
  assert.equal(answer['IsError'], false);
  const results = answer['Results'] as Row[];
  assert.equal(results.length, 3);
  assert.ok(results.every((r) => r['IsError'] === false && r['MessageID'] !== ''));
});

test('an upstream request of more than batchMessagesMax messages is refused whole, as a batch send', async () => {
  const max = kubemqLimitsDefault.batchMessagesMax;
  const texts = (count: number) => Array.from({ length: count }, (_, i) => `b${i}`);
  const past = await upstream('qs.big', texts(max + 1));
  assert.equal(past['IsError'], true);
  assert.match(String(past['Error']), new RegExp(`batch of ${max + 1} messages exceeds ${max}`));
  const sent = await upstream('qs.big', texts(max));
  assert.equal(sent['IsError'], false);
  assert.equal((sent['Results'] as Row[]).length, max);
});

test('downstream get with auto-ack takes the messages for good', async () => {
  await upstream('qs.auto', ['a1', 'a2']);
  const d = downstream();
  const got = await d.send({
    RequestTypeData: 1,
    Channel: 'qs.auto',
    MaxItems: 10,
    WaitTimeout: 1000,
    AutoAck: true,
  });
  assert.deepEqual(bodies(got), ['a1', 'a2']);
  assert.equal(got!['TransactionComplete'], true);
  const again = await d.send({ RequestTypeData: 1, Channel: 'qs.auto', MaxItems: 10, WaitTimeout: 1000 });
  assert.deepEqual(bodies(again), []);
  d.stream.end();
});

test('downstream transaction: ack a range, nack the rest back at the tail, active offsets, status', async () => {
  await upstream('qs.tx', ['t1', 't2', 't3']);
  const d = downstream();
  const got = await d.send({ RequestTypeData: 1, Channel: 'qs.tx', MaxItems: 3, WaitTimeout: 1000 });
  const id = got!['TransactionId'] as string;
  const seqs = messagesOf(got).map((m) => String((m['Attributes'] as Row)['Sequence']));
  const offsets = await d.send({ RequestTypeData: 8, RefTransactionId: id });
  assert.deepEqual((offsets!['ActiveOffsets'] as string[]).map(String), seqs);
  await d.send({ RequestTypeData: 3, RefTransactionId: id, SequenceRange: [seqs[0]] }, false);
  const status = await d.send({ RequestTypeData: 9, RefTransactionId: id });
  assert.equal(status!['TransactionComplete'], false);
  await d.send({ RequestTypeData: 4, RefTransactionId: id }, false);
  const gone = await d.send({ RequestTypeData: 9, RefTransactionId: id });
  assert.equal(gone!['IsError'], true, 'a completed transaction is gone');
  const back = await d.send({
    RequestTypeData: 1,
    Channel: 'qs.tx',
    MaxItems: 10,
    WaitTimeout: 1000,
    AutoAck: true,
  });
  assert.deepEqual(bodies(back), ['t2', 't3']);
  assert.deepEqual(
    messagesOf(back).map((m) => (m['Attributes'] as Row)['ReceiveCount']),
    [2, 2],
  );
  d.stream.end();
});

test('downstream re-queue moves messages to another queue, marked re-routed', async () => {
  await upstream('qs.from', ['r1']);
  const d = downstream();
  const got = await d.send({ RequestTypeData: 1, Channel: 'qs.from', MaxItems: 1, WaitTimeout: 1000 });
  await d.send(
    { RequestTypeData: 6, RefTransactionId: got!['TransactionId'], ReQueueChannel: 'qs.to' },
    false,
  );
  const moved = await d.send({
    RequestTypeData: 1,
    Channel: 'qs.to',
    MaxItems: 5,
    WaitTimeout: 1000,
    AutoAck: true,
  });
  assert.deepEqual(bodies(moved), ['r1']);
  const attributes = messagesOf(moved)[0]!['Attributes'] as Row;
  assert.equal(attributes['ReRouted'], true);
  assert.equal(attributes['ReRoutedFromQueue'], 'qs.from');
  d.stream.end();
});

test('a downstream stream that ends gives back what its transactions held', async () => {
  await upstream('qs.drop', ['h1']);
  const d = downstream();
  await d.send({ RequestTypeData: 1, Channel: 'qs.drop', MaxItems: 1, WaitTimeout: 1000 });
  d.stream.cancel();
  await sleep(200);
  const again = downstream();
  const back = await again.send({
    RequestTypeData: 1,
    Channel: 'qs.drop',
    MaxItems: 1,
    WaitTimeout: 2000,
    AutoAck: true,
  });
  assert.deepEqual(bodies(back), ['h1']);
  again.stream.end();
});

test('downstream errors: unknown transaction, bad range, bad channel, empty client id', async () => {
  const d = downstream();
  const unknown = await d.send({ RequestTypeData: 2, RefTransactionId: 'nope' });
  assert.equal(unknown!['Error'], 'transaction is completed or transaction id not found');
  const badChannel = await d.send({ RequestTypeData: 1, Channel: 'bad.', MaxItems: 1, WaitTimeout: 1000 });
  assert.match(badChannel!['Error'] as string, /^Error 120/);
  const noClient = await d.send({ RequestTypeData: 1, ClientID: '', Channel: 'qs.ok', MaxItems: 1 });
  assert.match(noClient!['Error'] as string, /^Error 101/);
  await upstream('qs.range', ['x']);
  const got = await d.send({ RequestTypeData: 1, Channel: 'qs.range', MaxItems: 1, WaitTimeout: 1000 });
  const badRange = await d.send({
    RequestTypeData: 3,
    RefTransactionId: got!['TransactionId'],
    SequenceRange: [999999999],
  });
  assert.match(badRange!['Error'] as string, /invalid sequence id/);
  d.stream.end();
});

test('queues info lists queue channels with their counters', async () => {
  await upstream('qs.info.a', ['1', '2']);
  await upstream('qs.info.b', ['3']);
  const info = await call(raw, 'QueuesInfo', { RequestID: 'i1', QueueName: 'qs.info.a;qs.info.b' });
  assert.equal(info['RefRequestID'], 'i1');
  const body = info['Info'] as Row;
  assert.equal(body['TotalQueue'], 2);
  const queues = body['Queues'] as Row[];
  const a = queues.find((q) => q['Name'] === 'qs.info.a')!;
  assert.equal(String(a['Messages']), '2');
  assert.equal(String(a['Sent']), '2');
  assert.equal(String(a['Waiting']), '2');
  const all = await call(raw, 'QueuesInfo', {});
  assert.ok(((all['Info'] as Row)['Queues'] as Row[]).length >= 2);
});
