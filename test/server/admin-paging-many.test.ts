/**
 * Paging a broker of 10,000 queues: the listings page on names before they build rows, and answer
 * what a listing of every row would have answered — declaration order, name filters (substring and
 * regular expression), sorts on name, messages and message stats across vhosts, bindings filtered by
 * their source, and policies that change between two pages.
 */
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import type { Broker } from '../../src/index.js';
import { adminCall, type ListingPage } from '../../testing/admin-api.js';
import { startTestBroker } from '../../testing/broker.js';

const queueCount = 10_000;
const queueName = (i: number) => `q.${String(i).padStart(5, '0')}`;

let broker: Broker;
let base: string;

type Page = ListingPage<{ name: string; vhost: string; messages: number; policy: string | null }>;

before(async () => {
  const started = await startTestBroker({ listeners: ['http'] });
  broker = started.broker;
  base = started.url('http');
  const client = broker.client();
  for (let i = 0; i < queueCount; i++) client.declareQueue(queueName(i), { durable: true });
  const loaded: Array<[number, number]> = [
    [1234, 3],
    [5000, 2],
    [9999, 1],
  ];
  for (const [i, messages] of loaded)
    for (let m = 0; m < messages; m++)
      client.publish('', queueName(i), { body: new Uint8Array([m]), properties: {} });
  client.bindQueue(queueName(42), 'amq.topic', 'jobs.#');
  await client.addVhost('other');
  broker.client('other').declareQueue('a.first', { durable: true });
});

after(() => broker.stop());

const page = async (query: string, resource = 'queues') => {
  const { status, json } = await adminCall(base, 'GET', `/api/${resource}/%2F?${query}`);
  assert.equal(status, 200, query);
  return json as Page;
};

test('pages in declaration order count every queue and build one page', async () => {
  const first = await page('page=1&page_size=100');
  assert.deepEqual(
    [first.page_count, first.item_count, first.filtered_count, first.total_count],
    [100, 100, queueCount, queueCount],
  );
  assert.equal(first.items[0]?.name, queueName(0));
  const last = await page('page=100&page_size=100');
  assert.equal(last.items.at(-1)?.name, queueName(queueCount - 1));
  const { status } = await adminCall(base, 'GET', '/api/queues/%2F?page=101&page_size=100');
  assert.equal(status, 400);
});

test('name filters: a case-insensitive substring and a regular expression', async () => {
  const substring = await page('page=1&name=Q.0099');
  assert.equal(substring.filtered_count, 10);
  assert.deepEqual(
    substring.items.map((q) => q.name),
    Array.from({ length: 10 }, (_, i) => queueName(990 + i)),
  );
  const regex = await page(`page=1&use_regex=true&name=${encodeURIComponent('^q\\.0999[0-4]$')}`);
  assert.deepEqual(
    regex.items.map((q) => q.name),
    [9990, 9991, 9992, 9993, 9994].map(queueName),
  );
});

test('sorted on name (reversed, a middle page), on messages and on message stats', async () => {
  const middle = await page('page=50&page_size=100&sort=name&sort_reverse=true');
  assert.equal(middle.items[0]?.name, queueName(queueCount - 1 - 49 * 100));
  assert.equal(middle.items.at(-1)?.name, queueName(queueCount - 50 * 100));
  const busiest = await page('page=1&page_size=3&sort=messages&sort_reverse=true');
  assert.deepEqual(
    busiest.items.map((q) => [q.name, q.messages]),
    [
      [queueName(1234), 3],
      [queueName(5000), 2],
      [queueName(9999), 1],
    ],
  );
  // Queues never published to have no stats: they sort after those that have.
  const published = await page('page=1&page_size=3&sort=message_stats.publish');
  assert.deepEqual(
    published.items.map((q) => q.name),
    [9999, 5000, 1234].map(queueName),
  );
  // A field only a built row has (the declared arguments) still sorts, the slow way.
  const byArguments = await page('page=1&page_size=1&sort=arguments.x-queue-type');
  assert.equal(byArguments.total_count, queueCount);
});

