/**
 * RabbitMQ's sample history on `/api/overview` (`msg_rates_age`, `msg_rates_incr`, `lengths_age`,
 * `lengths_incr`) and its `confirm` count (overview and channel): the picking of samples from core's
 * ring, and the routes with an amqplib publisher on a confirm channel.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { HttpError } from '../../src/admin/errors.js';
import { historyOf, sampled } from '../../src/admin/samples.js';
import { zeroCounts } from '../../src/core/entry/meters.js';
import { adminCall } from '../../testing/admin-api.js';
import { startTestBroker, type TestBroker } from '../../testing/broker.js';

type Row = Record<string, unknown>;

/** Samples 5 s apart, 10 more publishes and 2 more confirms each time. */
const ring = Array.from({ length: 13 }, (_, i) => ({
  atMs: 1_000_000 + i * 5000,
  counts: { ...zeroCounts(), published: i * 10, confirmed: i * 2 },
}));

describe('sample history', () => {
  test('one sample per increment over the age, newest first, with avg_rate and avg', () => {
    const history = historyOf('msg_rates_age=30&msg_rates_incr=10');
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

  test('no history without an age; bad or too fine values are refused', () => {
    assert.equal(historyOf('columns=name'), undefined);
    assert.deepEqual(historyOf('lengths_age=60&lengths_incr=5'), { ageS: 60, incrS: 5 });
    for (const bad of [
      'msg_rates_age=0',
      'msg_rates_age=x',
      'msg_rates_age=60&msg_rates_incr=-5',
      'msg_rates_age=100000&msg_rates_incr=1',
    ])
      assert.throws(
        () => historyOf(bad),
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
});
