/**
 * KubeMQ's channel activity as operators see it: counts per channel and type, subscribers that come
 * and go, and the bound on channels tracked (a client sending to ever new channels cannot grow it).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChannelActivity, channelsTrackedMax } from '../../src/protocols/kubemq/activity.js';
import { openCore } from '../../testing/core-helpers.js';

test('sent, subscribers and last activity per channel; the oldest idle channel goes past the bound', async () => {
  const { broker, client } = await openCore();
  let now = 1000;
  const activity = new ChannelActivity(() => now);
  try {
    activity.sent('events', 'a', 2);
    const left = activity.subscribed('events', 'a');
    const kept = activity.subscribed('commands', 'held');
    now = 2000;
    activity.sent('events', 'a');
    const row = () => activity.rows(client, '/').find((r) => r.name === 'a' && r.type === 'events');
    assert.deepEqual(
      { ...row(), vhost: '/' },
      { name: 'a', type: 'events', vhost: '/', messages: 3, sent: 3, subscribers: 1, lastActivityMs: 2000 },
    );
    left();
    left();
    assert.equal(row()?.subscribers, 0, 'leaving twice counts once');
    // A queue channel that does not exist in core holds nothing.
    activity.sent('queues', 'gone');
    assert.equal(activity.rows(client, '/').find((r) => r.name === 'gone')?.messages, 0);

    for (let i = 0; i < channelsTrackedMax; i++) activity.sent('events', `flood-${i}`);
    const rows = activity.rows(client, '/');
    assert.equal(rows.length, channelsTrackedMax);
    assert.ok(
      rows.some((r) => r.name === 'held'),
      'a channel with a subscriber stays',
    );
    assert.ok(!rows.some((r) => r.name === 'a'), 'the least recently active idle channel went first');
    kept();
  } finally {
    await broker.close();
  }
});
