/**
 * `npm run bench -- kafka`: produce batches of 100 records (256 B and 1 KB) with acks=all to 1 and 6
 * partitions of a `switchyard start` child (file storage, fsync always), then fetch everything back.
 * The load generator speaks the wire protocol directly (kafkajs would be the bottleneck) and keeps
 * a window of requests in flight on one connection. Reading back and the loopback measurement taken
 * beside each read run in forked processes (testing/kafka-bench-peer.ts), so neither competes
 * with the bench process for CPU.
 */
import { fork } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import {
  ApiKey,
  encodeRecordBatch,
  FrameSplitter,
  frameRequest,
  kafkaApiByKey,
  writeMessage,
} from '../src/protocols/kafka/codec/index.js';
import type { PeerResult } from '../testing/kafka-bench-peer.js';
import { listenerFlags, startCli } from '../testing/server-cli.js';
import { cpuMs } from './stats.js';

const recordsPerBatch = 100;
const produceMs = 3000;
const windowRequests = 64;
/** Bytes sent for one loopback measurement. */
const loopbackBytes = 1 << 30;

/** One connection speaking the Kafka wire protocol, over TCP or (bench/tls.ts) TLS. */
export class Conn {
  readonly splitter = new FrameSplitter(256 * 1024 * 1024);
  readonly pending = new Map<number, (frame: Uint8Array) => void>();
  correlation = 1;
  readonly socket: Socket;
  /** When set (bench/txn-trace.ts), when each answer was read, by correlation id (`wallMs`). */
  readAt: Map<number, number> | undefined;
  constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      for (const frame of this.splitter.push(chunk)) {
        const id = new DataView(frame.buffer, frame.byteOffset).getInt32(0);
        this.readAt?.set(id, wallMs());
        this.pending.get(id)?.(frame);
        this.pending.delete(id);
      }
    });
  }
  static open(port: number): Promise<Conn> {
    return new Promise((resolve) => {
      const s = connect(port, '127.0.0.1', () => resolve(new Conn(s)));
    });
  }
  /** Over TLS, trusting `ca`. */
  static openTls(port: number, ca: Buffer): Promise<Conn> {
    return new Promise((resolve) => {
      const s = tlsConnect({ port, host: '127.0.0.1', ca }, () => resolve(new Conn(s)));
    });
  }
  request(apiKey: number, version: number, body: object): Promise<Uint8Array> {
    const correlationId = this.correlation++;
    const api = kafkaApiByKey.get(apiKey)!;
    this.socket.write(
      frameRequest(
        { requestApiKey: apiKey, requestApiVersion: version, correlationId, clientId: 'bench' },
        (w) => writeMessage(w, api.request, body, version),
      ),
    );
    return new Promise((resolve) => this.pending.set(correlationId, resolve));
  }
}

/** Milliseconds since the epoch, sub-millisecond: comparable across the processes of one machine. */
export const wallMs = (): number => performance.timeOrigin + performance.now();

export function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

/** Produces batches with acks=all from `windowRequests` lanes for `produceMs`. */
export async function produce(conn: Conn, topic: string, partitions: number, recordBytes: number) {
  const value = new Uint8Array(recordBytes).fill(120);
  const batch = encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    records: Array.from({ length: recordsPerBatch }, () => ({ value })),
  });
  const latencies: number[] = [];
  let sent = 0;
  const end = Date.now() + produceMs;
  const started = performance.now();
  const lane = async (): Promise<void> => {
    while (Date.now() < end) {
      const partition = sent++ % partitions;
      const t0 = performance.now();
      await conn.request(ApiKey.Produce, 7, {
        acks: -1,
        timeoutMs: 30_000,
        topicData: [{ name: topic, partitionData: [{ index: partition, records: batch }] }],
      });
      latencies.push(performance.now() - t0);
    }
  };
  await Promise.all(Array.from({ length: windowRequests }, lane));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const records = latencies.length * recordsPerBatch;
  return {
    records,
    seconds,
    mb: (records * recordBytes) / 1e6,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
  };
}

interface PeerMessage {
  readonly port?: number;
  readonly role?: PeerResult['role'];
}

const peerScript = fileURLToPath(new URL('../testing/kafka-bench-peer.js', import.meta.url));

