/**
 * What one Kafka client can make a live broker hold: a child `switchyard start` (file storage, Kafka
 * on loopback only) is sent `count` requests that each create state (producer ids, transactional
 * ids, fetch sessions, groups), pipelined in windows of `windowRequests`. Beside it another
 * connection sends ApiVersions every `probeIntervalMs`; its slowest answer is the longest another
 * client waited. Printed: the answers' error codes, the broker's RSS before, after and after a restart,
 * the restart's time to ready. Not a test: `node dist/testing/kafka-state-flood.js <attack> [count]
 * [cli]`, attacks `idempotent`, `transactional`, `sessions`, `groups`, `consumerGroups`; `cli` another
 * build's dist/cli/switchyard.js (A/B runs); FLOOD_FLAGS adds broker flags, SESSION_PARTITIONS sets
 * each fetch session's partitions, FLOOD_PROFILE_DIR where the restart's CPU profile goes
 * (FLOOD_PROFILE=flood: the flooded broker's instead).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiKey } from '../src/protocols/kafka/codec/index.js';
import { WireClient } from './kafka-wire.js';
import { listenerFlags, type RunningCli, startCli } from './server-cli.js';

const attack = process.argv[2] ?? 'idempotent';
const count = Number(process.argv[3] ?? 100_000);
const cli = process.argv[4];
/** Requests sent before their answers are read. */
const windowRequests = 500;
const probeIntervalMs = 20;
/** The longest a probe's answer is waited for before the run counts as failed. */
const probeWaitMsMax = 120_000;
/** The whole flood, at most. */
const floodMsMax = 300_000;
/** Partitions in each fetch session (under kafkaRequestEntriesMax with its topic). */
const sessionPartitions = Number(process.env['SESSION_PARTITIONS'] ?? 9_990);
/** More `switchyard start` flags, space-separated (`--producer-ids-max 20000`). */
const extraFlags = (process.env['FLOOD_FLAGS'] ?? '').split(' ').filter((flag) => flag !== '');
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

/** api key, version, body of the `i`th request of the attack. */
const requests: Record<string, (i: number) => [number, number, object]> = {
  idempotent: () => [
    ApiKey.InitProducerId,
    4,
    { transactionalId: null, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 },
  ],
  transactional: (i) => [
    ApiKey.InitProducerId,
    4,
    { transactionalId: `flood-${i}`, transactionTimeoutMs: 60_000, producerId: -1n, producerEpoch: -1 },
  ],
  sessions: () => [
    ApiKey.Fetch,
    12,
    {
      replicaId: -1,
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1024,
      sessionId: 0,
      sessionEpoch: 0,
      topics: [
        {
          topic: 'flood-fetch',
          partitions: range(sessionPartitions).map((p) => ({ partition: p, fetchOffset: 0n })),
        },
      ],
    },
  ],
  groups: (i) => [
    ApiKey.OffsetCommit,
    8,
    {
      groupId: `flood-${i}`,
      generationIdOrMemberEpoch: -1,
      topics: [{ name: 'flood-topic', partitions: [{ partitionIndex: 0, committedOffset: 1n }] }],
    },
  ],
  consumerGroups: (i) => [
    ApiKey.ConsumerGroupHeartbeat,
    0,
    {
      groupId: `flood-${i}`,
      memberId: `m${i}`,
      memberEpoch: 0,
      rebalanceTimeoutMs: 60_000,
      subscribedTopicNames: ['flood-topic'],
      topicPartitions: [],
    },
  ],
};

function rssMiB(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').match(/VmRSS:\s+(\d+)/);
  return Math.round(Number(line?.[1] ?? 0) / 1024);
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** Where a restart writes a CPU profile (FLOOD_PROFILE_DIR), if anywhere. */
const profileDir = process.env['FLOOD_PROFILE_DIR'];
/** FLOOD_PROFILE=flood profiles the broker under the flood instead of the restart. */
const floodProfiled = process.env['FLOOD_PROFILE'] === 'flood';

async function start(dataDir: string, profiled = false): Promise<{ broker: RunningCli; readyMs: number }> {
  const began = performance.now();
  const flags = ['--storage', 'file', '--data-dir', dataDir, '--log-level', 'warn', ...extraFlags];
  const broker = await startCli([...flags, ...listenerFlags({ kafka: 'auto' })], {
    lifetimeMs: floodMsMax + 120_000,
    timeoutMs: 120_000,
    ...(cli === undefined ? {} : { cliPath: cli }),
    ...(profiled && profileDir !== undefined
      ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] }
      : {}),
  });
  return { broker, readyMs: Math.round(performance.now() - began) };
}

