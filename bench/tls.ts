/**
 * `npm run bench -- tls`: the same three workloads over plain TCP and over TLS against one
 * `switchyard start` child (file storage, fsync never, so the disk does not hide what TLS costs):
 * AMQP durable (persistent 1 KB messages to a durable queue, publisher confirms, a consumer acking),
 * MQTT QoS 1 (256 B, one publisher to one subscriber) and Kafka produce (batches of 100 × 1 KB,
 * acks=all, the wire-level producer of bench/kafka.ts). Clients run in this process, on both
 * transports alike. Each workload sends for `sendMs`, then waits at most `drainMs` for the last
 * message; after a warm-up, each transport runs `rounds` times and its fastest run is reported.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import amqp from 'amqplib';
import mqtt from 'mqtt';
import { ApiKey } from '../src/protocols/kafka/codec/index.js';
import { listenerFlags, type RunningCli, startCli } from '../testing/server-cli.js';
import { makeTestPki, type TestPki } from '../testing/tls.js';
import { Conn, percentile, produce } from './kafka.js';

const sendMs = 4000;
const drainMs = 15_000;
const amqpWindow = 500;
const mqttWindow = 100;
const rounds = 3;
/** The broker child is killed if the whole run takes longer than this. */
const benchLifetimeMs = 10 * 60_000;

interface Result {
  readonly messages: number;
  readonly seconds: number;
  readonly bytes: number;
  readonly p50: number;
  readonly p99: number;
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return 0;
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
}

/** Latencies from the send time carried in each message's first 8 bytes. */
class Receipts {
  readonly latencies: number[] = [];
  last = 0;
  take(body: Buffer): void {
    this.latencies.push(performance.now() - body.readDoubleLE(0));
    this.last = performance.now();
  }
  async until(count: () => number): Promise<void> {
    const deadline = Date.now() + drainMs;
    while (this.latencies.length < count() && Date.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 5));
  }
  result(started: number, messageBytes: number): Result {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const seconds = (this.last - started) / 1000;
    return {
      messages: sorted.length,
      seconds,
      bytes: sorted.length * messageBytes,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
    };
  }
}

function stamped(bytes: number): Buffer {
  const body = Buffer.alloc(bytes, 120);
  body.writeDoubleLE(performance.now(), 0);
  return body;
}

async function amqpDurable(url: string, ca: Buffer, queue: string): Promise<Result> {
  const messageBytes = 1024;
  const [pub, sub] = await Promise.all([amqp.connect(url, { ca: [ca] }), amqp.connect(url, { ca: [ca] })]);
  try {
    const publish = await pub.createConfirmChannel();
    const consume = await sub.createChannel();
    await publish.assertQueue(queue, { durable: true });
    await consume.prefetch(amqpWindow);
    const receipts = new Receipts();
    await consume.consume(queue, (m) => {
      if (m === null) return;
      receipts.take(m.content);
      consume.ack(m);
    });
    const started = performance.now();
    const end = Date.now() + sendMs;
    let sent = 0;
    while (Date.now() < end) {
      for (let i = 0; i < amqpWindow; i++)
        publish.sendToQueue(queue, stamped(messageBytes), { persistent: true });
      sent += amqpWindow;
      await publish.waitForConfirms();
    }
    await receipts.until(() => sent);
    return receipts.result(started, messageBytes);
  } finally {
    await Promise.all([pub.close(), sub.close()]);
  }
}

async function mqttQos1(url: string, ca: Buffer, topic: string): Promise<Result> {
  const messageBytes = 256;
  const options = { ca, reconnectPeriod: 0, protocolVersion: 4 as const };
  const [pub, sub] = await Promise.all([mqtt.connectAsync(url, options), mqtt.connectAsync(url, options)]);
  try {
    const receipts = new Receipts();
    sub.on('message', (_topic, payload) => receipts.take(payload));
    await sub.subscribeAsync(topic, { qos: 1 });
    const started = performance.now();
    const end = Date.now() + sendMs;
    let sent = 0;
    const lane = async (): Promise<void> => {
      while (Date.now() < end) {
        sent++;
        await pub.publishAsync(topic, stamped(messageBytes), { qos: 1 });
      }
    };
    // A client closed under way would leave its lanes waiting for ever: fail the run instead.
    const dropped = new Promise<never>((_resolve, reject) => {
      const fail = () => reject(new Error(`an MQTT client was closed after ${sent} publishes`));
      pub.once('close', fail);
      sub.once('close', fail);
    });
    dropped.catch(() => {});
    await Promise.race([Promise.all(Array.from({ length: mqttWindow }, lane)), dropped]);
    await receipts.until(() => sent);
    return receipts.result(started, messageBytes);
  } finally {
    pub.removeAllListeners('close');
    sub.removeAllListeners('close');
    await Promise.all([pub.endAsync(true), sub.endAsync(true)]);
  }
}

