/**
 * A SUBSCRIBE of 100,000 filters (under 1 MB, within the default packet size) held the event loop for
 * 2–4 s (load 16–19) while each filter was read, checked and answered, 1,000 of them subscribed and the
 * rest refused one by one with 0x97. A SUBSCRIBE or UNSUBSCRIBE naming more filters than a session may
 * hold (`subscriptionsMax`, 1,000) is now refused whole, before its filters are read: DISCONNECT 0x97
 * Quota exceeded in v5 (§4.13: a server may end a connection for an imposed limit), the connection
 * closed in 3.1.1, which has no reason codes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mqttLimitsDefault } from '../../../src/protocols/mqtt/limits.js';
import {
  closeAll,
  connect,
  disconnectReason,
  type MqttTestBroker,
  rawClient,
  startMqttBroker,
} from '../../../testing/mqtt-harness.js';

const filtersMax = mqttLimitsDefault.subscriptionsMax;
const hostileFilters = 100_000;
/** Generous beside a refused packet's milliseconds; the same packet held main's loop for seconds. */
const othersServedWithinMs = 2000;

/** Short filters: 100,000 of them fit in the default 1 MiB packet (988,897 bytes). */
const filters = (count: number) => Array.from({ length: count }, (_, i) => `h/${i}`);

let server: MqttTestBroker;
before(async () => {
  server = await startMqttBroker();
});
after(() => server.stop());

test('SUBSCRIBE of 100,000 filters: DISCONNECT 0x97 (v5), and another client is served meanwhile', async () => {
  const bystander = await connect(server.url, { protocolVersion: 5 });
  const raw = await rawClient(server.port, 5);
  await raw.connect('many-filters-5');
  raw.send({
    cmd: 'subscribe',
    messageId: 1,
    subscriptions: filters(hostileFilters).map((topic) => ({ topic, qos: 1 })),
  });
  const started = Date.now();
  await bystander.publishAsync('bystander/t', 'x', { qos: 1 });
  assert.ok(Date.now() - started < othersServedWithinMs, 'the bystander was served meanwhile');
  await raw.closed;
  assert.equal(disconnectReason(raw.packets), 0x97);
  assert.ok(!raw.packets.some((p) => p.cmd === 'suback'), 'nothing was subscribed');
  await closeAll(bystander);
});

test('UNSUBSCRIBE of 100,000 filters closes a 3.1.1 connection without a DISCONNECT', async () => {
  const raw = await rawClient(server.port, 4);
  await raw.connect('many-filters-4');
  raw.send({ cmd: 'unsubscribe', messageId: 2, unsubscriptions: filters(hostileFilters) });
  await raw.closed;
  assert.equal(disconnectReason(raw.packets), undefined);
  assert.ok(!raw.packets.some((p) => p.cmd === 'unsuback'));
});

test('a SUBSCRIBE of exactly subscriptionsMax filters is granted whole', async () => {
  const client = await connect(server.url, { protocolVersion: 5 });
  const granted = await client.subscribeAsync(filters(filtersMax), { qos: 1 });
  assert.equal(granted.length, filtersMax);
  assert.ok(granted.every((g) => g.qos === 1));
  await closeAll(client);
});
