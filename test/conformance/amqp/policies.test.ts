/**
 * Policies and limits as an operator uses them against amqplib clients: set over the admin API, seen
 * by queues that exist already and by new ones; vhost and user limits refuse with RabbitMQ's errors.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type amqp from 'amqplib';
import { adminCall } from '../../../testing/admin-api.js';
import { channelOf, confirmChannelOf, open, RawClient, until } from '../../../testing/amqp-helpers.js';
import { startTestBroker, type TestBroker } from '../../../testing/broker.js';

let server: TestBroker;
let connection: amqp.ChannelModel;
let channel: amqp.Channel;

async function api(method: 'PUT' | 'DELETE', path: string, body?: unknown): Promise<number> {
  return (await adminCall(server.url('http'), method, path, body)).status;
}

async function depth(queue: string): Promise<number> {
  return (await channel.checkQueue(queue)).messageCount;
}

function publishMany(queue: string, count: number, prefix = 'm'): void {
  for (let i = 0; i < count; i++) channel.sendToQueue(queue, Buffer.from(`${prefix}${i}`));
}

async function bodies(queue: string): Promise<string[]> {
  const out: string[] = [];
  for (let i = 0; i < 100; i++) {
    const message = await channel.get(queue, { noAck: true });
    if (message === false) return out;
    out.push(message.content.toString());
  }
  return out;
}

/** Opens a connection frame by frame and returns what the server closed it with (amqplib hides it). */
async function refusedOpen(): Promise<string> {
  const raw = await RawClient.connect(server.port('amqp'));
  const close = await raw.handshake('connection.close');
  raw.close();
  const fields = close.fields as { replyCode: number; replyText: string };
  return `${fields.replyCode} ${fields.replyText}`;
}

before(async () => {
  server = await startTestBroker({ listeners: ['amqp', 'http'] });
  connection = await open(server.url('amqp'));
  channel = await channelOf(connection);
});

after(async () => {
  await connection.close();
  await server.stop();
});

test('a max-length policy set on an existing queue trims it, then limits new publishes; removing it restores the queue', async () => {
  await channel.assertQueue('jobs');
  publishMany('jobs', 5);
  await until(async () => (await depth('jobs')) === 5, 10_000, 'five messages queued');
  assert.equal(
    await api('PUT', '/api/policies/%2F/cap-jobs', { pattern: '^jobs$', definition: { 'max-length': 2 } }),
    201,
  );
  assert.equal(await depth('jobs'), 2);
  publishMany('jobs', 3, 'n');
  await until(async () => (await channel.checkQueue('jobs')).messageCount === 2, 10_000, 'still two');
  assert.deepEqual(await bodies('jobs'), ['n1', 'n2']);

  // reject-publish: a publisher with confirms hears the refusal as a nack.
  await api('PUT', '/api/policies/%2F/cap-jobs', {
    pattern: '^jobs$',
    definition: { 'max-length': 1, overflow: 'reject-publish' },
  });
  const confirms = await confirmChannelOf(connection);
  await new Promise<void>((resolve, reject) =>
    confirms.sendToQueue('jobs', Buffer.from('first'), {}, (err) => (err ? reject(err) : resolve())),
  );
  const refused = await new Promise<unknown>((resolve) =>
    confirms.sendToQueue('jobs', Buffer.from('second'), {}, (err) => resolve(err)),
  );
  assert.ok(refused, 'the second publish is nacked');
  await confirms.close();

  assert.equal(await api('DELETE', '/api/policies/%2F/cap-jobs'), 204);
  publishMany('jobs', 4, 'r');
  await until(async () => (await depth('jobs')) === 5, 10_000, 'the queue unbounded again');
});

