/**
 * `npm run bench -- many-consumers [other build's dist …]`: what consumers without credit cost a
 * publish. A core in memory holds one transient queue with N consumers at prefetch 1 that never ack
 * (one owner each, as a careless or hostile client's) and three that ack every message; after each
 * idle consumer has its one message, 256 B publishes go through `CoreClient.publish` and the process's
 * CPU per publish is taken (CPU time: other processes on a shared machine do not count). N = 0, 100,
 * 10,000 and 60,000. Builds given on the command line (another checkout's `dist`, e.g. main's) run
 * beside this one in the same process, alternated case by case and round by round, after a warm-up
 * round that is not counted (the JIT's first compiles); medians of the rounds are printed. Each case is bounded: `publishesMax` publishes or `caseMsMax`, whichever first.
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';

const idleCounts = [0, 100, 10_000, 60_000];
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
}

async function loadBuild(dist: string, name: string): Promise<Build> {
  const at = (path: string) => import(resolve(dist, path));
  const [broker, context, memory] = await Promise.all([
    at('src/core/broker.js'),
    at('src/core/entry/context.js'),
    at('src/storage/memory.js'),
  ]);
  return {
    name,
    BrokerCore: broker.BrokerCore,
    internalContext: context.internalContext,
    MemoryStorage: memory.MemoryStorage,
  };
}

const turn = () => new Promise<void>((done) => setImmediate(done));

function cpuUs(since: NodeJS.CpuUsage): number {
  const used = process.cpuUsage(since);
  return used.user + used.system;
}

/** CPU µs per publish on a queue with `idle` consumers at their window and three with credit. */
async function runCase(build: Build, idle: number): Promise<number> {
  const core = await build.BrokerCore.open({ storage: new build.MemoryStorage() });
  try {
    const client = core.connect(build.internalContext('/', 'bench'));
    const queue = 'crowded';
    client.declareQueue(queue, { durable: false });
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
  } finally {
    await core.close();
  }
}

export async function runManyConsumersBench(args: string[]): Promise<void> {
  const own = resolve(fileURLToPath(new URL('..', import.meta.url)));
  const builds = [await loadBuild(own, 'this build')];
  for (const dist of args) builds.push(await loadBuild(dist, dist));
  for (const build of builds) for (const idle of idleCounts.slice(0, 2)) await runCase(build, idle);
  const results = new Map<string, number[]>();
  for (let round = 0; round < rounds; round++) {
    for (const idle of idleCounts) {
      for (const build of round % 2 === 0 ? builds : [...builds].reverse()) {
        const key = `${idle}\t${build.name}`;
        const us = await runCase(build, idle);
        results.set(key, [...(results.get(key) ?? []), us]);
        process.stdout.write(`round ${round + 1}: ${idle} idle, ${build.name}: ${us.toFixed(2)} µs\n`);
      }
    }
  }
  process.stdout.write(
    '\n| consumers without credit | build | CPU µs per publish (median) | runs |\n|---:|---|---:|---|\n',
  );
  for (const idle of idleCounts) {
    for (const build of builds) {
      const runs = results.get(`${idle}\t${build.name}`) ?? [];
      const shown = runs.map((us) => us.toFixed(1)).join(', ');
      process.stdout.write(`| ${idle} | ${build.name} | ${median(runs).toFixed(2)} | ${shown} |\n`);
    }
  }
}
