/**
 * Permissions through amqplib, as RabbitMQ checks them: a declare needs configure, a publish write on
 * the exchange and the topic permission on its routing key, a consume or get read; refusals close the
 * channel with 403 ACCESS_REFUSED and RabbitMQ's text, and nothing refused is stored. A vhost the
 * user has no permissions in is refused at connection.open with 530 NOT_ALLOWED.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type amqp from 'amqplib';
import { protocolHeader } from '../../../src/protocols/amqp/codec/index.js';
import {
  channelOf,
  open,
  RawClient,
  startAmqpBroker,
  type TestBroker,
} from '../../../testing/amqp-helpers.js';

let sy: TestBroker;
let appUrl: string;

before(async () => {
  sy = await startAmqpBroker();
  const core = sy.broker.client('/');
  await core.putUser('app', 'app-pw', []);
  await core.addVhost('other');
  await core.setPermission('/', 'app', {
    configure: '^app\\.',
    write: '^(app\\..*|amq\\.topic)$',
    read: '^app\\.',
  });
  await core.setTopicPermission('/', 'app', 'amq.topic', { write: '^app\\.', read: '.*' });
  core.declareQueue('watch', { durable: false });
  core.bindQueue('watch', 'amq.topic', '#');
  core.declareQueue('private', { durable: false });
  appUrl = `amqp://app:app-pw@127.0.0.1:${sy.port}`;
});

after(() => sy.stop());

/** The error that closed the channel after `act`. */
async function refusal(channel: amqp.Channel, act: () => unknown): Promise<Error> {
  const closed = new Promise<Error>((resolve) => channel.once('error', resolve));
  await Promise.resolve(act()).catch(() => {});
  return closed;
}

const watched = () => sy.broker.client('/').checkQueue('watch').messageCount;

test('a declare outside the configure pattern is refused with 403 and RabbitMQ text', async () => {
  const connection = await open(appUrl);
  try {
    const channel = await channelOf(connection);
    const err = await refusal(channel, () => channel.assertQueue('orders', { durable: false }));
    assert.match(
      err.message,
      /403 \(ACCESS-REFUSED\) with message "ACCESS_REFUSED - configure access to queue 'orders' in vhost '\/' refused for user 'app'"/,
    );
    assert.throws(() => sy.broker.client('/').checkQueue('orders'), /no queue/i);
  } finally {
    await connection.close();
  }
});

test('a publish without write on the exchange, or outside the topic permission, stores nothing', async () => {
  const connection = await open(appUrl);
  try {
    const before = watched();
    const first = await channelOf(connection);
    const direct = await refusal(first, () => first.publish('amq.direct', 'k', Buffer.from('x')));
    assert.match(
      direct.message,
      /ACCESS_REFUSED - write access to exchange 'amq.direct' in vhost '\/' refused for user 'app'/,
    );
    const second = await channelOf(connection);
    const topic = await refusal(second, () => second.publish('amq.topic', 'other.key', Buffer.from('x')));
    assert.match(
      topic.message,
      /ACCESS_REFUSED - write access to topic 'other.key' in exchange 'amq.topic' in vhost '\/' refused for user 'app'/,
    );
    const third = await channelOf(connection);
    const get = await refusal(third, () => third.get('private'));
    assert.match(
      get.message,
      /ACCESS_REFUSED - read access to queue 'private' in vhost '\/' refused for user 'app'/,
    );
    assert.equal(watched(), before);
  } finally {
    await connection.close();
  }
});

test('with permission: declare, bind, publish under its topic and consume all work', async () => {
  const connection = await open(appUrl);
  try {
    const channel = await channelOf(connection);
    await channel.assertExchange('app.events', 'topic', { durable: false });
    await channel.assertQueue('app.inbox', { durable: false });
    await channel.bindQueue('app.inbox', 'app.events', '#');
    channel.publish('app.events', 'a.b', Buffer.from('one'));
    channel.publish('amq.topic', 'app.hello', Buffer.from('two'));
    const got = await new Promise<string>((resolve) => {
      channel.consume('app.inbox', (m) => m && resolve(m.content.toString()), { noAck: true });
    });
    assert.equal(got, 'one');
    const server = sy.broker.client('/');
    for (let i = 0; i < 100 && server.checkQueue('watch').messageCount === 0; i++) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.ok(server.checkQueue('watch').messageCount >= 1, 'the allowed topic reached amq.topic');
  } finally {
    await connection.close();
  }
});

test('a vhost the user has no permissions in is refused at connection.open with 530', async () => {
  await assert.rejects(open(`${appUrl}/other`), /ConnectionClose/);
  const raw = await RawClient.connect(sy.port);
  raw.write(protocolHeader);
  await raw.method('connection.start');
  const response = Buffer.from('\0app\0app-pw');
  raw.send(0, {
    name: 'connection.start-ok',
    fields: { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' },
  });
  await raw.method('connection.tune');
  raw.send(0, { name: 'connection.tune-ok', fields: { channelMax: 0, frameMax: 131072, heartbeat: 0 } });
  raw.send(0, { name: 'connection.open', fields: { virtualHost: 'other', capabilities: '', insist: false } });
  const close = await raw.method('connection.close');
  assert.ok(close.name === 'connection.close');
  assert.equal(close.fields.replyCode, 530);
  assert.equal(close.fields.replyText, "NOT_ALLOWED - access to vhost 'other' refused for user 'app'");
  const guest = await open(`amqp://guest:guest@127.0.0.1:${sy.port}/other`).catch((err: Error) => err);
  assert.ok(guest instanceof Error, 'guest has no permissions on a vhost it did not create either');
});
