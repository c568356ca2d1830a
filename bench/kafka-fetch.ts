/**
 * `npm run bench -- kafka-fetch [passes] [another build's dist/cli/switchyard.js] [restart]`: large fetches only,
 * with the broker's CPU split between its main thread (the event loop, which sends) and the rest
 * (storage's read thread, libuv's pool). One partition of 1 KB records is produced into a broker of each
 * build (file storage, fsync never), then every pass measures the loopback and reads the whole topic
 * back from each broker in turn, alternating which goes first, in a forked reader
 * (testing/kafka-bench-peer.ts), as `npm run bench -- kafka` reads. With
 * `restart` each broker is restarted on its data after producing, so what it reads was written by an
 * earlier run: its first read of a sealed segment checks every record's CRC, later passes do not
 * (docs/storage-format.md, "Verified once"). `KAFKA_BENCH_BROKER_FLAGS` (space-separated) adds flags to
 * this build's broker only, e.g. `--storage-open-files-max 64` against another build.
 * `KAFKA_FETCH_PARTITIONS` and `KAFKA_FETCH_RECORD_BYTES` change the topic (1 partition, 1024 B records
 * unless set), e.g. 6 and 256 for the `kafka` bench's slowest fetch rows read in passes.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKey } from '../src/protocols/kafka/codec/index.js';
import { listenerFlags, type RunningCli, startCli } from '../testing/server-cli.js';
import { brokerFlags, Conn, loopbackMBps, produce, readBack } from './kafka.js';
import { cpuMs } from './stats.js';

/** What each broker's topic holds before the reads: enough that fixed costs do not dominate a pass. */
const topicBytesMin = 150e6;
/** Produce rounds (3 s each) at most, on a loaded machine that stores little per round. */
const produceRoundsMax = 6;
const passesMax = 10;
const partitions = Number(process.env['KAFKA_FETCH_PARTITIONS'] ?? 1);
const recordBytes = Number(process.env['KAFKA_FETCH_RECORD_BYTES'] ?? 1024);

interface Build {
  readonly name: string;
  cli: RunningCli;
  readonly dataDir: string;
  /** How it was started, to start it again on its data. */
  readonly start: () => Promise<RunningCli>;
}

async function startBuild(name: string, cliPath: string | undefined, more: string[] = []): Promise<Build> {
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-kafka-fetch-bench-'));
  const flags = ['--storage', 'file', '--data-dir', dataDir, '--fsync', 'never', '--log-level', 'warn'];
  const start = () =>
    startCli([...flags, ...more, ...listenerFlags({ kafka: 'auto' })], {
      ...(cliPath === undefined ? {} : { cliPath }),
      lifetimeMs: 15 * 60_000,
    });
  const cli = await start();
  const conn = await Conn.open(cli.ports.kafka!);
  await conn.request(ApiKey.CreateTopics, 4, {
    topics: [{ name: 'fetch', numPartitions: partitions, replicationFactor: 1 }],
    timeoutMs: 5000,
  });
  let mb = 0;
  for (let round = 0; round < produceRoundsMax && mb * 1e6 < topicBytesMin; round++)
    mb += (await produce(conn, 'fetch', partitions, recordBytes)).mb;
  conn.socket.destroy();
  process.stdout.write(`${name}: ${mb.toFixed(0)} MB produced\n`);
  return { name, cli, dataDir, start };
}

async function readPass(build: Build, pass: number, loopback: number): Promise<void> {
  const pid = build.cli.pid;
  const [totalBefore, mainBefore] = [cpuMs(pid), cpuMs(pid, pid)];
  const r = await readBack(build.cli.ports.kafka!, 'fetch', partitions);
  const per100MB = (ms: number) => (ms / (r.bytes / 1e8)).toFixed(0);
  const total = cpuMs(pid) - totalBefore;
  const main = cpuMs(pid, pid) - mainBefore;
  const mbps = r.bytes / 1e6 / r.seconds;
  const load = loadavg()[0]!.toFixed(1);
  process.stdout.write(
    `| ${pass} | ${build.name} | ${load} | ${(r.bytes / 1e6).toFixed(0)} | ${mbps.toFixed(0)} | ${loopback.toFixed(0)} | ${((100 * mbps) / loopback).toFixed(0)} % | ${per100MB(total)} | ${per100MB(main)} | ${per100MB(total - main)} |\n`,
  );
}

export async function runKafkaFetchBench(args: string[]): Promise<void> {
  const passes = Math.min(passesMax, Math.max(1, Number(args[0] ?? 3)));
  const builds = [await startBuild('this build', undefined, brokerFlags())];
  try {
    if (args[1] !== undefined && args[1] !== 'restart') builds.push(await startBuild(args[1], args[1]));
    if (args.includes('restart'))
      for (const build of builds) {
        await build.cli.stop();
        build.cli = await build.start();
      }
    process.stdout.write(
      '| pass | build | load | MB read | read MB/s | loopback MB/s | read % of loopback | broker CPU ms per 100 MB | main thread | other threads |\n| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n',
    );
    for (let pass = 1; pass <= passes; pass++) {
      const loopback = await loopbackMBps();
      for (const build of pass % 2 === 1 ? builds : [...builds].reverse())
        await readPass(build, pass, loopback);
    }
  } finally {
    for (const build of builds) {
      await build.cli.stop();
      rmSync(build.dataDir, { recursive: true, force: true });
    }
  }
}
