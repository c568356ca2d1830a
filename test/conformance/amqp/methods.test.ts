import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type amqp from 'amqplib';
import { encodeContent } from '../../../src/protocols/amqp/codec/index.js';
import {
  channelOf,
  confirmChannelOf,
  open,
  RawClient,
  sharedAmqpBroker,
  until,
} from '../../../testing/amqp-helpers.js';

const file = sharedAmqpBroker();

/** Resolves with the reply code of the channel's close (channel errors are channel closes). */
function closedWith(ch: amqp.Channel): Promise<number> {
  return new Promise((resolve) => ch.once('error', (err: { code: number }) => resolve(err.code)));
}

async function expectChannelError(run: (ch: amqp.Channel) => Promise<unknown>, code: number): Promise<void> {
  const ch = await channelOf(file.conn);
  const closed = closedWith(ch);
  await run(ch).catch(() => {});
  assert.equal(await closed, code);
}

const body = (s: string) => Buffer.from(s);
/** Ready messages in a queue, read from core (exclusive queues included). */
const count = (q: string): number =>
  file.sy.broker
    .client()
    .listQueues()
    .find((x) => x.name === q)?.messageCount ?? -1;

describe('AMQP exchanges', () => {
  test('declare, passive, redeclare with other properties → 406, missing passive → 404', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertExchange('ex.a', 'topic', { durable: false });
    await ch.checkExchange('ex.a');
    await expectChannelError((c) => c.assertExchange('ex.a', 'direct', { durable: false }), 406);
    await expectChannelError((c) => c.checkExchange('ex.none'), 404);
    await expectChannelError((c) => c.assertExchange('amq.mine', 'direct'), 403);
  });

  test('an unknown exchange type closes the connection with 503', async () => {
    const c = await open(file.sy.url);
    const closed = new Promise<string>((resolve) => c.on('error', (e: Error) => resolve(e.message)));
    const ch = await c.createChannel();
    ch.on('error', () => {});
    await ch.assertExchange('ex.weird', 'nonsense').catch(() => {});
    assert.match(await closed, /503/);
  });

  test('internal exchanges refuse publishes (403); alternate-exchange takes unroutable messages', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertExchange('ex.alt', 'fanout', { durable: false });
    await ch.assertExchange('ex.main', 'direct', { durable: false, alternateExchange: 'ex.alt' });
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q, 'ex.alt', '');
    ch.publish('ex.main', 'nowhere', body('alt'));
    await until(() => false, 50).catch(() => {});
    const got = await ch.get(q, { noAck: true });
    assert.ok(got !== false && got.content.toString() === 'alt');
    await ch.assertExchange('ex.internal', 'fanout', { durable: false, internal: true });
    await expectChannelError(async (c) => c.publish('ex.internal', '', body('x')), 403);
  });

  test('exchange-to-exchange bindings route; unbind stops them; delete if-unused → 406', async () => {
    const ch = await channelOf(file.conn);
    await ch.assertExchange('ex.src', 'topic', { durable: false });
    await ch.assertExchange('ex.dst', 'fanout', { durable: false });
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await ch.bindQueue(q, 'ex.dst', '');
    await ch.bindExchange('ex.dst', 'ex.src', 'a.*');
    ch.publish('ex.src', 'a.b', body('e2e'));
    await until(() => count(q) === 1);
    await ch.unbindExchange('ex.dst', 'ex.src', 'a.*');
    ch.publish('ex.src', 'a.b', body('lost'));
    await expectChannelError((c) => c.deleteExchange('ex.dst', { ifUnused: true }), 406);
    await ch.deleteExchange('ex.src');
    await ch.deleteExchange('ex.src');
    assert.equal(count(q), 1);
  });
});

