/**
 * `npm run bench -- kafka-txn` (also part of `kafka`): transactional produce against plain acks=all.
 * `lanes` producers (64; `KAFKA_TXN_PRODUCERS=n` sets another count), each on its own connection,
 * write batches of 100 records of 256 B with acks=all to one of 6 partitions: plain, or
 * transactional, one batch per transaction. A transaction is what each kind of client sends:
 * transaction version 1 (AddPartitionsToTxn v3, Produce v7, EndTxn v3 commit: three round trips), as
 * kafkajs and librdkafka 2.x do, and transaction version 2 (KIP-890 part 2: Produce v12 adding its
 * partition itself, EndTxn v5 commit answering the next epoch: two round trips), as the Java client
 * 4.x does against a broker that finalizes `transaction.version` 2, as this one does. Both run by
 * default, each against the same plain run (the default is what clients of both kinds send);
 * `KAFKA_TXN_VERSION=1` or `=2` runs one. Each producer has its own connection, plain and transactional alike, because that is what
 * Kafka clients do: kafkajs, librdkafka and the Java client open a connection to a broker per
 * producer instance, so producers never share one. A Kafka connection answers in request order, and
 * producers multiplexed on one connection would wait behind each other's transaction ends (head of
 * line), a cost no user's producers pay. `KAFKA_TXN_SHARED_CONNECTION=1` runs every producer on one
 * connection instead, the shape this bench had until 5 December 2026, for comparison with the figures
 * recorded then. Runs alternate, plain then transactional, `rounds` times, so the machine's drift
 * touches both alike; the medians are compared. Each run also reports the broker's CPU per 1,000
 * records (/proc/<pid>/stat), which the machine's load distorts less than a rate. `switchyard start`
 * child, file storage, fsync always. `KAFKA_TXN_BENCH_TRACE=1` adds where each producer's period goes,
 * request by request, with both processes' run-queue waits (bench/txn-trace.ts). To profile the
 * broker during transactions alone, `KAFKA_TXN_PLAIN=0` skips the plain rounds (the ratio is then not
 * computed) and `KAFKA_TXN_BROKER_NODE_ARGS` passes options to the broker's node (space-separated, say
 * `--cpu-prof --cpu-prof-dir=/tmp/p` or `--perf-basic-prof` for `perf record -t <pid>`); each round's
 * line then names the broker's pid and the transactions it made. Both kinds of round pay the same
 * client work per batch: a copy of an encoded batch with its own CRC-32C, and its answer read and
 * checked. `KAFKA_TXN_BROKER_CLI` runs another build's broker under this bench (A/B).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  type AddPartitionsToTxnResponse,
  ApiKey,
  BatchAttribute,
  decodeMessage,
  decodeResponseHeader,
  type EndTxnResponse,
  encodeRecordBatch,
  type InitProducerIdResponse,
  KafkaReader,
  kafkaApiByKey,
  type ProduceResponse,
  responseHeaderVersion,
} from '../src/protocols/kafka/codec/index.js';
import { crc32c } from '../src/shared/crc32c.js';
import { listenerFlags, startCli } from '../testing/server-cli.js';
import { Conn, percentile } from './kafka.js';
import { cpuMs, median } from './stats.js';
import { RunTrace } from './txn-trace.js';

const recordsPerBatch = 100;
const recordBytes = 256;
const partitions = 6;
const lanesDefault = 64;
const lanesMax = 1024;
const lanes = Math.min(
  lanesMax,
  Math.max(1, Number(process.env['KAFKA_TXN_PRODUCERS'] ?? lanesDefault) || 1),
);
const sharedConnection = process.env['KAFKA_TXN_SHARED_CONNECTION'] === '1';
/**
 * The transaction versions to run: both unless `KAFKA_TXN_VERSION` names one; `0` runs none, the plain
 * rounds alone (a profile of the broker's plain produce to set beside a transactional one).
 */