test('a TTL and dead-letter policy sends expired messages to another queue', async () => {
  await channel.assertExchange('graveyard', 'fanout');
  await channel.assertQueue('dead');
  await channel.bindQueue('dead', 'graveyard', '');
  await channel.assertQueue('work');
  await api('PUT', '/api/policies/%2F/expire-work', {
    pattern: '^work$',
    'apply-to': 'queues',
    definition: { 'message-ttl': 30, 'dead-letter-exchange': 'graveyard' },
  });
  channel.sendToQueue('work', Buffer.from('too late'));
  let dead: amqp.GetMessage | false = false;
  await until(
    async () => {
      dead = await channel.get('dead', { noAck: true });
      return dead !== false;
    },
    10_000,
    'the expired message dead-lettered',
  );
  const got = dead as unknown as amqp.GetMessage;
  assert.equal(got.content.toString(), 'too late');
  const death = got.properties.headers?.['x-death']?.[0];
  assert.equal(death?.reason, 'expired');
  assert.equal(death?.queue, 'work');
  await api('DELETE', '/api/policies/%2F/expire-work');
});

test('queue arguments win over a policy: the smaller limit applies, the declared dead-letter exchange is used', async () => {
  for (const name of ['args-dlx', 'policy-dlx']) {
    await channel.assertExchange(name, 'fanout');
    await channel.assertQueue(`${name}-q`);
    await channel.bindQueue(`${name}-q`, name, '');
  }
  await channel.assertQueue('declared', {
    arguments: { 'x-max-length': 2, 'x-dead-letter-exchange': 'args-dlx' },
  });
  await api('PUT', '/api/policies/%2F/loose', {
    pattern: '^declared$',
    definition: { 'max-length': 5, 'dead-letter-exchange': 'policy-dlx' },
  });
  publishMany('declared', 4);
  await until(async () => (await depth('args-dlx-q')) === 2, 10_000, 'two dropped into the declared DLX');
  assert.equal(await depth('declared'), 2);
  assert.equal(await depth('policy-dlx-q'), 0);
  await api('DELETE', '/api/policies/%2F/loose');
});

test('vhost max-queues refuses a declare with 406 and RabbitMQ text', async () => {
  const other = await open(server.url('amqp'));
  const ch = await channelOf(other);
  const count = server.broker.client('/').listQueues().length;
  assert.equal(await api('PUT', '/api/vhost-limits/%2F/max-queues', { value: count }), 204);
  await assert.rejects(
    ch.assertQueue('one-too-many'),
    /PRECONDITION_FAILED - cannot declare queue 'one-too-many': queue limit in virtual host '\/' is reached/,
  );
  await api('DELETE', '/api/vhost-limits/%2F/max-queues');
  const again = await channelOf(other);
  await again.assertQueue('one-too-many');
  await other.close();
});

test('user max-connections refuses a connection; max-channels refuses a channel (530 NOT_ALLOWED)', async () => {
  assert.equal(await api('PUT', '/api/user-limits/guest/max-connections', { value: 1 }), 204);
  await assert.rejects(open(server.url('amqp')), /ConnectionClose/);
  assert.equal(
    await refusedOpen(),
    "530 NOT_ALLOWED - Connection refused for user 'guest'. User connection limit (1) is reached",
  );
  await api('DELETE', '/api/user-limits/guest/max-connections');
  const second = await open(server.url('amqp'));

  // The test's own connection holds channels already: one more is past the limit.
  await api('PUT', '/api/user-limits/guest/max-channels', { value: 1 });
  const closed = new Promise<Error>((resolve) => second.once('error', resolve));
  await assert.rejects(second.createChannel());
  assert.match((await closed).message, /NOT_ALLOWED - number of channels opened for user 'guest'/);
  await api('DELETE', '/api/user-limits/guest/max-channels');

  await api('PUT', '/api/vhost-limits/%2F/max-connections', { value: 1 });
  assert.equal(
    await refusedOpen(),
    "530 NOT_ALLOWED - access to vhost '/' refused for user 'guest': connection limit (1) is reached",
  );
  await api('DELETE', '/api/vhost-limits/%2F/max-connections');
  const third = await open(server.url('amqp'));
  await third.close();
});