describe('AMQP queues', () => {
  test('server-named, passive, redeclare mismatch 406, args reach core', async () => {
    const ch = await channelOf(file.conn);
    const q = await ch.assertQueue('', { exclusive: true });
    assert.match(q.queue, /^amq\.gen-/);
    await ch.assertQueue('q.args', {
      durable: false,
      arguments: {
        'x-message-ttl': 60000,
        'x-max-length': 10,
        'x-overflow': 'reject-publish',
        'x-max-priority': 5,
      },
    });
    const info = file.sy.broker
      .client()
      .listQueues()
      .find((x) => x.name === 'q.args')!;
    assert.equal(info.messageTtlMs, 60000);
    assert.equal(info.lengthMax, 10);
    assert.equal(info.overflow, 'reject-publish');
    assert.equal(info.priorityMax, 5);
    await expectChannelError((c) => c.assertQueue('q.args', { durable: true }), 406);
    await expectChannelError((c) => c.checkQueue('q.missing'), 404);
    await ch.deleteQueue('q.args');
  });

  test('badly typed x- arguments get RabbitMQ 406 with the argument named', async () => {
    for (const args of [
      { 'x-message-ttl': 'soon' },
      { 'x-max-length': -1 },
      { 'x-expires': 0 },
      { 'x-queue-type': 'fast' },
    ]) {
      const ch = await channelOf(file.conn);
      const failure = new Promise<string>((resolve) => ch.once('error', (e: Error) => resolve(e.message)));
      await ch.assertQueue('q.bad', { arguments: args }).catch(() => {});
      const message = await failure;
      assert.match(message, /406/);
      assert.match(message, new RegExp(Object.keys(args)[0]!));
    }
  });

  test('exclusive queues are locked (405) to other connections', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const other = await open(file.sy.url);
    const och = await channelOf(other);
    const closed = closedWith(och);
    await och.consume(q, () => {}).catch(() => {});
    assert.equal(await closed, 405);
    await other.close();
  });

  test('purge, delete if-empty 406, unbind, delete counts', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('q.pd', { durable: false })).queue;
    await ch.assertExchange('ex.pd', 'direct', { durable: false });
    await ch.bindQueue(q, 'ex.pd', 'k');
    ch.publish('ex.pd', 'k', body('1'));
    ch.publish('ex.pd', 'k', body('2'));
    await until(() => count(q) === 2);
    await expectChannelError((c) => c.deleteQueue(q, { ifEmpty: true }), 406);
    assert.equal((await ch.purgeQueue(q)).messageCount, 2);
    await ch.unbindQueue(q, 'ex.pd', 'k');
    ch.publish('ex.pd', 'k', body('3'));
    assert.equal((await ch.deleteQueue(q)).messageCount, 0);
    assert.equal((await ch.deleteQueue(q)).messageCount, 0, 'delete is idempotent');
  });
});