const txnVersions: ReadonlyArray<1 | 2> = (
  { '0': [], '1': [1], '2': [2] } as Record<string, ReadonlyArray<1 | 2>>
)[process.env['KAFKA_TXN_VERSION'] ?? ''] ?? [1, 2];
/** `KAFKA_TXN_PLAIN=0`: transactional rounds only, for a profile of the broker during transactions. */
const plainRounds = process.env['KAFKA_TXN_PLAIN'] !== '0';
/** Options for the broker's node process (`KAFKA_TXN_BROKER_NODE_ARGS`, space-separated). */
const brokerNodeArgs = (process.env['KAFKA_TXN_BROKER_NODE_ARGS'] ?? '').split(' ').filter((a) => a !== '');
/** `KAFKA_TXN_BROKER_CLI=<other build>/dist/cli/switchyard.js`: that build's broker under this bench (A/B). */
const brokerCli = process.env['KAFKA_TXN_BROKER_CLI'];
const runMs = 3000;
/**
 * One unreported run of each kind before the rounds, this long. Until 6 December 2026 the first round
 * ran cold and the median of three counted it: transactions most (a partition's first transactional
 * batches wait for their `partitions` entry until one is durable there, and their code is compiled
 * later), so the median was the lower of the two warm rounds.
 */
const warmupMs = 2000;
const rounds = 3;
const topic = 'txn-bench';

const value = new Uint8Array(recordBytes).fill(120);

/** The run being traced (`KAFKA_TXN_BENCH_TRACE=1`), else undefined. */
let trace: RunTrace | undefined;

/** One request of `lane`'s step, stamped when traced. */
function send(lane: number, conn: Conn, apiKey: number, version: number, body: object): Promise<Uint8Array> {
  return trace === undefined
    ? conn.request(apiKey, version, body)
    : trace.request(lane, conn, apiKey, version, body);
}

async function call<T>(lane: number, conn: Conn, apiKey: number, version: number, body: object): Promise<T> {
  const frame = await send(lane, conn, apiKey, version, body);
  const r = new KafkaReader(frame);
  decodeResponseHeader(r, responseHeaderVersion(apiKey, version));
  return decodeMessage(kafkaApiByKey.get(apiKey)!.response, r, version) as T;
}

/**
 * Encodes each batch in full as a client does (`KAFKA_TXN_ENCODE=each`, the method until 5 December
 * 2026), instead of patching the producer fields and CRC of one encoded batch.
 */
const encodeEach = process.env['KAFKA_TXN_ENCODE'] === 'each';
/** Where record batch v2 keeps the fields a transaction's batch changes, and its CRC. */
const batchField = { crc: 17, crcStart: 21, producerId: 43, producerEpoch: 51, baseSequence: 53 } as const;

/** A plain batch's producer fields: no producer id, as a producer without idempotence sends. */
const plainProducer = { producerId: -1n, producerEpoch: -1, baseSequence: -1 } as const;

function encodeBatch(
  transactional: boolean,
  producerId: bigint,
  producerEpoch: number,
  baseSequence: number,
): Uint8Array {
  return encodeRecordBatch({
    baseTimestamp: BigInt(Date.now()),
    attributes: transactional ? BatchAttribute.transactional : 0,
    producerId,
    producerEpoch,
    baseSequence,
    records: Array.from({ length: recordsPerBatch }, () => ({ value })),
  });
}

/** Encoded once per kind of batch, plain and transactional. */
const templates = new Map<boolean, Uint8Array>();

/**
 * A batch as each kind of round sends it: the kind's template copied, with the producer's fields and
 * a CRC-32C of its own. Both kinds pay the same copy and CRC per batch, as both kinds of real producer
 * encode every batch (until 6 December 2026 the plain round sent one encoded batch again and again,
 * and only the transactional rounds paid this). Encoding 100 records in full costs this client about
 * a millisecond, on the same two cores as the broker (`KAFKA_TXN_ENCODE=each`).
 */
export function batchOf(
  transactional: boolean,
  producerId: bigint,
  producerEpoch: number,
  baseSequence: number,
): Uint8Array {
  if (encodeEach) return encodeBatch(transactional, producerId, producerEpoch, baseSequence);
  let template = templates.get(transactional);
  if (template === undefined) {
    template = encodeBatch(transactional, producerId, producerEpoch, baseSequence);
    templates.set(transactional, template);
  }
  const batch = Uint8Array.from(template);
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength);
  view.setBigInt64(batchField.producerId, producerId);
  view.setInt16(batchField.producerEpoch, producerEpoch);
  view.setInt32(batchField.baseSequence, baseSequence);
  view.setUint32(batchField.crc, crc32c(batch, batchField.crcStart));
  return batch;
}

const produceBody = (partition: number, records: Uint8Array, transactionalId: string | null) => ({
  transactionalId,
  acks: -1,
  timeoutMs: 30_000,
  topicData: [{ name: topic, partitionData: [{ index: partition, records }] }],
});

