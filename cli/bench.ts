/**
 * `switchyard bench mqtt|amqp|kafka|kubemq`: a quick throughput run against a running broker, with a
 * progress bar on a terminal and a summary (messages/s, MB/s, latency percentiles) on stdout.
 *
 * It speaks the protocol itself: MQTT with mqtt-packet (a dependency of the broker), AMQP and Kafka
 * over node:net with the broker's own codecs (./bench-amqp.ts, ./bench-kafka.ts), KubeMQ with
 * @grpc/grpc-js and the broker's kubemq.proto (./bench-kubemq.ts). So it works from an installed package, where the
 * protocols' client libraries (mqtt.js, amqplib, kafkajs) are development dependencies and absent; the
 * admin API's publish route would measure HTTP and JSON rather than the broker. One publisher and one
 * subscriber connection; the publisher keeps at most `--window` messages unreceived, so the run
 * measures the broker, not a queue building up in front of it.
 */
import { Buffer } from 'node:buffer';
import { amqpPeers } from './bench-amqp.js';
import { kafkaPeers } from './bench-kafka.js';
import { kubemqPeers } from './bench-kubemq.js';
import { mqttPeers } from './bench-mqtt.js';
import type { BenchPeers, BenchSettings } from './bench-peers.js';
import { type Io, Progress, UsageError } from './client.js';
import type { Answer } from './manage.js';

export interface BenchOptions {
  readonly host?: string | undefined;
  readonly port?: string | undefined;
  readonly messages?: string | undefined;
  readonly size?: string | undefined;
  readonly qos?: string | undefined;
  readonly window?: string | undefined;
  readonly user?: string | undefined;
  readonly password?: string | undefined;
}

const limits = {
  messagesMax: 10_000_000,
  sizeBytesMax: 1 << 20,
  windowMax: 65_535,
  connectTimeoutMs: 10_000,
};

function integer(value: string | undefined, fallback: number, name: string, max: number, min = 1): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new UsageError(`--${name} must be an integer from ${min} to ${max}, not ${value}`);
  return n;
}

const defaultPorts: Readonly<Record<string, number>> = { mqtt: 1883, amqp: 5672, kafka: 9092, kubemq: 50000 };
const protocols = Object.keys(defaultPorts);

function settings(protocol: string, o: BenchOptions): BenchSettings {
  return {
    host: o.host ?? '127.0.0.1',
    port: integer(o.port, defaultPorts[protocol] ?? 0, 'port', 65_535),
    messages: integer(o.messages, 100_000, 'messages', limits.messagesMax),
    size: integer(o.size, 100, 'size', limits.sizeBytesMax, 16),
    qos: integer(o.qos, 0, 'qos', 1, 0) as 0 | 1,
    window: integer(o.window, 1000, 'window', limits.windowMax),
    user: o.user,
    password: o.password,
  };
}

function percentile(sorted: Float64Array, p: number): number {
  return sorted.length === 0
    ? Number.NaN
    : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;
}

/** Runs the publisher and subscriber to the end; resolves with the latencies (ms, by index). */
async function run(
  protocol: string,
  s: BenchSettings,
  peers: BenchPeers,
  io: Io,
): Promise<{ latencies: Float64Array; elapsedMs: number }> {
  const latencies = new Float64Array(s.messages).fill(Number.NaN);
  const progress = new Progress(io, `bench ${protocol}`, s.messages);
  let received = 0;
  let sent = 0;
  let publish: ((payload: Buffer) => void) | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const pump = () => {
    while (publish !== undefined && sent < s.messages && sent - received < s.window) {
      const payload = Buffer.alloc(s.size);
      payload.writeUInt32BE(sent, 0);
      payload.writeDoubleBE(performance.now(), 4);
      publish(payload);
      sent++;
    }
  };
  try {
    await peers.subscribe((payload) => {
      latencies[payload.readUInt32BE(0)] = performance.now() - payload.readDoubleBE(4);
      received++;
      progress.update(received);
      if (received === s.messages) finish();
      else pump();
    });
    publish = await peers.publisher();
    const startMs = performance.now();
    pump();
    await (peers.failure === undefined ? done : Promise.race([done, peers.failure]));
    return { latencies, elapsedMs: performance.now() - startMs };
  } finally {
    progress.done();
    peers.close();
  }
}

function peersOf(protocol: string, s: BenchSettings, name: string): BenchPeers {
  if (protocol === 'mqtt') return mqttPeers(s, name.replace(/\./g, '/'));
  if (protocol === 'amqp') return amqpPeers(s, name);
  if (protocol === 'kafka') return kafkaPeers(s, name);
  return kubemqPeers(s, name);
}

export async function bench([protocol, ...rest]: string[], o: BenchOptions, io: Io): Promise<Answer> {
  if (protocol === undefined || !protocols.includes(protocol) || rest.length > 0)
    throw new UsageError(`expected bench ${protocols.join('|')} [options]`);
  const s = settings(protocol, o);
  const name = `switchyard-bench.${process.pid}.${Date.now()}`;
  const peers = peersOf(protocol, s, name);
  const { latencies, elapsedMs } = await run(protocol, s, peers, io);
  const sorted = latencies.slice().sort();
  const rate = (s.messages * 1000) / elapsedMs;
  const summary = {
    protocol,
    messages: s.messages,
    size_bytes: s.size,
    qos: s.qos,
    seconds: Number((elapsedMs / 1000).toFixed(3)),
    messages_per_s: Math.round(rate),
    mb_per_s: Number(((rate * s.size) / 1e6).toFixed(2)),
    latency_ms_p50: Number(percentile(sorted, 0.5).toFixed(2)),
    latency_ms_p99: Number(percentile(sorted, 0.99).toFixed(2)),
    latency_ms_max: Number(percentile(sorted, 1).toFixed(2)),
  };
  const rows = Object.entries(summary).map(([key, value]) => ({ key, value }));
  return { rows, columns: ['key', 'value'], document: summary };
}
