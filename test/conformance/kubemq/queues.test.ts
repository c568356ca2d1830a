import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { type QueueMessage, QueuesClient, type QueueTransactionMessage } from 'kubemq-js';
import {
  clientId,
  collectStream,
  type KubemqTestBroker,
  rawClient,
  sleep,
  startKubemqBroker,
  textOf,
  utf8,
} from '../../../testing/kubemq-harness.js';

let server: KubemqTestBroker;
before(async () => {
  server = await startKubemqBroker();
});
after(() => server.stop());

function client(): QueuesClient {
  return new QueuesClient({ address: server.address, clientId: clientId('queues'), reconnectInterval: 0 });
}

async function pull(c: QueuesClient, channel: string, max = 10, wait = 1) {
  return c.pull({ channel, maxNumberOfMessages: max, waitTimeoutSeconds: wait });
}

const texts = (messages: QueueMessage[]) => messages.map((m) => textOf(m.body!));

test('send, then pull: messages in order, auto-acked, with id, metadata and attributes', async () => {
  const c = client();
  const sent = await c.send({ channel: 'q.basic', body: utf8('one'), metadata: 'meta', id: 'm-1' });
  assert.equal(sent.isError, false, sent.error);
  assert.equal(sent.id, 'm-1');
  assert.ok(sent.sentAt > 1_600_000_000e9, 'sentAt in ns');
  await c.send({ channel: 'q.basic', body: utf8('two') });
  const got = await pull(c, 'q.basic');
  assert.equal(got.isError, false, got.error);
  assert.deepEqual(texts(got.messages), ['one', 'two']);
  assert.equal(got.messagesReceived, 2);
  const first = got.messages[0]!;
  assert.equal(first.id, 'm-1');
  assert.equal(first.metadata, 'meta');
  assert.equal(first.channel, 'q.basic');
  assert.equal(first.attributes?.receiveCount, 1);
  assert.ok((first.attributes?.sequence ?? 0) > 0);
  assert.equal((await pull(c, 'q.basic')).messages.length, 0, 'pulled messages are gone');
  c.close();
});

test('batch send answers one result per message; peek shows without taking', async () => {
  const c = client();
  const results = await c.batch([1, 2, 3].map((i) => ({ channel: 'q.batch', body: utf8(`b${i}`) })));
  assert.equal(results.length, 3);
  assert.ok(results.every((r) => !r.isError));
  const peeked = await c.peek({ channel: 'q.batch', maxNumberOfMessages: 2, waitTimeoutSeconds: 1 });
  assert.equal(peeked.isPeek, true);
  assert.deepEqual(texts(peeked.messages), ['b1', 'b2']);
  const pulled = await pull(c, 'q.batch');
  assert.deepEqual(texts(pulled.messages), ['b1', 'b2', 'b3']);
  assert.equal(pulled.messages[0]!.attributes?.receiveCount, 1, 'a peek is not a receive');
  c.close();
});

test('pull long-polls: a message sent during the wait is returned', async () => {
  const c = client();
  const waiting = pull(c, 'q.poll', 1, 5);
  await sleep(300);
  await client().send({ channel: 'q.poll', body: utf8('late') });
  const got = await waiting;
  assert.deepEqual(texts(got.messages), ['late']);
  c.close();
});

test('ack all removes every waiting message and counts them', async () => {
  const c = client();
  for (let i = 0; i < 4; i++) await c.send({ channel: 'q.ackall', body: utf8(`a${i}`) });
  const acked = await c.ackAll({ channel: 'q.ackall', waitTimeoutSeconds: 1 });
  assert.equal(acked.isError, false, acked.error);
  assert.equal(acked.affectedMessages, 4);
  assert.equal((await pull(c, 'q.ackall')).messages.length, 0);
  c.close();
});

test('policies: a delayed message waits, an expired one is gone', async () => {
  const c = client();
  const delayed = await c.send({ channel: 'q.delay', body: utf8('later'), policy: { delaySeconds: 2 } });
  assert.ok(delayed.delayedTo > delayed.sentAt);
  assert.equal((await pull(c, 'q.delay', 1, 1)).messages.length, 0);
  assert.deepEqual(texts((await pull(c, 'q.delay', 1, 3)).messages), ['later']);
  const expiring = await c.send({
    channel: 'q.expire',
    body: utf8('gone'),
    policy: { expirationSeconds: 1 },
  });
  assert.ok(expiring.expirationAt > expiring.sentAt);
  await sleep(1300);
  assert.equal((await pull(c, 'q.expire', 1, 1)).messages.length, 0);
  c.close();
});

test('bad queue input gets KubeMQ error texts in the result', async () => {
  const c = client();
  for (const channel of ['', 'bad.', 'with space', 'q.*', 'q.>']) {
    const result = await c.send({ channel, body: utf8('x') });
    assert.equal(result.isError, true);
    assert.match(result.error, /^Error 120: invalid queue name value/);
  }
  assert.match((await c.send({ channel: 'q.ok', body: new Uint8Array(0) })).error, /Error 110/);
  assert.match(
    (await c.send({ channel: 'q.ok', body: utf8('x'), policy: { delaySeconds: 43_201 } })).error,
    /Error 135/,
  );
  assert.match(
    (await c.send({ channel: 'q.ok', body: utf8('x'), policy: { expirationSeconds: 99_999 } })).error,
    /Error 133/,
  );
  assert.match(
    (await c.send({ channel: 'q.ok', body: utf8('x'), policy: { maxReceiveCount: 2000 } })).error,
    /Error 134/,
  );
  assert.match((await pull(c, 'q.ok', -1)).error, /Error 122/);
  assert.match((await pull(c, 'q.ok', 2000)).error, /Error 122/);
  assert.match((await pull(c, 'q.ok', 1, 3601)).error, /Error 136/);
  const anonymous = new QueuesClient({ address: server.address, clientId: '', reconnectInterval: 0 });
  assert.match((await anonymous.send({ channel: 'q.ok', body: utf8('x'), clientId: '' })).error, /Error 101/);
  anonymous.close();
  c.close();
});

