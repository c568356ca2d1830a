/**
 * RabbitMQ's sample history on `/api/overview` (`msg_rates_age`, `msg_rates_incr`, `lengths_age`,
 * `lengths_incr`) and its `confirm` count (overview and channel): the picking of samples from core's
 * ring, and the routes with an amqplib publisher on a confirm channel.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { HttpError } from '../../src/admin/errors.js';
import { historiesOf, queueTotals, sampled } from '../../src/admin/samples.js';
import type { BrokerCore } from '../../src/core/broker.js';
import { zeroCounts } from '../../src/core/entry/meters.js';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';

type Row = Record<string, unknown>;

/** Samples 5 s apart, 10 more publishes, 2 more confirms and 5 more messages ready each time. */
const ring = Array.from({ length: 13 }, (_, i) => ({
  atMs: 1_000_000 + i * 5000,
  counts: { ...zeroCounts(), published: i * 10, confirmed: i * 2 },
  lengths: { ready: i * 5, unacked: 3 },
}));

describe('sample history', () => {
  test('one sample per increment over the age, newest first, with avg_rate and avg', () => {
    const history = historiesOf('msg_rates_age=30&msg_rates_incr=10').rates;
    assert.deepEqual(history, { ageS: 30, incrS: 10 });
    const stats = sampled({ publish: 120, publish_details: { rate: 2 } }, ring, history!);
    const publish = stats['publish_details'] as Row;
    assert.equal(publish['rate'], 2, 'the rate stays');
    assert.deepEqual(publish['samples'], [
      { sample: 120, timestamp: 1_060_000 },
      { sample: 100, timestamp: 1_050_000 },
      { sample: 80, timestamp: 1_040_000 },
      { sample: 60, timestamp: 1_030_000 },
    ]);
    assert.equal(publish['avg_rate'], 2);
    assert.equal((stats['confirm_details'] as Row)['avg_rate'], 0.4);
    assert.deepEqual(sampled({}, [], history!)['ack_details'], { samples: [], avg_rate: 0, avg: 0 });
  });

  test('queue totals: the rate of change always, samples of the lengths when asked', () => {
    const totals = { messages: 63, messages_ready: 60, messages_unacknowledged: 3 };
    const plain = queueTotals(totals, ring);
    assert.equal(plain['messages'], 63, 'the counts stay');
    assert.deepEqual(plain['messages_details'], { rate: 1 });
    assert.deepEqual(plain['messages_ready_details'], { rate: 1 });
    assert.deepEqual(plain['messages_unacknowledged_details'], { rate: 0 });
    assert.deepEqual(queueTotals(totals, [])['messages_details'], { rate: 0 }, 'no samples yet');
    const history = historiesOf('lengths_age=10&lengths_incr=5').lengths!;
    const ready = queueTotals(totals, ring, history)['messages_ready_details'] as Row;
    assert.deepEqual(ready['samples'], [
      { sample: 60, timestamp: 1_060_000 },
      { sample: 55, timestamp: 1_055_000 },
      { sample: 50, timestamp: 1_050_000 },
    ]);
    assert.equal(ready['avg_rate'], 1);
    assert.equal(ready['avg'], 55);
    assert.equal(ready['rate'], 1);
  });

  test('no history without an age; bad or too fine values are refused', () => {
    assert.deepEqual(historiesOf('columns=name'), {});
    assert.deepEqual(historiesOf('lengths_age=60&lengths_incr=5'), {
      rates: { ageS: 60, incrS: 5 },
      lengths: { ageS: 60, incrS: 5 },
    });
    assert.deepEqual(historiesOf('lengths_age=60&lengths_incr=5&msg_rates_age=30&msg_rates_incr=10'), {
      rates: { ageS: 30, incrS: 10 },
      lengths: { ageS: 60, incrS: 5 },
    });
    for (const bad of [
      'msg_rates_age=0',
      'msg_rates_age=x',
      'msg_rates_age=60&msg_rates_incr=-5',
      'msg_rates_age=100000&msg_rates_incr=1',
      'lengths_age=100000&lengths_incr=1',
    ])
      assert.throws(
        () => historiesOf(bad),
        (err: unknown) => err instanceof HttpError && err.status === 400,
        bad,
      );
  });
});

describe('the overview', () => {
  let server: TestBroker;
  before(async () => {
    server = await startTestBroker({ listeners: ['amqp', 'http'] });
  });
  after(() => server.stop());

  test('counts publisher confirms and answers the sample history', async () => {
    const connection = await amqp.connect(server.url('amqp'));
    try {
      const channel = await connection.createConfirmChannel();
      await channel.assertQueue('confirmed', { durable: false });
      for (let i = 0; i < 5; i++) channel.sendToQueue('confirmed', Buffer.from(`m${i}`));
      await channel.waitForConfirms();
      const [row] = (await adminCall(server.url('http'), 'GET', '/api/channels')).json as Row[];
      assert.equal((row?.['message_stats'] as Row | undefined)?.['confirm'], 5, 'the channel confirmed them');
    } finally {
      await connection.close();
    }
    const base = server.url('http');
    const overview = (await adminCall(base, 'GET', '/api/overview')).json as Row;
    const stats = overview['message_stats'] as Row;
    assert.equal(stats['confirm'], 5);
    assert.equal(typeof (stats['confirm_details'] as Row)['rate'], 'number');
    const sampledAnswer = await adminCall(base, 'GET', '/api/overview?msg_rates_age=60&msg_rates_incr=5');
    assert.equal(sampledAnswer.status, 200);
    const details = ((sampledAnswer.json as Row)['message_stats'] as Row)['publish_details'] as Row;
    assert.ok(Array.isArray(details['samples']));
    assert.equal((await adminCall(base, 'GET', '/api/overview?msg_rates_age=0')).status, 400);
  });

  test('answers queue_totals with rates and, with lengths_age, samples of the messages queued', async () => {
    const base = server.url('http');
    // The 5 confirmed messages wait in their queue; two samples give the lengths a rate.
    // The in-process broker's core is a BrokerCore: its sampler is taken now instead of waiting 10 s.
    const { rates } = server.broker.core as BrokerCore;
    rates.sample();
    rates.sample();
    const overview = (await adminCall(base, 'GET', '/api/overview')).json as Row;
    const totals = overview['queue_totals'] as Row;
    assert.equal(totals['messages_ready'], 5);
    assert.deepEqual(totals['messages_details'], { rate: 0 });
    assert.equal('samples' in (totals['messages_ready_details'] as Row), false, 'no samples unasked');
    const answer = await adminCall(base, 'GET', '/api/overview?lengths_age=60&lengths_incr=5');
    const sampledTotals = (answer.json as Row)['queue_totals'] as Row;
    for (const name of ['messages', 'messages_ready', 'messages_unacknowledged']) {
      const details = sampledTotals[`${name}_details`] as Row;
      const samples = details['samples'] as Row[];
      assert.ok(samples.length >= 1, name);
      assert.equal(samples[0]?.['sample'], name === 'messages_unacknowledged' ? 0 : 5, name);
      assert.equal(typeof details['avg'], 'number');
      assert.equal(typeof details['avg_rate'], 'number');
    }
  });
});
