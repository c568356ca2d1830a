/**
 * /metrics, /metrics/per-object and /metrics/detailed scraped from a running `switchyard start` with
 * clients of three protocols connected: the names, types and labels a dashboard relies on (docs/
 * operations.md), the fsync histogram reported up from file storage, and the per-object series bound
 * holding with many queues.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import amqp from 'amqplib';
import { type Kafka, logLevel } from 'kafkajs';
import mqtt from 'mqtt';
import { packageInfo } from '../../src/config/package.js';
import { commitGroupOffsets, TestKafka } from '../../testing/kafka-helpers.js';
import {
  listenerFlags,
  noInitialRebalanceDelayFlags,
  type RunningCli,
  startCli,
} from '../../testing/server-cli.js';
import { until } from '../../testing/wait.js';

async function scrape(base: string, path: string): Promise<string> {
  const res = await fetch(base + path);
  assert.equal(res.status, 200, path);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return res.text();
}

/** Every line is a HELP, a TYPE or a sample, and every sample's family was declared first. */
function checkExposition(text: string): void {
  const declared = new Set<string>();
  for (const line of text.trimEnd().split('\n')) {
    const type = /^# TYPE (\w+) (gauge|counter|histogram)$/.exec(line);
    if (type !== null) declared.add(type[1]!);
    if (line.startsWith('#')) continue;
    const sample = /^(\w+)(\{(\w+="(?:[^"\\]|\\.)*",?)*\})? (-?[\d.eE+-]+|NaN|\+Inf)$/.exec(line);
    assert.ok(sample !== null, `not a sample line: ${line}`);
    const family = sample[1]!.replace(/_(bucket|sum|count)$/, '');
    assert.ok(declared.has(sample[1]!) || declared.has(family), `sample before its TYPE: ${line}`);
  }
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('metrics of a broker with AMQP, MQTT and Kafka clients', () => {
  let broker: RunningCli;
  let base: string;
  let conn: amqp.ChannelModel;
  let mq: mqtt.MqttClient;
  let kafka: Kafka;

  before(async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-metrics-'));
    broker = await startCli(
      [
        '--data-dir',
        dataDir,
        ...noInitialRebalanceDelayFlags,
        ...listenerFlags({ http: 'auto', amqp: 'auto', mqtt: 'auto', kafka: 'auto' }),
      ],
      { lifetimeMs: 900_000 },
    );
    base = `http://127.0.0.1:${broker.ports.http!}`;
    conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.ports.amqp}`);
    const ch = await conn.createConfirmChannel();
    await ch.assertQueue('metrics.q', { durable: true });
    ch.sendToQueue('metrics.q', Buffer.from('a'), { persistent: true });
    ch.sendToQueue('metrics.q', Buffer.from('b'), { persistent: true });
    await ch.assertQueue('metrics.c', { durable: true });
    ch.sendToQueue('metrics.c', Buffer.from('c'), { persistent: true });
    await ch.waitForConfirms();
    // One delivered and not acknowledged: it leaves the queue's depth and counts as delivered.
    await ch.consume('metrics.c', () => {}, { noAck: false });
    mq = mqtt.connect(`mqtt://127.0.0.1:${broker.ports.mqtt}`, { clientId: 'metrics-mqtt' });
    await new Promise<void>((resolve) => mq.once('connect', () => resolve()));
    kafka = new TestKafka({ brokers: [`127.0.0.1:${broker.ports.kafka}`], logLevel: logLevel.NOTHING });
    const producer = kafka.producer();
    await producer.connect();
    await producer.send({
      topic: 'metrics-topic',
      messages: [1, 2, 3, 4, 5].map((n) => ({ value: `${n}` })),
    });
    await producer.disconnect();
    // A group that committed 2 of the 5 records: lag 3.
    await commitGroupOffsets(kafka, 'metrics-group', 'metrics-topic', [{ partition: 0, offset: '2' }]);
  });

  after(async () => {
    mq?.end(true);
    await conn?.close();
    assert.equal((await broker.stop()).code, 0);
  });

  test('/metrics: totals, connections per protocol, alarms, storage bytes and the fsync histogram', async () => {
    await until(
      async () => /^switchyard_connections\{protocol="mqtt"\} 1$/m.test(await scrape(base, '/metrics')),
      10_000,
      'the MQTT connection counted',
    );
    const text = await scrape(base, '/metrics');
    checkExposition(text);
    assert.match(text, /^# TYPE switchyard_connections gauge$/m);
    assert.equal(value(text, 'switchyard_connections{protocol="amqp"}'), 1);
    assert.equal(
      value(text, 'switchyard_connections{protocol="kubemq"}'),
      0,
      'every protocol has its series',
    );
    assert.equal(value(text, 'switchyard_alarms_memory_used_watermark'), 0);
    assert.equal(value(text, 'switchyard_alarms_free_disk_space_watermark'), 0);
    assert.match(text, /^# TYPE switchyard_storage_written_bytes_total counter$/m);
    assert.ok(value(text, 'switchyard_storage_written_bytes_total')! > 0);
    assert.match(text, /^# TYPE switchyard_storage_fsync_seconds histogram$/m);
    const syncs = value(text, 'switchyard_storage_fsync_seconds_count')!;
    assert.ok(syncs > 0, 'persistent messages were fsynced');
    assert.equal(value(text, 'switchyard_storage_fsync_seconds_bucket{le="+Inf"}'), syncs);
    assert.ok(value(text, 'switchyard_storage_fsync_seconds_sum')! > 0);
    assert.equal(value(text, 'switchyard_queue_messages{vhost="/",queue="metrics.q"}'), 2);
    assert.equal(value(text, 'switchyard_queue_consumers{vhost="/",queue="metrics.q"}'), 0);
    assert.equal(value(text, 'switchyard_queue_consumers{vhost="/",queue="metrics.c"}'), 1);
    assert.doesNotMatch(text, /switchyard_stream_partition|switchyard_consumer_group/, 'per-object only');
  });

  test('/metrics/per-object: queue rates, partition offsets and bytes, group members and lag', async () => {
    const text = await scrape(base, '/metrics/per-object');
    checkExposition(text);
    const q = '{vhost="/",queue="metrics.q"}';
    assert.match(text, /^# TYPE switchyard_queue_messages_published_total counter$/m);
    assert.equal(value(text, `switchyard_queue_messages_published_total${q}`), 2);
    assert.equal(value(text, `switchyard_queue_messages_delivered_total${q}`), 0);
    const c = '{vhost="/",queue="metrics.c"}';
    assert.equal(value(text, `switchyard_queue_messages_delivered_total${c}`), 1);
    assert.equal(value(text, `switchyard_queue_messages_acked_total${c}`), 0);
    const p = '{vhost="/",stream="metrics-topic",partition="0"}';
    assert.equal(value(text, `switchyard_stream_partition_start_offset${p}`), 0);
    assert.equal(value(text, `switchyard_stream_partition_end_offset${p}`), 5);
    assert.ok(value(text, `switchyard_stream_partition_bytes${p}`)! > 0);
    assert.equal(value(text, 'switchyard_consumer_group_members{vhost="/",group="metrics-group"}'), 0);
    const g = '{vhost="/",group="metrics-group",stream="metrics-topic",partition="0"}';
    assert.equal(value(text, `switchyard_consumer_group_committed_offset${g}`), 2);
    assert.equal(value(text, `switchyard_consumer_group_lag${g}`), 3);
    assert.equal(value(text, 'switchyard_metrics_objects_omitted{family="queue"}'), 0);
  });

  test('the Grafana dashboard in docs/grafana asks only for series the broker writes', async () => {
    const dashboard = readFileSync(join(packageInfo().root, 'docs', 'grafana', 'switchyard.json'), 'utf8');
    const asked = new Set(
      [...dashboard.matchAll(/\b(switchyard_\w+)/g)].map((m) => m[1]!.replace(/_bucket$/, '')),
    );
    const scraped = (await scrape(base, '/metrics')) + (await scrape(base, '/metrics/per-object'));
    const families = new Set([...scraped.matchAll(/^# TYPE (\w+) /gm)].map((m) => m[1]!));
    assert.ok(asked.size >= 15, `the dashboard asks for ${asked.size} series`);
    for (const name of asked)
      assert.ok(families.has(name), `the dashboard asks for ${name}, which no scrape has`);
  });

  test('/metrics/detailed?family=group&vhost=/ answers only the families asked for', async () => {
    const text = await scrape(base, '/metrics/detailed?family=group&vhost=%2F');
    checkExposition(text);
    assert.match(text, /^switchyard_consumer_group_lag\{/m);
    assert.doesNotMatch(text, /switchyard_queue_|switchyard_stream_partition_/);
    const none = await scrape(base, '/metrics/detailed?family=queue&vhost=no-such-vhost');
    assert.doesNotMatch(none, /^switchyard_queue_messages\{/m);
  });
});

test('metricsSeriesMax bounds a scrape of 2000 queues; the rest are counted as omitted', async () => {
  const seriesMax = 600;
  const broker = await startCli(
    [
      '--storage',
      'memory',
      '--metrics-series-max',
      String(seriesMax),
      ...listenerFlags({ http: 'auto', amqp: 'auto' }),
    ],
    { lifetimeMs: 900_000 },
  );
  const base = `http://127.0.0.1:${broker.ports.http!}`;
  const conn = await amqp.connect(`amqp://guest:guest@127.0.0.1:${broker.ports.amqp}`);
  try {
    const ch = await conn.createChannel();
    const queues = 2000;
    for (let i = 0; i < queues; i++) await ch.assertQueue(`many.${i}`, { durable: false });
    const perObject = await scrape(base, '/metrics/per-object');
    checkExposition(perObject);
    const samples = perObject.split('\n').filter((l) => /^switchyard_(queue|stream|consumer_group)_/.test(l));
    assert.ok(samples.length <= seriesMax, `${samples.length} per-object series, at most ${seriesMax}`);
    const written = new Set(samples.map((l) => /queue="([^"]+)"/.exec(l)?.[1])).size;
    assert.equal(written, seriesMax / 6, 'six series per queue, whole queues only');
    assert.equal(value(perObject, 'switchyard_metrics_objects_omitted{family="queue"}'), queues - written);
    const aggregated = await scrape(base, '/metrics');
    const depth = aggregated.split('\n').filter((l) => l.startsWith('switchyard_queue_'));
    assert.equal(depth.length, seriesMax, 'two series per queue on /metrics, under the same bound');
    assert.equal(value(aggregated, 'switchyard_queues'), queues, 'the totals still count every queue');
  } finally {
    await conn.close();
    assert.equal((await broker.stop()).code, 0);
  }
});