/** Runs one kubemq-js transaction: `act` settles the message it gets; resolves when the server ends the stream. */
async function transaction(
  c: QueuesClient,
  channel: string,
  act: (msg: QueueTransactionMessage) => Promise<void>,
  options: { visibilitySeconds?: number; waitTimeoutSeconds?: number } = {},
): Promise<{ message?: QueueMessage; errors: string[] }> {
  const out: { message?: QueueMessage; errors: string[] } = { errors: [] };
  await c.transaction(
    {
      channel,
      visibilitySeconds: options.visibilitySeconds ?? 10,
      waitTimeoutSeconds: options.waitTimeoutSeconds ?? 2,
    },
    (err, msg) => {
      if (err) out.errors.push(err.message);
      if (msg) {
        out.message = msg.message;
        void act(msg);
      }
    },
  );
  return out;
}

test('transaction: ack removes the message and the server ends the stream', async () => {
  const c = client();
  await c.send({ channel: 'q.tx.ack', body: utf8('x') });
  const done = await transaction(c, 'q.tx.ack', (m) => m.ack());
  assert.equal(textOf(done.message!.body!), 'x');
  assert.deepEqual(done.errors, []);
  assert.equal((await pull(c, 'q.tx.ack')).messages.length, 0);
  c.close();
});

test('transaction: reject puts the message back at the tail with its receive count up', async () => {
  const c = client();
  for (const body of ['r', 's']) await c.send({ channel: 'q.tx.reject', body: utf8(body) });
  await transaction(c, 'q.tx.reject', (m) => m.reject());
  const rest = await pull(c, 'q.tx.reject');
  assert.deepEqual(texts(rest.messages), ['s', 'r']);
  assert.equal(rest.messages[1]!.attributes?.receiveCount, 2);
  c.close();
});

test('transaction: resend to another channel, send a modified message instead', async () => {
  const c = client();
  await c.send({ channel: 'q.tx.from', body: utf8('moving') });
  await transaction(c, 'q.tx.from', (m) => m.resendToChannel('q.tx.to'));
  assert.equal((await pull(c, 'q.tx.from')).messages.length, 0);
  assert.deepEqual(texts((await pull(c, 'q.tx.to')).messages), ['moving']);
  await c.send({ channel: 'q.tx.from', body: utf8('original') });
  await transaction(c, 'q.tx.from', (m) =>
    m.resendNewMessage({ channel: 'q.tx.to', body: utf8('modified') }),
  );
  assert.equal((await pull(c, 'q.tx.from')).messages.length, 0);
  assert.deepEqual(texts((await pull(c, 'q.tx.to')).messages), ['modified']);
  c.close();
});

test('transaction: visibility runs out (129) unless extended; no message within the wait is 138', async () => {
  const c = client();
  await c.send({ channel: 'q.tx.vis', body: utf8('v') });
  const expired = await transaction(c, 'q.tx.vis', async () => {}, { visibilitySeconds: 1 });
  assert.match(expired.errors.join(), /Error 129: current visibility timer expired/);
  const back = await transaction(
    c,
    'q.tx.vis',
    async (m) => {
      await m.extendVisibility(3);
      await sleep(1500);
      await m.ack();
    },
    { visibilitySeconds: 1 },
  );
  assert.equal(back.message?.attributes?.receiveCount, 2, 'the expired hold counted');
  assert.deepEqual(back.errors, []);
  const empty = await transaction(c, 'q.tx.vis', async () => {}, { waitTimeoutSeconds: 1 });
  assert.match(empty.errors.join(), /Error 138: no new message in queue, wait time expired/);
  c.close();
});

test('max receive count: past it the message goes to its dead-letter queue, re-routed', async () => {
  const c = client();
  await c.send({
    channel: 'q.dlq.src',
    body: utf8('poison'),
    policy: { maxReceiveCount: 2, maxReceiveQueue: 'q.dlq.dead' },
  });
  for (let i = 0; i < 2; i++) await transaction(c, 'q.dlq.src', (m) => m.reject());
  assert.equal((await pull(c, 'q.dlq.src')).messages.length, 0);
  const dead = await pull(c, 'q.dlq.dead');
  assert.deepEqual(texts(dead.messages), ['poison']);
  assert.equal(dead.messages[0]!.attributes?.reRouted, true);
  assert.equal(dead.messages[0]!.attributes?.reRoutedFromQueue, 'q.dlq.src');
  c.close();
});

test('a client that leaves mid-transaction gives the message back, counted', async () => {
  const c = client();
  await c.send({ channel: 'q.tx.leave', body: utf8('held') });
  const raw = rawClient(server.address);
  const stream = raw.StreamQueueMessage();
  stream.on('error', () => {});
  const responses = collectStream(stream);
  stream.write({
    ClientID: 'leaver',
    StreamRequestTypeData: 1,
    Channel: 'q.tx.leave',
    VisibilitySeconds: 30,
    WaitTimeSeconds: 2,
  });
  const [first] = await responses.next(1);
  assert.ok(first!['Message'], 'got the message');
  stream.cancel();
  await sleep(300);
  const back = await pull(c, 'q.tx.leave', 1, 2);
  assert.deepEqual(texts(back.messages), ['held']);
  assert.equal(back.messages[0]!.attributes?.receiveCount, 2);
  raw.close();
  c.close();
});
