/**
 * Resource alarms over AMQP with amqplib (RabbitMQ's "Blocked Connection Notifications"): a publishing
 * connection gets connection.blocked with a reason and its publishes stop being read; consumers on
 * other connections keep receiving; when the alarm clears, connection.unblocked arrives and the held
 * publish is confirmed.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  channelOf,
  confirmChannelOf,
  open,
  startAmqpBroker,
  type TestBroker,
  until,
} from '../../../testing/amqp-helpers.js';

let sy: TestBroker;
before(async () => {
  sy = await startAmqpBroker();
});
after(async () => {
  sy.broker.core.alarms.set('memory', false);
  sy.broker.core.alarms.set('disk', false);
  await sy.stop();
});

describe('AMQP connection.blocked', () => {
  test('a publisher is blocked under an alarm; a consumer keeps receiving; both resume on clear', async () => {
    const alarms = sy.broker.core.alarms;
    const publisher = await open(sy.url);
    const consumerConn = await open(sy.url);
    const events: string[] = [];
    publisher.on('blocked', (reason: string) => events.push(`blocked: ${reason}`));
    publisher.on('unblocked', () => events.push('unblocked'));
    const pub = await confirmChannelOf(publisher);
    await pub.assertQueue('alarm.q', { durable: false });
    pub.sendToQueue('alarm.q', Buffer.from('before'));
    await pub.waitForConfirms();

    alarms.set('memory', true);
    await until(() => events.length === 1, 3000, 'connection.blocked');
    assert.deepEqual(events, ['blocked: low on memory']);

    let confirmed = false;
    const held = new Promise<void>((resolve, reject) =>
      pub.sendToQueue('alarm.q', Buffer.from('during'), {}, (err) => (err ? reject(err) : resolve())),
    ).then(() => {
      confirmed = true;
    });

    // The consumer's connection never published: it is not blocked and gets what was queued before.
    const con = await channelOf(consumerConn);
    const received: string[] = [];
    await con.consume('alarm.q', (m) => m && received.push(m.content.toString()), { noAck: true });
    await until(() => received.length === 1, 3000, 'delivery of the queued message');
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.deepEqual(received, ['before']);
    assert.equal(confirmed, false, 'a publish is confirmed while its connection is blocked');

    alarms.set('memory', false);
    await held;
    await until(() => received.length === 2, 3000, 'delivery of the held publish');
    assert.deepEqual(events, ['blocked: low on memory', 'unblocked']);
    assert.deepEqual(received, ['before', 'during']);
    await publisher.close();
    await consumerConn.close();
  });

  test('a second alarm during a blocked spell sends no second connection.blocked', async () => {
    const alarms = sy.broker.core.alarms;
    const publisher = await open(sy.url);
    const events: string[] = [];
    publisher.on('blocked', (reason: string) => events.push(`blocked: ${reason}`));
    publisher.on('unblocked', () => events.push('unblocked'));
    const pub = await confirmChannelOf(publisher);
    await pub.assertQueue('alarm.q2', { durable: false });

    alarms.set('disk', true);
    // Not a publisher yet: told at its first publish, which is held.
    const held = new Promise<void>((resolve, reject) =>
      pub.sendToQueue('alarm.q2', Buffer.from('x'), {}, (err) => (err ? reject(err) : resolve())),
    );
    await until(() => events.length === 1, 3000, 'connection.blocked');
    alarms.set('memory', true);
    alarms.set('disk', false);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(events, ['blocked: low on disk space']);

    alarms.set('memory', false);
    await held;
    assert.deepEqual(events, ['blocked: low on disk space', 'unblocked']);
    await publisher.close();
  });
});