/** Forks a bench peer; resolves with its result, handing any other message to `onMessage`. */
function runPeer(args: string[], onMessage: (m: PeerMessage) => void = () => undefined): Promise<PeerResult> {
  const child = fork(peerScript, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    let result: PeerResult | undefined;
    child.on('message', (m: PeerMessage) => {
      if (m.role !== undefined) result = m as PeerResult;
      else onMessage(m);
    });
    child.once('error', reject);
    child.once('exit', (code) => {
      if (result !== undefined) resolve(result);
      else reject(new Error(`bench peer ${args[0]} exited with ${code} and no result`));
    });
  });
}

/** Reads the topic back from a separate process (see testing/kafka-bench-peer.ts). */
export function readBack(port: number, topic: string, partitions: number): Promise<PeerResult> {
  return runPeer(['fetch', String(port), topic, String(partitions)]);
}

/**
 * TCP loopback between two other processes, large writes: the ceiling the read figures are set
 * against. The sink receives into a reused buffer, as the fetch reader does.
 */
export async function loopbackMBps(): Promise<number> {
  let sourcePort: (port: number) => void = () => undefined;
  const port = new Promise<number>((resolve) => (sourcePort = resolve));
  const source = runPeer(
    ['source', String(loopbackBytes)],
    (m) => m.port !== undefined && sourcePort(m.port),
  );
  const r = await runPeer(['sink', String(await port)]);
  await source;
  return r.bytes / 1e6 / r.seconds;
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** `KAFKA_BENCH_BROKER_FLAGS`: more flags for the broker of this build (space-separated), or none. */
export function brokerFlags(): string[] {
  return (process.env['KAFKA_BENCH_BROKER_FLAGS'] ?? '').split(' ').filter((flag) => flag !== '');
}

export async function runKafkaBench(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-bench-'));
  const cli = await startCli([
    '--storage',
    'file',
    '--data-dir',
    dataDir,
    '--fsync',
    'always',
    '--log-level',
    'warn',
    ...brokerFlags(),
    ...listenerFlags({ kafka: 'auto' }),
  ]);
  try {
    const conn = await Conn.open(cli.ports.kafka!);
    process.stdout.write(
      '| record | partitions | produced rec/s | MB/s | p50 ms | p99 ms | read rec/s | read MB/s | loopback MB/s | read % of loopback | broker CPU ms per 100 MB read | of it, main thread |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
    );
    for (const recordBytes of [256, 1024]) {
      for (const partitions of [1, 6]) {
        const topic = `bench-${recordBytes}-${partitions}`;
        await conn.request(ApiKey.CreateTopics, 4, {
          topics: [{ name: topic, numPartitions: partitions, replicationFactor: 1 }],
          timeoutMs: 5000,
        });
        const p = await produce(conn, topic, partitions, recordBytes);
        // Measured beside each read: the shared machine's loopback rate drifts during a run.
        const loopback = await loopbackMBps();
        // The broker's CPU per byte read holds up under load better than the rate does.
        // The main thread sends; storage's read thread reads and checks CRCs (large reads).
        const [cpuBefore, mainBefore] = [cpuMs(cli.pid), cpuMs(cli.pid, cli.pid)];
        const r = await readBack(cli.ports.kafka!, topic, partitions);
        const cpuPer100MB = (cpuMs(cli.pid) - cpuBefore) / (r.bytes / 1e8);
        const mainPer100MB = (cpuMs(cli.pid, cli.pid) - mainBefore) / (r.bytes / 1e8);
        const readMBps = r.bytes / 1e6 / r.seconds;
        process.stdout.write(
          `| ${recordBytes} B | ${partitions} | ${fmt(p.records / p.seconds)} | ${(p.mb / p.seconds).toFixed(1)} | ${p.p50.toFixed(2)} | ${p.p99.toFixed(2)} | ${fmt(r.records / r.seconds)} | ${readMBps.toFixed(1)} | ${fmt(loopback)} | ${((100 * readMBps) / loopback).toFixed(0)} % | ${cpuPer100MB.toFixed(0)} | ${mainPer100MB.toFixed(0)} |\n`,
        );
      }
    }
    conn.socket.destroy();
  } finally {
    await cli.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