/**
 * A Produce of one batch, its answer read and checked as a client does, in every kind of round (until
 * 6 December 2026 the plain round and transaction version 1 sent theirs without reading the answer).
 */
export async function produce(
  lane: number,
  conn: Conn,
  version: number,
  partition: number,
  records: Uint8Array,
  transactionalId: string | null,
): Promise<void> {
  const body = produceBody(partition, records, transactionalId);
  const produced = await call<ProduceResponse>(lane, conn, ApiKey.Produce, version, body);
  const code = produced.responses[0]?.partitionResponses[0]?.errorCode;
  if (code !== 0) throw new Error(`Produce v${version} failed with error ${code}`);
}

interface Run {
  readonly recordsPerSecond: number;
  readonly p50: number;
  readonly p99: number;
  /** The broker's user + system CPU per 1,000 records. */
  readonly cpuMsPerKilo: number;
  /** Of it, the broker's event-loop thread's. */
  readonly loopCpuMsPerKilo: number;
  /** This process's own (the clients'): on a 2-core machine it competes with the broker. */
  readonly clientCpuMsPerKilo: number;
  /** The run's stamps when traced. */
  readonly trace: RunTrace | undefined;
  /** Steps completed: batches, or transactions. */
  readonly steps: number;
}

/** The broker's process id, for its CPU per run. */
let brokerPid = -1;

