/**
 * `npm run bench -- many-consumers [other build's dist …]`: what consumers without credit cost a
 * publish. A core in memory holds one transient queue with N consumers at prefetch 1 that never ack
 * (one owner each, as a careless or hostile client's) and three that ack every message; after each
 * idle consumer has its one message, 256 B publishes go through `CoreClient.publish` and the process's
 * CPU per publish is taken (CPU time: other processes on a shared machine do not count). N = 0, 100,
 * 10,000 and 60,000. Builds given on the command line (another checkout's `dist`, e.g. main's) run
 * beside this one in the same process, alternated case by case and round by round, after a warm-up
 * round that is not counted (the JIT's first compiles); medians of the rounds are printed. Each case is bounded: `publishesMax` publishes or `caseMsMax`, whichever first.
 * A second table: N consumers (100, 10,000, 60,000) sharing one channel-wide prefetch of 1, as an AMQP
 * channel's `basic.qos global`, a backlog behind them; the CPU per ack, each letting the next message
 * out to the next consumer in turn.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';

const idleCounts = [0, 100, 10_000, 60_000];
const sharingCounts = [100, 10_000, 60_000];
const acksMax = 20_000;
/** Acks between checks of the time bound: at 60,000 consumers one may cost tens of ms. */
const ackBatch = 50;
const rounds = 5;
const publishesMax = 200_000;
const caseMsMax = 4_000;
const batch = 500;
const body = new Uint8Array(256);

/** What a case needs of a build: the core, its caller context and memory storage. */
interface Build {
  readonly name: string;
  readonly BrokerCore: typeof import('../src/core/broker.js').BrokerCore;
  readonly internalContext: typeof import('../src/core/entry/context.js').internalContext;
  readonly MemoryStorage: typeof import('../src/storage/memory.js').MemoryStorage;
  readonly SharedCredit: typeof import('../src/core/credit.js').SharedCredit;
}

async function loadBuild(dist: string, name: string): Promise<Build> {
  const at = (path: string) => import(resolve(dist, path));
  const [broker, context, memory, credit] = await Promise.all([
    at('src/core/broker.js'),
    at('src/core/entry/context.js'),
    at('src/storage/memory.js'),
    at('src/core/credit.js'),
  ]);
  return {
    name,
    BrokerCore: broker.BrokerCore,
    internalContext: context.internalContext,
    MemoryStorage: memory.MemoryStorage,
    SharedCredit: credit.SharedCredit,
  };
}

const turn = () => new Promise<void>((done) => setImmediate(done));

function cpuUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

type BenchClient = import('../src/core/api.js').CoreClient;

/** `run` on a client of a fresh core in memory with the transient queue `queue` declared; the core closed after. */
async function onQueue<T>(build: Build, queue: string, run: (client: BenchClient) => Promise<T>): Promise<T> {
  const core = await build.BrokerCore.open({ storage: new build.MemoryStorage() });
  try {
    const client = core.connect(build.internalContext('/', 'bench'));
    client.declareQueue(queue, { durable: false });
    return await run(client);
  } finally {
    await core.close();
  }
}

/** CPU µs per publish on a queue with `idle` consumers at their window and three with credit. */
function runCase(build: Build, idle: number): Promise<number> {
  const queue = 'crowded';
  return onQueue(build, queue, async (client) => {
    for (let i = 0; i < idle; i++) {
      client.consume(queue, { tag: `idle${i}`, owner: `idle${i}`, prefetch: 1, deliver: () => {} });
    }
    for (const tag of ['a', 'b', 'c']) {
      client.consume(queue, {
        tag,
        owner: tag,
        prefetch: 100,
        deliver: (d) => client.ack(queue, d.id),
      });
    }
    await turn();
    const publish = () => void client.publish('', queue, { body, properties: {} });
    // Each idle consumer takes its one message, and a warm-up round goes to the three, uncounted.
    for (let i = 0; i < idle + batch; i++) publish();
    await turn();
    const start = performance.now();
    const cpu = process.cpuUsage();
    let sent = 0;
    while (sent < publishesMax && performance.now() - start < caseMsMax) {
      for (let i = 0; i < batch; i++) publish();
      sent += batch;
      await turn();
    }
    return cpuUs(cpu) / sent;
  });
}

/** CPU µs per ack with `sharing` consumers under one channel-wide prefetch of 1, a backlog behind. */
function runSharedCase(build: Build, sharing: number): Promise<number> {
  const queue = 'shared';
  return onQueue(build, queue, async (client) => {
    const channel = new build.SharedCredit(1);
    const held: number[] = [];
    for (let i = 0; i < sharing; i++) {
      const deliver = (d: { id: number }) => void held.push(d.id);
      client.consume(queue, { tag: `c${i}`, owner: 'channel', limits: [channel], deliver });
    }
    await turn();
    const start = performance.now();
    let acked = 0;
    let cpu = process.cpuUsage();
    while (acked < acksMax && performance.now() - start < caseMsMax) {
      cpu = pause(cpu, () => {
        for (let i = 0; i < ackBatch; i++) void client.publish('', queue, { body, properties: {} });
      });
      for (let i = 0; i < ackBatch; i++) client.ack(queue, held.shift()!);
      acked += ackBatch;
      await turn();
    }
    return cpuUs(cpu) / acked;
  });
}

/** Runs `uncounted`, its CPU left out of what was counted since `since`: the new counting start. */
function pause(since: NodeJS.CpuUsage, uncounted: () => void): NodeJS.CpuUsage {
  const counted = process.cpuUsage(since);
  uncounted();
  const now = process.cpuUsage();
  return { user: now.user - counted.user, system: now.system - counted.system };
}

type Case = (build: Build, n: number) => Promise<number>;

/** Each case of `ns` for every build, alternated round by round after an uncounted warm-up: the runs. */
async function alternate(builds: Build[], ns: number[], run: Case): Promise<Map<string, number[]>> {
  for (const build of builds) for (const n of ns.slice(0, 2)) await run(build, n);
  const results = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const n of ns) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        const key = `${n}\t${build.name}`;
        const us = await run(build, n);
        results.set(key, [...(results.get(key) ?? []), us]);
        process.stdout.write(`round ${round + 1}: ${n}, ${build.name}: ${us.toFixed(2)} µs\n`);
      }
    }
  }
  return results;
}

function printTable(heading: string, builds: Build[], ns: number[], results: Map<string, number[]>): void {
  process.stdout.write(`\n| ${heading} |\n|---:|---|---:|---|\n`);
  for (const n of ns) {
    for (const build of builds) {
      const runs = results.get(`${n}\t${build.name}`) ?? [];
      const shown = runs.map((us) => us.toFixed(1)).join(', ');
      process.stdout.write(`| ${n} | ${build.name} | ${median(runs).toFixed(2)} | ${shown} |\n`);
    }
  }
}

export async function runManyConsumersBench(args: string[]): Promise<void> {
  const own = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const builds = [await loadBuild(own, 'this build')];
  for (const dist of args) builds.push(await loadBuild(dist, dist));
  const idle = await alternate(builds, idleCounts, runCase);
  const shared = await alternate(builds, sharingCounts, runSharedCase);
  printTable(
    'consumers without credit | build | CPU µs per publish (median) | runs',
    builds,
    idleCounts,
    idle,
  );
  printTable(
    'consumers sharing a prefetch of 1 | build | CPU µs per ack (median) | runs',
    builds,
    sharingCounts,
    shared,
  );
}