async function kafkaProduce(conn: Conn, topic: string): Promise<Result> {
  await conn.request(ApiKey.CreateTopics, 4, {
    topics: [{ name: topic, numPartitions: 1, replicationFactor: 1 }],
    timeoutMs: 5000,
  });
  const p = await produce(conn, topic, 1, 1024);
  conn.socket.destroy();
  return { messages: p.records, seconds: p.seconds, bytes: p.mb * 1e6, p50: p.p50, p99: p.p99 };
}

type Workload = 'AMQP durable, 1 KB' | 'MQTT QoS 1, 256 B' | 'Kafka produce, 100 × 1 KB';

let runs = 0;

async function runCase(cli: RunningCli, pki: TestPki, workload: Workload, tls: boolean): Promise<Result> {
  const ca = pki.read(pki.caFile);
  const p = cli.ports;
  const name = `bench-${tls ? 'tls' : 'plain'}-${++runs}`;
  if (workload === 'AMQP durable, 1 KB') {
    const url = tls ? `amqps://guest:guest@127.0.0.1:${p.amqps}` : `amqp://guest:guest@127.0.0.1:${p.amqp}`;
    return amqpDurable(url, ca, name);
  }
  if (workload === 'MQTT QoS 1, 256 B')
    return mqttQos1(tls ? `mqtts://127.0.0.1:${p.mqtts}` : `mqtt://127.0.0.1:${p.mqtt}`, ca, name);
  const conn = tls ? await Conn.openTls(p['kafka-tls']!, ca) : await Conn.open(p.kafka!);
  return kafkaProduce(conn, name);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/**
 * `rounds` runs of each transport, alternating which goes first (the shared machine's load drifts),
 * keeping each transport's fastest; the broker's RSS is read after each run.
 */
async function bestOf(cli: RunningCli, pki: TestPki, workload: Workload) {
  const best: Array<(Result & { rssMiB: number }) | undefined> = [undefined, undefined];
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [false, true] : [true, false];
    for (const tls of order) {
      const r = { ...(await runCase(cli, pki, workload, tls)), rssMiB: rssMiB(cli.pid) };
      const slot = tls ? 1 : 0;
      const held = best[slot];
      if (held === undefined || r.messages / r.seconds > held.messages / held.seconds) best[slot] = r;
    }
  }
  return best as [Result & { rssMiB: number }, Result & { rssMiB: number }];
}

export async function runTlsBench(): Promise<void> {
  const pki = makeTestPki();
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-tls-bench-'));
  const ports = {
    amqp: 'auto',
    amqps: 'auto',
    mqtt: 'auto',
    mqtts: 'auto',
    kafka: 'auto',
    'kafka-tls': 'auto',
  } as const;
  const cli = await startCli(
    [
      ...['--storage', 'file', '--data-dir', dataDir, '--fsync', 'never', '--log-level', 'warn'],
      ...['--tls-cert-file', pki.server.cert, '--tls-key-file', pki.server.key],
      ...listenerFlags(ports),
    ],
    { lifetimeMs: benchLifetimeMs },
  );
  try {
    process.stdout.write(
      '| workload | transport | messages/s | MB/s | p50 / p99 ms | broker RSS MiB | TLS / plain |\n| --- | --- | ---: | ---: | ---: | ---: | ---: |\n',
    );
    const workloads: Workload[] = ['AMQP durable, 1 KB', 'MQTT QoS 1, 256 B', 'Kafka produce, 100 × 1 KB'];
    for (const workload of workloads) {
      await runCase(cli, pki, workload, false); // warm-up, not reported
      const best = await bestOf(cli, pki, workload);
      for (const tls of [false, true]) {
        const r = best[tls ? 1 : 0];
        const rate = r.messages / r.seconds;
        const ratio = tls ? `${((100 * rate * best[0].seconds) / best[0].messages).toFixed(0)} %` : '';
        process.stdout.write(
          `| ${workload} | ${tls ? 'TLS' : 'TCP'} | ${fmt(rate)} | ${(r.bytes / 1e6 / r.seconds).toFixed(1)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} | ${fmt(r.rssMiB)} | ${ratio} |\n`,
        );
      }
    }
  } catch (err) {
    process.stderr.write(
      `${(err as Error).message}\nbroker log, last lines:\n${cli.stderr().split('\n').slice(-20).join('\n')}\n`,
    );
    throw err;
  } finally {
    await cli.stop();
    rmSync(dataDir, { recursive: true, force: true });
    pki.remove();
  }
}