/** Runs `step` from every lane for `ms`; each step is one batch (or one transaction of one batch). */
async function timed(step: (lane: number, n: number) => Promise<void>, ms = runMs): Promise<Run> {
  trace = RunTrace.start([brokerPid, process.pid]);
  const latencies: number[] = [];
  const end = Date.now() + ms;
  const cpu0 = cpuMs(brokerPid);
  const loop0 = cpuMs(brokerPid, brokerPid);
  const client0 = cpuMs(process.pid);
  const started = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      for (let n = 0; Date.now() < end; n++) {
        const t0 = performance.now();
        trace?.begin(lane);
        await step(lane, n);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const records = latencies.length * recordsPerBatch;
  latencies.sort((a, b) => a - b);
  const traced = trace;
  traced?.finish();
  trace = undefined;
  return {
    trace: traced,
    steps: latencies.length,
    recordsPerSecond: records / seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    cpuMsPerKilo: perKilo(cpuMs(brokerPid) - cpu0, records),
    loopCpuMsPerKilo: perKilo(cpuMs(brokerPid, brokerPid) - loop0, records),
    clientCpuMsPerKilo: perKilo(cpuMs(process.pid) - client0, records),
  };
}

const perKilo = (ms: number, records: number) => (1000 * ms) / Math.max(1, records);

/** The connection of each lane: its own, or the one shared by all. */
type Lanes = readonly Conn[];

function plain(conns: Lanes, ms = runMs): Promise<Run> {
  const { producerId, producerEpoch, baseSequence } = plainProducer;
  return timed(async (lane) => {
    const batch = batchOf(false, producerId, producerEpoch, baseSequence);
    await produce(lane, conns[lane]!, 7, lane % partitions, batch, null);
  }, ms);
}

interface Producer {
  readonly transactionalId: string;
  /** Transaction version 2 hands the producer a new epoch (or id) at every end. */
  producerId: bigint;
  producerEpoch: number;
  sequence: number;
}

/** Milliseconds spent in each request of a transaction, for the table's last column. */
const stepMs = { add: [] as number[], produce: [] as number[], end: [] as number[] };

/** Each call adds the milliseconds since the one before (or since it was made) to `into`. */
function lapTimer(): (into: number[]) => void {
  let t0 = performance.now();
  return (into) => {
    const t1 = performance.now();
    into.push(t1 - t0);
    t0 = t1;
  };
}

/** Transaction version 2: Produce v12 adds the partition, EndTxn v5 names the next epoch. */
async function transactionalV2(conns: Lanes, producers: Producer[], ms = runMs): Promise<Run> {
  return timed(async (lane) => {
    const conn = conns[lane]!;
    const lap = lapTimer();
    const p = producers[lane]!;
    const batch = batchOf(true, p.producerId, p.producerEpoch, p.sequence);
    p.sequence += recordsPerBatch;
    await produce(lane, conn, 12, lane % partitions, batch, p.transactionalId);
    lap(stepMs.produce);
    const ids = {
      transactionalId: p.transactionalId,
      producerId: p.producerId,
      producerEpoch: p.producerEpoch,
    };
    const ended = await call<EndTxnResponse>(lane, conn, ApiKey.EndTxn, 5, { ...ids, committed: true });
    if (ended.errorCode !== 0) throw new Error(`EndTxn v5 failed with error ${ended.errorCode}`);
    // A new epoch starts its sequences at 0.
    p.producerId = ended.producerId;
    p.producerEpoch = ended.producerEpoch;
    p.sequence = 0;
    lap(stepMs.end);
  }, ms);
}

async function transactional(conns: Lanes, producers: Producer[], ms = runMs): Promise<Run> {
  return timed(async (lane) => {
    const conn = conns[lane]!;
    const lap = lapTimer();
    const p = producers[lane]!;
    const ids = {
      transactionalId: p.transactionalId,
      producerId: p.producerId,
      producerEpoch: p.producerEpoch,
    };
    const partition = lane % partitions;
    const added = await call<AddPartitionsToTxnResponse>(lane, conn, ApiKey.AddPartitionsToTxn, 3, {
      v3AndBelowTransactionalId: ids.transactionalId,
      v3AndBelowProducerId: ids.producerId,
      v3AndBelowProducerEpoch: ids.producerEpoch,
      v3AndBelowTopics: [{ name: topic, partitions: [partition] }],
    });
    const addCode = added.resultsByTopicV3AndBelow[0]?.resultsByPartition[0]?.partitionErrorCode;
    if (addCode !== 0) throw new Error(`AddPartitionsToTxn failed with error ${addCode}`);
    lap(stepMs.add);
    const batch = batchOf(true, p.producerId, p.producerEpoch, p.sequence);
    p.sequence += recordsPerBatch;
    await produce(lane, conn, 7, partition, batch, p.transactionalId);
    lap(stepMs.produce);
    const ended = await call<{ errorCode: number }>(lane, conn, ApiKey.EndTxn, 3, {
      ...ids,
      committed: true,
    });
    if (ended.errorCode !== 0) throw new Error(`EndTxn failed with error ${ended.errorCode}`);
    lap(stepMs.end);
  }, ms);
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** One transactional id per lane and transaction version, each with its producer id. */
async function initProducers(conns: Lanes, version: 1 | 2): Promise<Producer[]> {
  const producers: Producer[] = [];
  for (let lane = 0; lane < lanes; lane++) {
    const transactionalId = `bench-txn${version}-${lane}`;
    const init = await call<InitProducerIdResponse>(lane, conns[lane]!, ApiKey.InitProducerId, 2, {
      transactionalId,
      transactionTimeoutMs: 60_000,
    });
    if (init.errorCode !== 0) throw new Error(`InitProducerId failed with error ${init.errorCode}`);
    producers.push({
      transactionalId,
      producerId: init.producerId,
      producerEpoch: init.producerEpoch,
      sequence: 0,
    });
  }
  return producers;
}

/** One round's line of the table; without a plain run (`KAFKA_TXN_PLAIN=0`), its cells are `–`. */
function roundRow(round: number, version: 1 | 2, a: Run | undefined, t: Run, steps: string): string {
  const ratio = a === undefined ? '–' : `${((100 * t.recordsPerSecond) / a.recordsPerSecond).toFixed(0)} %`;
  const cpu = (run: Run | undefined, pick: (r: Run) => number) =>
    run === undefined ? '–' : pick(run).toFixed(1);
  const broker = `${cpu(a, (r) => r.cpuMsPerKilo)} / ${cpu(t, (r) => r.cpuMsPerKilo)} (${cpu(a, (r) => r.loopCpuMsPerKilo)} / ${cpu(t, (r) => r.loopCpuMsPerKilo)})`;
  const client = `${cpu(a, (r) => r.clientCpuMsPerKilo)} / ${cpu(t, (r) => r.clientCpuMsPerKilo)}`;
  const profiled =
    plainRounds && brokerNodeArgs.length === 0 ? '' : ` broker pid ${brokerPid}, ${t.steps} transactions`;
  return `| ${round} | ${plainCells(a)} | ${version} | ${fmt(t.recordsPerSecond)} | ${t.p50.toFixed(2)} / ${t.p99.toFixed(2)} | ${ratio} | ${steps} | ${broker} | ${client} |${profiled}\n`;
}

/** A plain run's rate and latency cells, `–` without one. */
function plainCells(a: Run | undefined): string {
  return a === undefined ? '– | –' : `${fmt(a.recordsPerSecond)} | ${a.p50.toFixed(2)} / ${a.p99.toFixed(2)}`;
}

/** A round's line when no transactional round runs (`KAFKA_TXN_VERSION=0`): the plain run alone. */
function plainRow(round: number, a: Run): string {
  const cpu = `${a.cpuMsPerKilo.toFixed(1)} / – (${a.loopCpuMsPerKilo.toFixed(1)} / –)`;
  const profiled = brokerNodeArgs.length === 0 ? '' : ` broker pid ${brokerPid}, ${a.steps} batches`;
  return `| ${round} | ${plainCells(a)} | – | – | – | – | – | ${cpu} | ${a.clientCpuMsPerKilo.toFixed(1)} / – |${profiled}\n`;
}

/** One run of each kind, `warmupMs` long, not reported (its trace, if any, is dropped unwritten). */
async function warmUp(conns: Lanes, byVersion: ReadonlyMap<1 | 2, Producer[]>): Promise<void> {
  if (plainRounds) await plain(conns, warmupMs);
  for (const [version, producers] of byVersion)
    await (version === 2 ? transactionalV2 : transactional)(conns, producers, warmupMs);
}

export async function runKafkaTxnBench(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-txn-bench-'));
  const cli = await startCli(
    [
      ...['--storage', 'file', '--data-dir', dataDir, '--fsync', 'always', '--log-level', 'warn'],
      ...listenerFlags({ kafka: 'auto' }),
    ],
    { nodeArgs: brokerNodeArgs, ...(brokerCli === undefined ? {} : { cliPath: brokerCli }) },
  );
  try {
    brokerPid = cli.pid;
    const conn = await Conn.open(cli.ports.kafka!);
    const conns: Conn[] = [conn];
    for (let lane = 1; lane < lanes; lane++)
      conns.push(sharedConnection ? conn : await Conn.open(cli.ports.kafka!));
    await conn.request(ApiKey.CreateTopics, 4, {
      topics: [{ name: topic, numPartitions: partitions, replicationFactor: 1 }],
      timeoutMs: 5000,
    });
    const byVersion = new Map<1 | 2, Producer[]>();
    for (const version of txnVersions) byVersion.set(version, await initProducers(conns, version));
    process.stdout.write(
      `transactions: ${lanes} producers ${sharedConnection ? 'pipelined on one shared connection' : 'on a connection each'}, one batch of ${recordsPerBatch} × ${recordBytes} B per transaction, acks=all, ${partitions} partitions; plain acks=all the same shape; transaction version ${txnVersions.join(' and ')}\n` +
        '| round | plain rec/s | plain p50 / p99 ms | TV | transactional rec/s | transactional p50 / p99 ms | transactional % of plain | p50 ms AddPartitionsToTxn / Produce / EndTxn | broker CPU ms per 1,000 records, plain / transactional (of it the event loop) | bench client CPU ms per 1,000 records, plain / transactional |\n| ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |\n',
    );
    await warmUp(conns, byVersion);
    const ratios = new Map<1 | 2, number[]>(txnVersions.map((v) => [v, []]));
    let traces = '';
    for (let round = 1; round <= rounds; round++) {
      const a = plainRounds ? await plain(conns) : undefined;
      traces += a?.trace?.report(`${round} plain`) ?? '';
      if (a !== undefined && byVersion.size === 0) process.stdout.write(plainRow(round, a));
      for (const [version, producers] of byVersion) {
        for (const steps of Object.values(stepMs)) steps.length = 0;
        const t = await (version === 2 ? transactionalV2 : transactional)(conns, producers);
        traces += t.trace?.report(`${round} v${version}`) ?? '';
        const steps = Object.values(stepMs)
          .map((xs) => (xs.length === 0 ? '–' : median(xs).toFixed(1)))
          .join(' / ');
        if (a !== undefined) ratios.get(version)!.push((100 * t.recordsPerSecond) / a.recordsPerSecond);
        process.stdout.write(roundRow(round, version, a, t, steps));
      }
    }
    if (traces !== '') process.stdout.write(`\n| run | span | ms |\n| --- | --- | --- |\n${traces}`);
    for (const [version, list] of ratios)
      if (list.length > 0)
        process.stdout.write(
          `median transactional / plain, transaction version ${version}: ${median(list).toFixed(0)} %\n`,
        );
    for (const c of new Set(conns)) c.socket.destroy();
  } finally {
    await cli.stop();
    rmSync(dataDir, { recursive: true, force: true });
  }
}
