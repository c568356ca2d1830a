import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Broker } from '../../src/index.js';
import { silentLogger } from '../../src/shared/logger.js';
import { adminFetch, allPortsOff } from '../../testing/server-helpers.js';

interface Row {
  [key: string]: unknown;
  name?: string;
  vhost?: string;
  messages?: number;
  durable?: boolean;
  type?: string;
  source?: string;
  destination?: string;
  destination_type?: string;
  routing_key?: string;
}

interface Overview {
  product_name: string;
  object_totals: { queues: number };
  queue_totals: { messages_ready: number };
  message_stats: { publish: number };
  listeners: unknown[];
}

let broker: Broker;
let base: string;

async function getJson<T>(path: string): Promise<{ status: number; body: T }> {
  const res = await adminFetch(base + path);
  assert.match(res.headers.get('content-type') ?? '', /^application\/json/);
  return { status: res.status, body: (await res.json()) as T };
}

before(async () => {
  broker = await Broker.start({
    storage: 'memory',
    ...allPortsOff,
    httpPort: 'auto',
    logger: silentLogger(),
  });
  base = `http://127.0.0.1:${broker.ports.httpPort}`;
  const vhost = broker.client('/');
  vhost.declareExchange('orders', { type: 'topic', durable: true });
  vhost.declareQueue('orders.eu', { durable: false, arguments: { 'x-max-length': 10 } });
  vhost.bindQueue('orders.eu', 'orders', 'eu.#');
  const body = new TextEncoder().encode('o-1');
  await vhost.publish('orders', 'eu.fr', { body, properties: {} }).confirmed;
});

after(() => broker.stop());

describe('HTTP admin API', () => {
  test('GET /api/health answers 200 {"status":"ok"}', async () => {
    assert.deepEqual(await getJson('/api/health'), { status: 200, body: { status: 'ok' } });
  });

  test('GET /api/overview carries totals and the bound listeners', async () => {
    const { status, body } = await getJson<Overview>('/api/overview');
    assert.equal(status, 200);
    assert.equal(body.product_name, 'Switchyard');
    assert.ok(body.object_totals.queues >= 1);
    assert.equal(body.queue_totals.messages_ready, 1);
    assert.ok(body.message_stats.publish >= 1);
    assert.deepEqual(body.listeners, [
      { protocol: 'http', ip_address: '127.0.0.1', port: broker.ports.httpPort },
    ]);
  });
});

describe('HTTP admin API listings', () => {
  test('GET /api/queues, /api/exchanges, /api/bindings, /api/vhosts list what core holds', async () => {
    const queues = (await getJson<Row[]>('/api/queues')).body;
    const queue = queues.find((q) => q.name === 'orders.eu');
    assert.deepEqual(
      { vhost: queue?.vhost, messages: queue?.messages, durable: queue?.durable, type: queue?.type },
      { vhost: '/', messages: 1, durable: false, type: 'classic' },
    );
    const exchanges = (await getJson<Row[]>('/api/exchanges')).body;
    assert.deepEqual(
      exchanges.filter((e) => e.name === 'orders').map((e) => [e.type, e.durable]),
      [['topic', true]],
    );
    const bindings = (await getJson<Row[]>('/api/bindings/%2F')).body;
    const binding = bindings.find((b) => b.source === 'orders');
    assert.deepEqual(
      [binding?.destination, binding?.destination_type, binding?.routing_key],
      ['orders.eu', 'queue', 'eu.#'],
    );
    const vhosts = (await getJson<Row[]>('/api/vhosts')).body;
    assert.deepEqual(
      vhosts.map((v) => v.name),
      ['/'],
    );
  });

  test('unknown vhosts and paths answer 404, other methods 405', async () => {
    assert.equal((await getJson('/api/queues/nope')).status, 404);
    assert.equal((await getJson('/api/nothing')).status, 404);
    const res = await adminFetch(`${base}/api/queues`, { method: 'PATCH', body: '{}' });
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'GET, HEAD, PUT, POST, DELETE');
  });

  test('GET /metrics is Prometheus text with totals and per-queue series', async () => {
    const res = await fetch(`${base}/metrics`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    assert.match(text, /^# TYPE switchyard_queues gauge$/m);
    assert.match(text, /^switchyard_messages_ready 1$/m);
    assert.match(text, /^switchyard_ingress_bytes 0$/m);
    assert.match(text, /^# TYPE switchyard_login_hashes_total counter$/m);
    assert.match(text, /^switchyard_messages_published_total [1-9]\d*$/m);
    assert.match(text, /^switchyard_queue_messages\{vhost="\/",queue="orders\.eu"\} 1$/m);
    for (const line of text.trimEnd().split('\n')) {
      assert.match(line, /^(# (HELP|TYPE) \w+ .+|\w+(\{.*\})? [-\d.eE+NaInf]+)$/, line);
    }
  });
});
