/**
 * Listings page on the server as RabbitMQ's do: `?page=&page_size=&name=&use_regex=&sort=&sort_reverse=`
 * answers `{items, page, page_size, page_count, item_count, filtered_count, total_count}`; without
 * `page` the whole array.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Broker } from '../../src/index.js';
import { adminCall, type ListingPage } from '../../testing/admin-api.js';
import { startTestBroker } from '../../testing/broker.js';

let broker: Broker;
let base: string;

type Page = ListingPage;

before(async () => {
  const started = await startTestBroker({ listeners: ['http'] });
  broker = started.broker;
  base = started.url('http');
  const client = broker.client();
  for (let i = 0; i < 25; i++) client.declareQueue(`job.${String(i).padStart(2, '0')}`, { durable: true });
  for (const name of ['mail.in', 'mail.out']) client.declareQueue(name, { durable: true });
  for (let i = 0; i < 3; i++) client.publish('', 'mail.out', { body: new Uint8Array([i]), properties: {} });
});

after(() => broker.stop());

const page = async (query: string) => {
  const { status, json } = await adminCall(base, 'GET', `/api/queues?${query}`);
  assert.equal(status, 200);
  return json as Page;
};

test('a page of a listing, its counts, and the last page short', async () => {
  const second = await page('page=2&page_size=10&sort=name');
  assert.deepEqual(
    [
      second.page,
      second.page_size,
      second.page_count,
      second.item_count,
      second.filtered_count,
      second.total_count,
    ],
    [2, 10, 3, 10, 27, 27],
  );
  assert.equal(second.items[0]?.name, 'job.10');
  const last = await page('page=3&page_size=10&sort=name');
  assert.deepEqual(
    last.items.map((q) => q.name),
    ['job.20', 'job.21', 'job.22', 'job.23', 'job.24', 'mail.in', 'mail.out'],
  );
});

test('filtered by a substring or a regular expression, sorted on a number, reversed', async () => {
  assert.equal((await page('page=1&name=mail')).filtered_count, 2);
  const regex = await page(`page=1&use_regex=true&name=${encodeURIComponent('^job\\.0[0-4]$')}`);
  assert.equal(regex.filtered_count, 5);
  const busiest = await page('page=1&page_size=1&sort=messages&sort_reverse=true');
  assert.deepEqual([busiest.items[0]?.name, busiest.items[0]?.messages], ['mail.out', 3]);
});

test('without page the whole array; bad paging is 400', async () => {
  const { json } = await adminCall(base, 'GET', '/api/queues');
  assert.ok(Array.isArray(json) && json.length === 27);
  for (const query of ['page=0', 'page=1&page_size=501', 'page=x', 'page=1&use_regex=true&name=(']) {
    const { status } = await adminCall(base, 'GET', `/api/queues?${query}`);
    assert.equal(status, 400, query);
  }
});
