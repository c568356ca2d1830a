/**
 * Message rates: counters per queue, exchange, vhost, connection and in total, sampled every 5 s on
 * the broker's clock into `*_details.rate` (RabbitMQ's `message_stats`).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConnectionDescription } from '../../src/core/api.js';
import { sampleIntervalMs } from '../../src/core/entry/rates.js';
import { message, openCore, settle } from '../../testing/core-helpers.js';

test("rates are the counters' growth per second over the last sampling interval", async () => {
  const { broker, client, clock } = await openCore();
  try {
    client.declareExchange('orders', { type: 'fanout' });
    client.declareQueue('audit', { durable: false });
    client.bindQueue('audit', 'orders', '');
    await settle();
    const publish = (count: number) => {
      for (let i = 0; i < count; i++) client.publish('orders', '', message(`m-${i}`));
    };
    publish(5);
    clock.advance(sampleIntervalMs);
    publish(20);
    for (let i = 0; i < 4; i++) {
      const delivery = client.get('audit', { noAck: false, owner: 'reader' });
      assert.ok(delivery !== undefined);
      client.ack('audit', delivery.id);
    }
    clock.advance(sampleIntervalMs);

    const [queue] = client.readMeters('queue');
    assert.deepEqual(queue?.counts, {
      published: 25,
      delivered: 4,
      redelivered: 0,
      acked: 4,
      got: 4,
      confirmed: 0,
    });
    assert.deepEqual(queue?.rates, {
      published: 4,
      delivered: 0.8,
      redelivered: 0,
      acked: 0.8,
      got: 0.8,
      confirmed: 0,
    });
    const exchange = client.readMeters('exchange').find((row) => row.name === 'orders');
    assert.equal(exchange?.rates.published, 4);
    assert.equal(client.readMeters('vhost')[0]?.counts.published, 25);
    assert.equal(client.readMeters('total')[0]?.rates.published, 4);
    assert.equal(client.meterSamples().length, 2);

    // Nothing happens in the next interval: the rates fall to zero, the counts stay.
    clock.advance(sampleIntervalMs);
    const [idle] = client.readMeters('queue');
    assert.equal(idle?.rates.published, 0);
    assert.equal(idle?.counts.published, 25);
  } finally {
    await broker.close();
  }
});

/** A front end's description of a connection, as `connection.open` takes it. */
function description(name: string): ConnectionDescription {
  return {
    name,
    protocol: 'AMQP 0-9-1',
    peerHost: 'peer',
    peerPort: 1,
    host: 'local',
    port: 2,
    tls: false,
    connectedAtMs: 0,
    clientId: () => undefined,
    traffic: () => ({ recvOct: 0, sendOct: 0, sendPend: 0 }),
    channels: () => [],
    close: () => {},
  };
}

test("a connection's counters are its own commands', kept while it is open", async () => {
  const { broker, clock } = await openCore();
  try {
    const ctx = {
      principal: { user: 'guest', tags: ['administrator'] },
      vhost: '/',
      protocol: 'amqp' as const,
      peerAddress: '',
    };
    const a = broker.connect({ ...ctx, connectionId: 'a' });
    a.openConnection(description('peer:1 -> local:2'));
    a.declareQueue('q', { durable: false });
    await settle();
    for (let i = 0; i < 3; i++) a.publish('', 'q', message('x'));
    clock.advance(sampleIntervalMs);
    const rows = a.readMeters('connection');
    assert.deepEqual(
      rows.map((r) => [r.name, r.counts.published]),
      [['a', 3]],
    );
    // Confirms a front end sent its publisher count for the connection, the vhost and the broker.
    a.countConfirms(3);
    clock.advance(sampleIntervalMs);
    assert.equal(a.readMeters('connection')[0]?.counts.confirmed, 3);
    assert.equal(a.readMeters('vhost')[0]?.counts.confirmed, 3);
    assert.equal(a.readMeters('total')[0]?.rates.confirmed, 3 / (sampleIntervalMs / 1000));
    a.closeConnection();
    assert.deepEqual(a.readMeters('connection'), []);
  } finally {
    await broker.close();
  }
});

test('an exchange declared again after its delete is counted from zero', async () => {
  const { broker, client } = await openCore();
  try {
    const published = () => client.readMeters('exchange').find((row) => row.name === 'fan')?.counts.published;
    client.declareExchange('fan', { type: 'fanout' });
    for (let i = 0; i < 2; i++) client.publish('fan', '', message('x'));
    assert.equal(published(), 2);
    client.deleteExchange('fan');
    await settle();
    assert.equal(published(), undefined, 'forgotten with its exchange');
    client.declareExchange('fan', { type: 'fanout' });
    client.publish('fan', '', message('y'));
    assert.equal(published(), 1, 'the new exchange has its own counter');
  } finally {
    await broker.close();
  }
});

test('a queue declared again after its delete is counted from zero, by the same publisher', async () => {
  const { broker, client } = await openCore();
  try {
    const published = () => client.readMeters('queue').find((row) => row.name === 'q')?.counts.published;
    client.declareQueue('q', { durable: false });
    await settle();
    for (let i = 0; i < 3; i++) client.publish('', 'q', message('x'));
    assert.equal(published(), 3);
    client.deleteQueue('q');
    await settle();
    assert.equal(published(), undefined, 'forgotten with its queue');
    client.declareQueue('q', { durable: false });
    await settle();
    client.publish('', 'q', message('y'));
    assert.equal(published(), 1, 'the new queue has its own counter');
    assert.equal(client.readMeters('vhost')[0]?.counts.published, 4);
    assert.equal(client.readMeters('exchange').find((row) => row.name === '')?.counts.published, 4);
  } finally {
    await broker.close();
  }
});

test('a connection sampled at zero gets its rate from its first count on', async () => {
  const { broker, clock } = await openCore();
  try {
    const open = (connectionId: string) => {
      const ctx = { principal: { user: 'guest', tags: [] }, vhost: '/', protocol: 'amqp' as const };
      const client = broker.connect({ ...ctx, peerAddress: '', connectionId });
      client.openConnection(description(connectionId));
      return client;
    };
    const busy = open('busy');
    open('quiet');
    busy.declareQueue('q', { durable: false });
    await settle();
    // Two samples with both connections' counters at zero (they share one sample), then ten publishes.
    clock.advance(sampleIntervalMs);
    clock.advance(sampleIntervalMs);
    for (let i = 0; i < 10; i++) busy.publish('', 'q', message(`m-${i}`));
    clock.advance(sampleIntervalMs);
    const rates = () => busy.readMeters('connection').map((row) => [row.name, row.rates.published]);
    assert.deepEqual(rates(), [
      ['busy', 2],
      ['quiet', 0],
    ]);
    clock.advance(sampleIntervalMs);
    assert.deepEqual(rates(), [
      ['busy', 0],
      ['quiet', 0],
    ]);
  } finally {
    await broker.close();
  }
});