/** ApiVersions every probeIntervalMs until stopped; resolves to the slowest answer in ms. */
function probe(port: number): { stop: () => Promise<number> } {
  let running = true;
  let slowest = 0;
  const done = (async () => {
    const client = await WireClient.open(port);
    while (running) {
      const began = performance.now();
      client.send(ApiKey.ApiVersions, 3, { clientSoftwareName: 'probe', clientSoftwareVersion: '1' });
      await client.receive(ApiKey.ApiVersions, 3, probeWaitMsMax);
      slowest = Math.max(slowest, performance.now() - began);
      await new Promise((resolve) => setTimeout(resolve, probeIntervalMs));
    }
    client.close();
  })();
  return {
    stop: async () => {
      running = false;
      await done;
      return Math.round(slowest);
    },
  };
}

/** The answer's error code, or its first partition's (OffsetCommit answers per partition). */
function errorCodeOf(body: Record<string, unknown>): number {
  // biome-ignore lint/suspicious/noExplicitAny: a decoded answer of one of several APIs
  const partition = (body as any).topics?.[0]?.partitions?.[0];
  return Number(partition?.errorCode ?? body['errorCode'] ?? 0);
}

async function flood(port: number): Promise<Map<number, number>> {
  const make = requests[attack];
  if (make === undefined) throw new Error(`unknown attack ${attack}`);
  const client = await WireClient.open(port);
  // A first request is held to the handshake's frame size, as a client's ApiVersions would be.
  await client.request(ApiKey.ApiVersions, 3, { clientSoftwareName: 'flood', clientSoftwareVersion: '1' });
  // The topic the groups commit offsets of and subscribe to.
  await client.request(ApiKey.Metadata, 12, {
    topics: [{ name: 'flood-topic' }],
    allowAutoTopicCreation: true,
  });
  const codes = new Map<number, number>();
  const deadline = Date.now() + floodMsMax;
  for (let sent = 0; sent < count && Date.now() < deadline; ) {
    const n = Math.min(windowRequests, count - sent);
    let apiKey = 0;
    let version = 0;
    for (let k = 0; k < n; k++) {
      [apiKey, version] = make(sent + k) as [number, number, object];
      client.send(apiKey, version, (make(sent + k) as [number, number, object])[2]);
    }
    for (let k = 0; k < n; k++) {
      const { body } = await client.receive<Record<string, unknown>>(apiKey, version, 60_000);
      const code = errorCodeOf(body);
      codes.set(code, (codes.get(code) ?? 0) + 1);
    }
    sent += n;
  }
  client.close();
  return codes;
}

async function main(): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'state-flood-'));
  const running: RunningCli[] = [];
  try {
    const { broker, readyMs: firstReadyMs } = await start(dataDir, floodProfiled);
    running.push(broker);
    const port = broker.ports.kafka ?? 0;
    const rssBefore = rssMiB(broker.pid);
    const load = loadavg();
    const watch = probe(port);
    const began = performance.now();
    const codes = await flood(port);
    const floodMs = Math.round(performance.now() - began);
    const slowestMs = await watch.stop();
    const rssAfter = rssMiB(broker.pid);
    await broker.stop();
    const { broker: again, readyMs } = await start(dataDir, !floodProfiled);
    running.push(again);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const rssRestarted = rssMiB(again.pid);
    await again.stop();
    const answered = [...codes].map(([code, n]) => `${code}:${n}`).join(' ');
    console.log(
      `${attack} ${count}: ${floodMs} ms, codes ${answered}, other client waited ≤${slowestMs} ms, ` +
        `RSS ${rssBefore}→${rssAfter} MiB, restart ready in ${readyMs} ms (first ${firstReadyMs}) ` +
        `at RSS ${rssRestarted} MiB, load ${load}→${loadavg()}`,
    );
  } finally {
    for (const broker of running) if (broker.exitStatus() === undefined) broker.kill();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
