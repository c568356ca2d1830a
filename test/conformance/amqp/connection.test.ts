import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import {
  encodeContent,
  encodeMethodFrame,
  type FieldValue,
  fieldEntriesMax,
  protocolHeader,
} from '../../../src/protocols/amqp/codec/index.js';
import {
  channelOf,
  open,
  RawClient,
  startAmqpBroker,
  type TestBroker,
  until,
} from '../../../testing/amqp-helpers.js';

let sy: TestBroker;
before(async () => {
  sy = await startAmqpBroker();
});
after(async () => {
  await sy.stop();
});

describe('AMQP connection', () => {
  test('server properties carry the capabilities clients check, and tune offers RabbitMQ defaults', async () => {
    const raw = await RawClient.connect(sy.port);
    try {
      raw.write(protocolHeader);
      const start = await raw.method('connection.start');
      assert.ok(start.name === 'connection.start');
      const props = start.fields.serverProperties as Record<string, unknown>;
      const caps = props['capabilities'] as Record<string, unknown>;
      for (const cap of [
        'publisher_confirms',
        'exchange_exchange_bindings',
        'basic.nack',
        'consumer_cancel_notify',
        'connection.blocked',
        'authentication_failure_close',
        'per_consumer_qos',
        'direct_reply_to',
      ]) {
        assert.equal(caps[cap], true, cap);
      }
      assert.equal(Buffer.from(start.fields.mechanisms).toString(), 'PLAIN AMQPLAIN');
      const response = Buffer.from('\0guest\0guest');
      raw.send(0, {
        name: 'connection.start-ok',
        fields: { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' },
      });
      const tune = await raw.method('connection.tune');
      assert.ok(tune.name === 'connection.tune');
      assert.deepEqual(tune.fields, { channelMax: 2047, frameMax: 131072, heartbeat: 60 });
    } finally {
      raw.close();
    }
  });

  test('a wrong protocol header is answered with AMQP 0-9-1 and the socket closed', async () => {
    const raw = await RawClient.connect(sy.port);
    raw.write(Buffer.from('AMQP\x01\x01\x00\x0a'));
    await until(() => raw.closed);
    assert.deepEqual([...raw.raw], [...protocolHeader]);
  });

  test('PLAIN and AMQPLAIN logins work; a wrong password gets 403 ACCESS_REFUSED', async () => {
    for (const mechanism of [
      amqp.credentials.plain('guest', 'guest'),
      amqp.credentials.amqplain('guest', 'guest'),
    ]) {
      const c = await open(sy.url, { credentials: mechanism });
      await c.close();
    }
    await assert.rejects(amqp.connect(`amqp://guest:wrong@127.0.0.1:${sy.port}`), /ACCESS_REFUSED|403/);
  });

  test('an unknown vhost is refused with 530 NOT_ALLOWED', async () => {
    await assert.rejects(amqp.connect(`${sy.url}/nowhere`), /NOT_ALLOWED|530|ConnectionClose/);
  });

  test('client heartbeat choice is taken, 0 included', async () => {
    for (const heartbeat of [0, 5]) {
      const c = await open(sy.url, { heartbeat });
      const ch = await channelOf(c);
      await ch.assertQueue('', { exclusive: true });
      await c.close();
    }
  });

  test('a client that stops sending is dropped after two heartbeat intervals', async () => {
    const raw = await RawClient.connect(sy.port);
    raw.write(protocolHeader);
    await raw.method('connection.start');
    const response = Buffer.from('\0guest\0guest');
    raw.send(0, {
      name: 'connection.start-ok',
      fields: { clientProperties: {}, mechanism: 'PLAIN', response, locale: 'en_US' },
    });
    await raw.method('connection.tune');
    raw.send(0, { name: 'connection.tune-ok', fields: { channelMax: 0, frameMax: 131072, heartbeat: 1 } });
    raw.send(0, { name: 'connection.open', fields: { virtualHost: '/', capabilities: '', insist: false } });
    await raw.method('connection.open-ok');
    await until(() => raw.frames.some((f) => f.kind === 'heartbeat'), 3000, 'server heartbeat');
    await until(() => raw.closed, 5000, 'dead peer detection');
  });

  test('a malformed frame closes only that connection with 501; others keep working', async () => {
    const good = await open(sy.url);
    const ch = await channelOf(good);
    const raw = await RawClient.connect(sy.port);
    await raw.handshake();
    const frame = Buffer.from(
      encodeMethodFrame(1, { name: 'channel.open', fields: { outOfBand: '' } }, 131072),
    );
    frame[frame.length - 1] = 0x00;
    raw.write(frame);
    assert.equal(await raw.closeCode(), 501);
    const q = await ch.assertQueue('', { exclusive: true });
    assert.ok(q.queue.startsWith('amq.gen-'));
    raw.close();
    await good.close();
  });

  test('an oversized frame is refused with 501 FRAME_ERROR', async () => {
    const raw = await RawClient.connect(sy.port);
    await raw.handshake();
    const header = Buffer.alloc(7);
    header.writeUInt8(1, 0);
    header.writeUInt16BE(1, 1);
    header.writeUInt32BE(10_000_000, 3);
    raw.write(header);
    assert.equal(await raw.closeCode(), 501);
    raw.close();
  });

  test('headers of more entries than fieldEntriesMax close the connection with 502; others keep working', async () => {
    const good = await open(sy.url);
    const ch = await channelOf(good);
    const raw = await RawClient.connect(sy.port);
    await raw.handshake();
    raw.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw.method('channel.open-ok');
    const method = {
      name: 'basic.publish' as const,
      fields: { ticket: 0, exchange: '', routingKey: 'nowhere', mandatory: false, immediate: false },
    };
    // 130,000 one-octet values fit one 128 KiB frame: RabbitMQ reads them all; this broker stops at the bound.
    const headers = { a: Array.from({ length: fieldEntriesMax * 13 }, (): FieldValue => null) };
    raw.write(encodeContent(1, method, { headers }, Buffer.from('x'), 131_072));
    const close = await raw.method('connection.close');
    assert.ok(close.name === 'connection.close');
    assert.equal(close.fields.replyCode, 502);
    assert.match(close.fields.replyText, /more than 10000 entries/);
    // Ordinary headers still pass, from amqplib.
    const q = await ch.assertQueue('', { exclusive: true });
    const headersSent = { n: 1, list: [1, 'two'], t: { deep: true } };
    ch.sendToQueue(q.queue, Buffer.from('h'), { headers: headersSent });
    const got: amqp.GetMessage[] = [];
    const take = async () => {
      const message = await ch.get(q.queue);
      if (message !== false) got.push(message);
      return got.length > 0;
    };
    await until(take, 3000, 'the message with headers');
    assert.deepEqual(got[0]?.properties.headers, headersSent);
    raw.close();
    await good.close();
  });

  test('wrong-state frames: content without publish is 505, a method on an unopened channel 504', async () => {
    const raw = await RawClient.connect(sy.port);
    await raw.handshake();
    raw.send(3, {
      name: 'queue.declare',
      fields: {
        ticket: 0,
        queue: 'x',
        passive: false,
        durable: false,
        exclusive: false,
        autoDelete: false,
        noWait: false,
        arguments: {},
      },
    });
    assert.equal(await raw.closeCode(), 504);
    raw.close();
    const raw2 = await RawClient.connect(sy.port);
    await raw2.handshake();
    raw2.send(1, { name: 'channel.open', fields: { outOfBand: '' } });
    await raw2.method('channel.open-ok');
    raw2.write(Uint8Array.of(3, 0, 1, 0, 0, 0, 1, 0x41, 0xce));
    assert.equal(await raw2.closeCode(), 505);
    raw2.close();
  });

  test('client close handshake releases the connection; exclusive queues go with it', async () => {
    const c1 = await open(sy.url);
    const ch1 = await channelOf(c1);
    const q = (await ch1.assertQueue('', { exclusive: true })).queue;
    await c1.close();
    const c2 = await open(sy.url);
    const ch2 = await channelOf(c2);
    await until(
      () =>
        !sy.broker
          .client()
          .listQueues()
          .some((x) => x.name === q),
    );
    await assert.rejects(ch2.checkQueue(q), /404/);
    await c2.close();
  });

  test('update-secret is answered', async () => {
    const c = await open(sy.url);
    await (c as unknown as { updateSecret(s: Buffer, r: string): Promise<void> }).updateSecret(
      Buffer.from('new'),
      'rotate',
    );
    await c.close();
  });
});
