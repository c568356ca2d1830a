/**
 * `switchyard bench mqtt`: a quick throughput run against a running broker, with a progress bar on a
 * terminal and a summary (messages/s, MB/s, latency percentiles) on stdout.
 *
 * It speaks MQTT itself over node:net with mqtt-packet, the codec the broker already depends on, so it
 * works from an installed package: the protocols' client libraries (mqtt.js, amqplib, kafkajs) are
 * development dependencies and absent there, and the admin API's publish route would measure HTTP and
 * JSON rather than the broker. One publisher and one subscriber connection share a topic; the
 * publisher keeps at most `--window` messages unreceived, so the run measures the broker, not a queue
 * building up in front of it.
 */
import { Buffer } from 'node:buffer';
import { connect, type Socket } from 'node:net';
import { generate, type Packet, parser } from 'mqtt-packet';
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

/** One MQTT 3.1.1 connection: packets out, a callback per packet in. */
class Peer {
  private readonly socket: Socket;

  private constructor(socket: Socket, onPacket: (packet: Packet) => void) {
    this.socket = socket;
    const p = parser({ protocolVersion: 4 });
    p.on('packet', onPacket);
    p.on('error', (err: Error) => socket.destroy(err));
    socket.on('data', (chunk: Buffer) => p.parse(chunk));
  }

  static open(o: Settings, clientId: string, onPacket: (packet: Packet) => void): Promise<Peer> {
    return new Promise((resolve, reject) => {
      const socket = connect({ host: o.host, port: o.port });
      socket.setNoDelay(true);
      const timer = setTimeout(
        () => socket.destroy(new Error('no CONNACK in time')),
        limits.connectTimeoutMs,
      );
      const fail = (err: Error) => {
        clearTimeout(timer);
        reject(new Error(`mqtt://${o.host}:${o.port}: ${err.message}`));
      };
      socket.once('error', fail);
      const peer = new Peer(socket, (packet) => {
        if (packet.cmd !== 'connack') return onPacket(packet);
        clearTimeout(timer);
        if (packet.returnCode !== 0)
          return fail(new Error(`connection refused, return code ${packet.returnCode}`));
        socket.off('error', fail);
        resolve(peer);
      });
      peer.send({
        cmd: 'connect',
        protocolId: 'MQTT',
        protocolVersion: 4,
        clientId,
        clean: true,
        keepalive: 60,
        ...(o.user === undefined ? {} : { username: o.user, password: Buffer.from(o.password ?? '') }),
      });
    });
  }

  send(packet: Packet): boolean {
    return this.socket.write(generate(packet));
  }

  close(): void {
    this.send({ cmd: 'disconnect' });
    this.socket.end();
  }
}

interface Settings {
  host: string;
  port: number;
  messages: number;
  size: number;
  qos: 0 | 1;
  window: number;
  user?: string | undefined;
  password?: string | undefined;
}

function settings(o: BenchOptions): Settings {
  return {
    host: o.host ?? '127.0.0.1',
    port: integer(o.port, 1883, 'port', 65_535),
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
async function run(s: Settings, io: Io): Promise<{ latencies: Float64Array; elapsedMs: number }> {
  const topic = `switchyard-bench/${process.pid}-${Date.now()}`;
  const latencies = new Float64Array(s.messages).fill(Number.NaN);
  const progress = new Progress(io, 'bench mqtt', s.messages);
  let received = 0;
  let sent = 0;
  let publisher: Peer | undefined;
  let finish: () => void = () => {};
  const done = new Promise<void>((resolve) => (finish = resolve));
  const pump = () => {
    while (publisher !== undefined && sent < s.messages && sent - received < s.window) {
      const payload = Buffer.alloc(s.size);
      payload.writeUInt32BE(sent, 0);
      payload.writeDoubleBE(performance.now(), 4);
      const id = (sent % 65_535) + 1;
      publisher.send({
        cmd: 'publish',
        topic,
        payload,
        qos: s.qos,
        retain: false,
        dup: false,
        messageId: id,
      });
      sent++;
    }
  };
  let subscribed: () => void = () => {};
  const ready = new Promise<void>((resolve) => (subscribed = resolve));
  const subscriber = await Peer.open(s, `bench-sub-${process.pid}`, (packet) => {
    if (packet.cmd === 'suback') return subscribed();
    if (packet.cmd !== 'publish') return;
    const payload = packet.payload as Buffer;
    if (packet.qos === 1) subscriber.send({ cmd: 'puback', messageId: packet.messageId! });
    latencies[payload.readUInt32BE(0)] = performance.now() - payload.readDoubleBE(4);
    received++;
    progress.update(received);
    if (received === s.messages) finish();
    else pump();
  });
  subscriber.send({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic, qos: s.qos }] });
  await ready;
  publisher = await Peer.open(s, `bench-pub-${process.pid}`, () => {});
  const startMs = performance.now();
  pump();
  await done;
  const elapsedMs = performance.now() - startMs;
  progress.done();
  publisher.close();
  subscriber.close();
  return { latencies, elapsedMs };
}

export async function bench([protocol, ...rest]: string[], o: BenchOptions, io: Io): Promise<Answer> {
  if (protocol !== 'mqtt' || rest.length > 0) throw new UsageError('expected bench mqtt [options]');
  const s = settings(o);
  const { latencies, elapsedMs } = await run(s, io);
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
