/**
 * The admin API's RabbitMQ routes on objects and messages: listings paged, sorted, filtered and cut to
 * columns; publish, get and purge; bindings between two objects; the node.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Broker } from '../../src/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { adminCall } from '../../testing/admin-api.js';
import { allPortsOff } from '../../testing/server-helpers.js';

type Row = Record<string, unknown>;
interface Page {
  items: Row[];
  page: number;
  page_size: number;
  page_count: number;
  filtered_count: number;
  item_count: number;
  total_count: number;
}

let broker: Broker;
let base: string;
const queuesCount = 10_000;

const call = (method: string, path: string, body?: unknown) => adminCall(base, method, path, body);

before(async () => {
  broker = await Broker.start({
    storage: 'memory',
    ...allPortsOff,
    httpPort: 'auto',
    logger: silentLogger(),
  });
  base = `http://127.0.0.1:${broker.ports.httpPort}`;
  const vhost = broker.client('/');
  await broker.client('/').addVhost('paged');
  const paged = broker.client('paged');
  for (let i = 0; i < queuesCount; i++)
    paged.declareQueue(`q-${String(i).padStart(5, '0')}`, { durable: false });
  vhost.declareExchange('orders', { type: 'topic', durable: true });
  vhost.declareQueue('orders.eu', { durable: false });
});

after(() => broker.stop());

describe('listings as RabbitMQ pages them', () => {
  test('10,000 queues: page 3 of 500 is q-01000…q-01499, with the counts', async () => {
    const { status, json } = await call('GET', '/api/queues/paged?page=3&page_size=500');
    assert.equal(status, 200);
    const page = json as Page;
    assert.deepEqual(
      { ...page, items: undefined },
      {
        items: undefined,
        page: 3,
        page_size: 500,
        page_count: 20,
        filtered_count: queuesCount,
        item_count: 500,
        total_count: queuesCount,
      },
    );
    assert.equal(page.items[0]?.['name'], 'q-01000');
    assert.equal(page.items[499]?.['name'], 'q-01499');
  });

  test('sort_reverse, a name filter (plain and regex) and columns', async () => {
    const reversed = (await call('GET', '/api/queues/paged?page=1&page_size=2&sort=name&sort_reverse=true'))
      .json as Page;
    assert.deepEqual(
      reversed.items.map((r) => r['name']),
      ['q-09999', 'q-09998'],
    );
    const filtered = (await call('GET', '/api/queues/paged?page=1&name=q-0999&columns=name,messages'))
      .json as Page;
    assert.equal(filtered.filtered_count, 10);
    assert.deepEqual(filtered.items[0], { name: 'q-09990', messages: 0 });
    const regex = (
      await call('GET', '/api/queues/paged?name=%5Eq-0000%5B12%5D%24&use_regex=true&columns=name')
    ).json as Row[];
    assert.deepEqual(regex, [{ name: 'q-00001' }, { name: 'q-00002' }]);
  });

  test('dotted sort and column keys reach into nested objects', async () => {
    const rows = (await call('GET', '/api/overview?columns=object_totals.queues,product_name')).json as Row;
    assert.deepEqual(rows, { object_totals: { queues: queuesCount + 1 }, product_name: 'Switchyard' });
  });

  test('a page past the end and a bad page_size are 400', async () => {
    assert.equal((await call('GET', '/api/queues/paged?page=21&page_size=500')).status, 400);
    assert.equal((await call('GET', '/api/queues/paged?page=1&page_size=501')).status, 400);
    assert.equal((await call('GET', '/api/queues/paged?name=(&use_regex=true')).status, 400);
  });
});

describe('messages through the admin API', () => {
  test('publish → routed, get with each ackmode, purge', async () => {
    await call('PUT', '/api/queues/%2F/inbox', { durable: false });
    const sent = await call('POST', '/api/exchanges/%2F/amq.default/publish', {
      properties: { delivery_mode: 2, headers: { trace: 'a-1' }, content_type: 'text/plain' },
      routing_key: 'inbox',
      payload: 'hello',
      payload_encoding: 'string',
    });
    assert.deepEqual(sent, { status: 200, json: { routed: true } });
    const binary = await call('POST', '/api/exchanges/%2F/amq.default/publish', {
      properties: {},
      routing_key: 'inbox',
      payload: Buffer.from([0xff, 0x00]).toString('base64'),
      payload_encoding: 'base64',
    });
    assert.deepEqual(binary.json, { routed: true });
    const lost = await call('POST', '/api/exchanges/%2F/orders/publish', {
      properties: {},
      routing_key: 'nowhere',
      payload: 'x',
      payload_encoding: 'string',
    });
    assert.deepEqual(lost.json, { routed: false });

    const peek = (
      await call('POST', '/api/queues/%2F/inbox/get', {
        count: 5,
        ackmode: 'ack_requeue_true',
        encoding: 'auto',
      })
    ).json as Row[];
    assert.equal(peek.length, 2);
    assert.deepEqual(peek[0], {
      payload_bytes: 5,
      redelivered: false,
      exchange: '',
      routing_key: 'inbox',
      message_count: 1,
      properties: { content_type: 'text/plain', delivery_mode: 2, headers: { trace: 'a-1' } },
      payload: 'hello',
      payload_encoding: 'string',
    });
    assert.equal(peek[1]?.['payload_encoding'], 'base64');
    assert.equal(peek[1]?.['payload'], '/wA=');

    const again = (
      await call('POST', '/api/queues/%2F/inbox/get', {
        count: 1,
        ackmode: 'ack_requeue_false',
        encoding: 'auto',
        truncate: 2,
      })
    ).json as Row[];
    assert.deepEqual([again[0]?.['payload'], again[0]?.['redelivered']], ['he', true]);
    const queue = (await call('GET', '/api/queues/%2F/inbox')).json as Row;
    assert.equal(queue['messages'], 1);
    const stats = queue['message_stats'] as Row;
    assert.deepEqual(
      [stats['publish'], stats['get'], stats['deliver_get'], stats['redeliver'], stats['ack']],
      [2, 3, 3, 1, 1],
    );
    assert.equal(typeof (stats['publish_details'] as Row)['rate'], 'number');
    const overview = (await call('GET', '/api/overview')).json as Row;
    assert.equal(typeof ((overview['message_stats'] as Row)['deliver_get_details'] as Row)['rate'], 'number');
    assert.equal((await call('DELETE', '/api/queues/%2F/inbox/contents')).status, 204);
    assert.equal(((await call('GET', '/api/queues/%2F/inbox')).json as Row)['messages'], 0);
    assert.equal(
      (await call('POST', '/api/queues/%2F/inbox/get', { count: 1, ackmode: 'nope' })).status,
      400,
    );
    assert.equal((await call('POST', '/api/queues/%2F/missing/get', { count: 1 })).status, 404);
  });
});

describe('bindings between two objects', () => {
  test('POST answers 201 with its location; GET and DELETE by properties key', async () => {
    const made = await adminCallWithLocation('/api/bindings/%2F/e/orders/q/orders.eu', {
      routing_key: 'eu.#',
      arguments: {},
    });
    assert.equal(made.status, 201);
    assert.equal(made.location, '/api/bindings/%2F/e/orders/q/orders.eu/eu.%2523');
    const listed = (await call('GET', '/api/bindings/%2F/e/orders/q/orders.eu')).json as Row[];
    assert.deepEqual(
      listed.map((b) => [b['routing_key'], b['properties_key']]),
      [['eu.#', 'eu.%23']],
    );
    const source = (await call('GET', '/api/exchanges/%2F/orders/bindings/source')).json as Row[];
    assert.equal(source.length, 1);
    const ofQueue = (await call('GET', '/api/queues/%2F/orders.eu/bindings')).json as Row[];
    assert.deepEqual(
      ofQueue.map((b) => b['source']),
      ['', 'orders'],
    );
    assert.equal((await call('GET', '/api/bindings/%2F/e/orders/q/orders.eu/eu.%2523')).status, 200);
    assert.equal((await call('DELETE', '/api/bindings/%2F/e/orders/q/orders.eu/eu.%2523')).status, 204);
    assert.equal((await call('GET', '/api/bindings/%2F/e/orders/q/orders.eu/eu.%2523')).status, 404);
  });
});

describe('the node', () => {
  test('/api/nodes lists one running node; /api/nodes/{name} is it', async () => {
    const nodes = (await call('GET', '/api/nodes')).json as Row[];
    assert.equal(nodes.length, 1);
    const [one] = nodes;
    assert.equal(one?.['running'], true);
    for (const field of ['mem_used', 'sockets_used', 'proc_used', 'uptime'])
      assert.equal(typeof one?.[field], 'number', field);
    const named = await call('GET', `/api/nodes/${encodeURIComponent(String(one?.['name']))}`);
    assert.equal((named.json as Row)['name'], one?.['name']);
    assert.equal((await call('GET', '/api/nodes/nobody@nowhere')).status, 404);
  });
});

async function adminCallWithLocation(path: string, body: unknown) {
  const res = await fetch(base + path, {
    method: 'POST',
    body: JSON.stringify(body),
    headers: {
      'content-type': 'application/json',
      authorization: `Basic ${Buffer.from('guest:guest').toString('base64')}`,
    },
  });
  await res.text();
  return { status: res.status, location: res.headers.get('location') };
}