test('across vhosts a sort on name merges their queues', async () => {
  const { json } = await adminCall(base, 'GET', '/api/queues?page=1&page_size=2&sort=name');
  const all = json as Page;
  assert.equal(all.total_count, queueCount + 1);
  assert.deepEqual(
    all.items.map((q) => [q.vhost, q.name]),
    [
      ['other', 'a.first'],
      ['/', queueName(0)],
    ],
  );
});

test('bindings: every queue has its default one; the name filter matches the source', async () => {
  const bindings = await page('page=1&page_size=10', 'bindings');
  assert.equal(bindings.total_count, queueCount + 1);
  const byKey = (await page(
    'page=1&page_size=1&sort=routing_key&sort_reverse=true',
    'bindings',
  )) as unknown as {
    items: Array<{ routing_key: string }>;
  };
  assert.equal(byKey.items[0]?.routing_key, queueName(queueCount - 1));
  const topic = await page('page=1&name=amq.topic', 'bindings');
  assert.equal(topic.filtered_count, 1);
  assert.deepEqual(topic.items[0], {
    source: 'amq.topic',
    vhost: '/',
    destination: queueName(42),
    destination_type: 'queue',
    routing_key: 'jobs.#',
    arguments: {},
    properties_key: 'jobs.%23',
  });
});

test('a policy set or deleted shows on the next page asked', async () => {
  const query = 'page=1&page_size=10';
  assert.equal((await page(query)).items[0]?.policy, null);
  const put = await adminCall(base, 'PUT', '/api/policies/%2F/first-ten', {
    pattern: '^q\\.0000',
    definition: { 'max-length': 100 },
    'apply-to': 'queues',
  });
  assert.equal(put.status, 201);
  const set = await page(query);
  assert.deepEqual(
    set.items.map((q) => q.policy),
    Array.from({ length: 10 }, () => 'first-ten'),
  );
  assert.equal((await page('page=2&page_size=10')).items[0]?.policy, null);
  assert.equal((await adminCall(base, 'DELETE', '/api/policies/%2F/first-ten')).status, 204);
  assert.equal((await page(query)).items[0]?.policy, null);
});

/**
 * GET `url` with Basic guest credentials; `onFirstChunk` runs when the answer's first bytes arrive.
 * Resolves with the status, the headers and the whole body.
 */
function getStreamed(url: string, onFirstChunk: () => void) {
  return new Promise<{ status: number; chunked: boolean; body: string }>((resolve, reject) => {
    const auth = `Basic ${Buffer.from('guest:guest').toString('base64')}`;
    const req = request(url, { headers: { authorization: auth } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => {
        if (chunks.length === 0) onFirstChunk();
        chunks.push(chunk);
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          chunked: res.headers['transfer-encoding'] === 'chunked',
          body: Buffer.concat(chunks).toString('utf8'),
        }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

test('a listing without page is built while it is written: whole JSON, and a queue deleted meanwhile left out', async () => {
  // 10,000 rows built and serialised in one turn held every client 0.2–0.8 s (load 12), 100,000 for
  // seconds. Now a slice of rows at a time: the last queue, deleted once the first rows arrived, is
  // not built into the answer (it was, when the whole answer was made before its first byte).
  const last = queueName(queueCount - 1);
  const answer = await getStreamed(`${base}/api/queues/%2F`, () => broker.client().deleteQueue(last));
  assert.equal(answer.status, 200);
  assert.equal(answer.chunked, true);
  const rows = JSON.parse(answer.body) as Array<{ name: string }>;
  assert.equal(rows.length, queueCount - 1);
  assert.equal(rows[0]?.name, queueName(0));
  assert.ok(!rows.some((row) => row.name === last));
  broker.client().declareQueue(last, { durable: true });
});