describe('AMQP basic', () => {
  test('get / get-empty with message count and properties round trip', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    assert.equal(await ch.get(q), false);
    const headers = { a: 1, b: 'two', nested: { c: true } };
    ch.sendToQueue(q, body('one'), {
      contentType: 'text/plain',
      headers,
      correlationId: 'c1',
      messageId: 'm1',
      timestamp: 1700000000,
      persistent: true,
      priority: 3,
      appId: 'app',
      type: 't',
      expiration: '60000',
    });
    ch.sendToQueue(q, body('two'));
    await until(() => count(q) === 2);
    const m = await ch.get(q, { noAck: true });
    assert.ok(m !== false);
    assert.equal(m.fields.messageCount, 1);
    assert.equal(m.content.toString(), 'one');
    assert.deepEqual(m.properties.headers, headers);
    assert.equal(m.properties.contentType, 'text/plain');
    assert.equal(m.properties.timestamp, 1700000000);
    assert.equal(m.properties.deliveryMode, 2);
    assert.equal(m.properties.expiration, '60000');
  });

  test('a body larger than frame-max spans body frames and arrives whole', async () => {
    const c = await open(file.sy.url, { frameMax: 4096 });
    const ch = await channelOf(c);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    const big = Buffer.alloc(300_000, 7);
    big[299_999] = 9;
    ch.sendToQueue(q, big);
    await until(() => count(q) === 1);
    const m = await ch.get(q, { noAck: true });
    assert.ok(m !== false && m.content.equals(big));
    await c.close();
  });

  test('ack / nack / reject with multiple and requeue; unknown tag → 406', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    for (let i = 0; i < 6; i++) ch.sendToQueue(q, body(String(i)));
    await until(() => count(q) === 6);
    const got: amqp.ConsumeMessage[] = [];
    await ch.consume(q, (m) => m && got.push(m));
    await until(() => got.length === 6);
    ch.ack(got[1]!, true);
    ch.nack(got[2]!, false, true);
    ch.reject(got[3]!, false);
    ch.nack(got[5]!, true, false);
    await until(() => got.length === 7, 3000, 'requeued message redelivered');
    assert.equal(got[6]!.content.toString(), '2');
    assert.equal(got[6]!.fields.redelivered, true);
    ch.ack(got[6]!);
    await expectChannelError(async (c) => {
      await c.assertQueue('', { exclusive: true });
      c.ack({ fields: { deliveryTag: 99 } } as amqp.Message);
    }, 406);
  });

  test('basic.qos per consumer and global limit unacked deliveries', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    for (let i = 0; i < 10; i++) ch.sendToQueue(q, body(String(i)));
    await ch.prefetch(2);
    const a: amqp.ConsumeMessage[] = [];
    await ch.consume(q, (m) => m && a.push(m));
    await until(() => a.length === 2);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(a.length, 2, 'per-consumer prefetch 2');
    await ch.prefetch(3, true);
    const b: amqp.ConsumeMessage[] = [];
    await ch.consume(q, (m) => m && b.push(m));
    await until(() => b.length === 1);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(b.length, 1, 'global 3 leaves one for the second consumer');
    ch.ack(a[1]!, true);
    await until(() => a.length + b.length === 5);
  });

  test('recover requeues unacked deliveries as redelivered', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    ch.sendToQueue(q, body('r'));
    const got: amqp.ConsumeMessage[] = [];
    await ch.consume(q, (m) => m && got.push(m));
    await until(() => got.length === 1);
    await ch.recover();
    await until(() => got.length === 2);
    assert.equal(got[1]!.fields.redelivered, true);
  });

  test('consumer priority, exclusive consumer 403, cancel, and server cancel on queue delete', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('q.cancel', { durable: false })).queue;
    const low: string[] = [];
    const high: string[] = [];
    await ch.consume(q, (m) => m && low.push(m.content.toString()), { noAck: true, priority: 1 });
    await ch.consume(q, (m) => m && high.push(m.content.toString()), { noAck: true, priority: 10 });
    ch.sendToQueue(q, body('p'));
    await until(() => high.length === 1);
    assert.equal(low.length, 0);
    await expectChannelError((c) => c.consume(q, () => {}, { exclusive: true }), 403);
    let cancelledByServer = false;
    const other = await channelOf(file.conn);
    await other.consume(q, (m) => {
      if (m === null) cancelledByServer = true;
    });
    const { consumerTag } = await ch.consume(q, () => {});
    await ch.cancel(consumerTag);
    await other.deleteQueue(q);
    await until(() => cancelledByServer, 3000, 'basic.cancel from server');
  });

  test('mandatory unroutable → basic.return 312 before the confirm; immediate → 540 connection error', async () => {
    const ch = await confirmChannelOf(file.conn);
    const events: string[] = [];
    ch.on('return', (m: amqp.Message) =>
      events.push(`return ${(m.fields as { replyCode?: number }).replyCode ?? ''}${m.fields.routingKey}`),
    );
    await new Promise<void>((resolve, reject) =>
      ch.publish('amq.direct', 'nobody', body('x'), { mandatory: true }, (err) => {
        events.push('ack');
        err ? reject(err) : resolve();
      }),
    );
    assert.deepEqual(events, ['return 312nobody', 'ack']);
    // amqplib always sends immediate=false, so the raw client sends the flag.
    const raw = await RawClient.connect(file.sy.port);
    await raw.handshake();
    raw.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw.method('channel.open-ok');
    raw.send(1, {
      name: 'basic.publish',
      fields: { ticket: 0, exchange: 'amq.direct', routingKey: 'x', mandatory: false, immediate: true },
    });
    assert.equal(await raw.closeCode(), 540);
    raw.close();
  });

  test('immediate with its header and body in one write → 540, and the message reaches no queue', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('immediate.whole', { durable: false })).queue;
    const raw = await RawClient.connect(file.sy.port);
    await raw.handshake();
    raw.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw.method('channel.open-ok');
    // Method, header and body in one write: the broker reads them as one publish.
    const method = {
      name: 'basic.publish' as const,
      fields: { ticket: 0, exchange: '', routingKey: q, mandatory: false, immediate: true },
    };
    raw.write(encodeContent(1, method, { deliveryMode: 1 }, body('refused'), 131_072));
    assert.equal(await raw.closeCode(), 540);
    raw.close();
    // A probe through the shared connection: once it is answered the refused publish was handled.
    assert.equal((await ch.checkQueue(q)).messageCount, 0);
    assert.equal(count(q), 0);
    await ch.deleteQueue(q);
  });

  test('publish to a missing exchange closes the channel with 404', async () => {
    await expectChannelError(async (c) => c.publish('no.such.exchange', '', body('x')), 404);
  });

  test('confirms: ack in order; reject-publish overflow → nack', async () => {
    const ch = await confirmChannelOf(file.conn);
    const q = (
      await ch.assertQueue('', {
        exclusive: true,
        arguments: { 'x-max-length': 1, 'x-overflow': 'reject-publish' },
      })
    ).queue;
    const outcomes: string[] = [];
    const sent = [1, 2].map(
      (i) =>
        new Promise<void>((resolve) =>
          ch.sendToQueue(q, body(String(i)), {}, (err) => {
            outcomes.push(err ? `nack${i}` : `ack${i}`);
            resolve();
          }),
        ),
    );
    await Promise.all(sent);
    assert.deepEqual(outcomes, ['ack1', 'nack2']);
  });

  test('tx: publishes and acks wait for commit; rollback drops them', async () => {
    const ch = await channelOf(file.conn);
    const q = (await ch.assertQueue('', { exclusive: true })).queue;
    await txCall(ch, 'TxSelect');
    ch.sendToQueue(q, body('t1'));
    await txCall(ch, 'TxRollback');
    assert.equal(count(q), 0);
    ch.sendToQueue(q, body('t2'));
    assert.equal(count(q), 0);
    await txCall(ch, 'TxCommit');
    assert.equal(count(q), 1);
  });

  test('direct reply-to: request with reply_to, reply reaches the requester without a queue', async () => {
    const ch = await channelOf(file.conn);
    const server = await channelOf(file.conn);
    const rq = (await server.assertQueue('', { exclusive: true })).queue;
    await server.consume(
      rq,
      (m) => {
        if (m) server.publish('', m.properties.replyTo as string, body(`re:${m.content}`));
      },
      { noAck: true },
    );
    const replies: string[] = [];
    await ch.consume('amq.rabbitmq.reply-to', (m) => m && replies.push(m.content.toString()), {
      noAck: true,
    });
    ch.sendToQueue(rq, body('ping'), { replyTo: 'amq.rabbitmq.reply-to' });
    await until(() => replies.length === 1);
    assert.equal(replies[0], 're:ping');
    await expectChannelError(
      async (c) => c.sendToQueue(rq, body('x'), { replyTo: 'amq.rabbitmq.reply-to' }),
      406,
    );
  });
});

/** amqplib's channel API has no tx methods; its low-level rpc sends them by id (class << 16 | method). */
async function txCall(ch: amqp.Channel, method: 'TxSelect' | 'TxCommit' | 'TxRollback'): Promise<void> {
  const ids = { TxSelect: 10, TxCommit: 20, TxRollback: 30 } as const;
  const id = (90 << 16) | ids[method];
  const rpc = (ch as unknown as { rpc(m: number, f: object, r: number): Promise<unknown> }).rpc.bind(ch);
  await rpc(id, {}, id + 1);
}
