/**
 * A `/queue/send_batch` of 100,000 messages (5 MB of JSON, far under jsonBytesMax) held the event loop
 * 4.5–11.5 s (load 11–16) while every message was read, stored and answered. A batch of more than
 * `batchMessagesMax` (1,024) messages is now refused whole, and a JSON array of more than 10,000 items
 * before its items are read (a Tags map of more than 10,000 entries likewise); the messages of an
 * accepted batch start a slice at a time. Tags are bounded over the whole request (`requestTagsMax`):
 * a batch of 1,024 messages of 1,000 tags each, each message within the per-message bound, held the
 * loop 3.4–9.7 s. A JSON body's members and items are counted before it is parsed (`jsonValuesMax`):
 * parsing that batch's 11 MB alone held the loop 1–3.7 s.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { status } from '@grpc/grpc-js';
import { jsonValuesMax } from '../../../src/protocols/kubemq/json.js';
import { kubemqLimitsDefault } from '../../../src/protocols/kubemq/limits.js';
import { requestTagsMax } from '../../../src/protocols/kubemq/protobuf.js';
import {
  call,
  type KubemqTestBroker,
  rawClient,
  rest,
  startKubemqBroker,
} from '../../../testing/kubemq-harness.js';

let server: KubemqTestBroker;
before(async () => {
  server = await startKubemqBroker();
});
after(() => server.stop());

const batchOf = (count: number) => ({
  BatchID: 'big',
  Messages: Array.from({ length: count }, () => ({ ClientID: 'c', Channel: 'batch.q', Body: 'aGk=' })),
});

test('a send_batch of 100,000 messages is refused before its messages are read; the broker answers on', async () => {
  const hostile = rest(server.rest, '/queue/send_batch', batchOf(100_000));
  const ping = await rest(server.rest, '/ping');
  assert.equal(ping.status, 200);
  const refused = await hostile;
  assert.equal(refused.is_error, true);
  // Counted before the body is parsed: 100,000 messages hold 300,000 members.
  assert.match(refused.message, /more than 65536 members and items/);
});

test('members are counted outside strings: colons, commas and escaped quotes in values do not count', async () => {
  const tricky = `a:b,c\\",d:${':,'.repeat(jsonValuesMax)}`;
  const sent = await rest(server.rest, '/queue/send', {
    ClientID: 'c',
    Channel: 'batch.q',
    Body: 'aGk=',
    Metadata: tricky,
  });
  assert.equal(sent.is_error, false);
  const many = Object.fromEntries(Array.from({ length: jsonValuesMax + 1 }, (_, i) => [`k${i}`, 'v']));
  const refused = await rest(server.rest, '/queue/send', { ClientID: 'c', Channel: 'batch.q', Tags: many });
  assert.equal(refused.is_error, true);
  assert.match(refused.message, /more than 65536 members and items/);
});

test('nested arrays count, though no comma separates them', async () => {
  // 5,000,000 levels (10 MB) held the loop 4.5 s in JSON.parse with nothing counted.
  const depth = jsonValuesMax + 1;
  const nested = `{"Channel":"batch.q","Metadata":${'['.repeat(depth)}1${']'.repeat(depth)}}`;
  const refused = await rest(server.rest, '/queue/send', nested);
  assert.equal(refused.is_error, true);
  assert.match(refused.message, /more than 65536 members and items/);
});

test('a batch one past batchMessagesMax is refused whole; one of exactly it is sent', async () => {
  const max = kubemqLimitsDefault.batchMessagesMax;
  const past = await rest(server.rest, '/queue/send_batch', batchOf(max + 1));
  assert.equal(past.is_error, true);
  assert.match(past.message, new RegExp(`batch of ${max + 1} messages exceeds ${max}`));
  const sent = await rest<{ Results: unknown[] }>(server.rest, '/queue/send_batch', batchOf(max));
  assert.equal(sent.is_error, false);
  assert.equal(sent.data.Results.length, max);
});

test('a message of more than 10,000 tags is refused before its tags are read', async () => {
  const tags = (count: number) => Object.fromEntries(Array.from({ length: count }, (_, i) => [`k${i}`, 'v']));
  const message = (count: number) => ({ ClientID: 'c', Channel: 'batch.q', Body: 'aGk=', Tags: tags(count) });
  const refused = await rest(server.rest, '/queue/send', message(10_001));
  assert.equal(refused.is_error, true);
  assert.match(refused.message, /more than 10000 entries/);
  const sent = await rest(server.rest, '/queue/send', message(100));
  assert.equal(sent.is_error, false);
});

const tagged = (messages: number, tagsEach: number) =>
  Array.from({ length: messages }, (_, m) => ({
    ClientID: 'c',
    Channel: 'batch.tags',
    Body: 'aGk=',
    Tags: Object.fromEntries(Array.from({ length: tagsEach }, (_, i) => [`k${m}.${i}`, 'v'])),
  }));

test('REST: a batch whose tags sum past requestTagsMax is refused, each message within it; at the bound it is sent', async () => {
  const each = requestTagsMax / 4;
  const past = await rest(server.rest, '/queue/send_batch', { BatchID: 't', Messages: tagged(4, each + 1) });
  assert.equal(past.is_error, true);
  assert.match(past.message, /more than 10000 entries, over the request/);
  const sent = await rest<{ Results: Array<{ IsError: boolean }> }>(server.rest, '/queue/send_batch', {
    BatchID: 't',
    Messages: tagged(4, each),
  });
  assert.equal(sent.is_error, false);
  assert.deepEqual(
    sent.data.Results.map((r) => r.IsError ?? false),
    [false, false, false, false],
  );
});

test('gRPC: a SendQueueMessagesBatch whose tags sum past requestTagsMax fails INTERNAL; at the bound it is sent', async () => {
  const client = rawClient(server.address);
  const batch = (tagsEach: number) => ({
    BatchID: 'g',
    Messages: tagged(4, tagsEach).map((m) => ({ ...m, Body: Buffer.from('hi') })),
  });
  try {
    const each = requestTagsMax / 4;
    await assert.rejects(
      call(client, 'SendQueueMessagesBatch', batch(each + 1)),
      (err: { code?: number }) => {
        assert.equal(err.code, status.INTERNAL);
        return true;
      },
    );
    const sent = await call<{ Results: unknown[]; HaveErrors: boolean }>(
      client,
      'SendQueueMessagesBatch',
      batch(each),
    );
    assert.equal(sent.Results.length, 4);
    assert.equal(sent.HaveErrors, false);
  } finally {
    client.close();
  }
});
