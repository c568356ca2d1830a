/**
 * `npm run bench -- permissions`: what the authorizer costs on the publish path. An embedded broker
 * (memory storage, no listener) takes transient publishes through core from two callers in turn: core's
 * internal principal, which no permission check stops, and a user with permissions and a topic
 * permission (regexes compiled once per change of the store, grants cached per principal), publishing to
 * `amq.topic` so both the write permission and the topic permission are checked on every message.
 * Rounds alternate the callers; the figures are messages/s and the heap allocated per message.
 */
import { Broker } from '../src/server/broker.js';
import { silentLogger } from '../src/shared/logger.js';
import { allPortsOff } from '../testing/server-helpers.js';

const messages = 200_000;
const rounds = 9;
const body = new Uint8Array(256);
// `bench.{username}.…`: the topic permission below, with the user's name filled in.
const routingKey = 'bench.bench.a';

interface Sample {
  readonly perSecond: number;
  readonly bytesPerMessage: number;
}

function run(publish: () => void): Sample {
  const heapBefore = process.memoryUsage().heapUsed;
  const start = process.hrtime.bigint();
  for (let i = 0; i < messages; i++) publish();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const heapAfter = process.memoryUsage().heapUsed;
  return { perSecond: messages / seconds, bytesPerMessage: Math.max(0, heapAfter - heapBefore) / messages };
}

const median = (values: number[]): number =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;

export async function runPermissionsBench(): Promise<void> {
  const broker = await Broker.start({ ...allPortsOff, storage: 'memory', logger: silentLogger() });
  try {
    const admin = broker.client('/');
    await admin.putUser('bench', 'bench-password', []);
    await admin.setPermission('/', 'bench', { configure: '^bench', write: '^amq\\.topic$', read: '^bench' });
    await admin.setTopicPermission('/', 'bench', 'amq.topic', {
      write: '^bench\\.{username}\\.',
      read: '.*',
    });
    admin.declareQueue('bench.sink', { durable: false });
    admin.bindQueue('bench.sink', 'amq.topic', 'bench.#');
    const user = broker.core.connect({
      principal: { user: 'bench', tags: [] },
      vhost: '/',
      connectionId: 'bench-user',
      protocol: 'amqp',
      peerAddress: '127.0.0.1',
    });
    const callers = { internal: admin, user } as const;
    const samples: Record<keyof typeof callers, Sample[]> = { internal: [], user: [] };
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? (['internal', 'user'] as const) : (['user', 'internal'] as const);
      for (const name of order) {
        const client = callers[name];
        samples[name].push(run(() => client.publish('amq.topic', routingKey, { body, properties: {} })));
        admin.purgeQueue('bench.sink');
        // Let the purged messages go before the next run, so one caller's garbage does not slow the other.
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    report(samples);
  } finally {
    await broker.stop();
  }
}

function report(samples: Record<'internal' | 'user', Sample[]>): void {
  const rate = (name: 'internal' | 'user') => median(samples[name].map((s) => s.perSecond));
  const bytes = (name: 'internal' | 'user') => median(samples[name].map((s) => s.bytesPerMessage));
  // Paired by round: the two callers of one round ran back to back, so the machine's drift cancels.
  const ratios = samples.user.map((s, i) => s.perSecond / samples.internal[i]!.perSecond);
  const cost = 100 * (1 - median(ratios));
  const lines = [
    `permissions: ${messages.toLocaleString('en')} transient publishes of 256 B to amq.topic per run, ${rounds} rounds, medians`,
    '| caller | messages/s | heap bytes per message | runs (messages/s) |',
    '|---|---:|---:|---|',
    ...(['internal', 'user'] as const).map(
      (name) =>
        `| ${name === 'internal' ? 'internal principal (no check)' : 'user with permissions + topic permission'} | ${Math.round(rate(name)).toLocaleString('en')} | ${bytes(name).toFixed(1)} | ${samples[name].map((s) => Math.round(s.perSecond).toLocaleString('en')).join(' · ')} |`,
    ),
    `permission check cost: ${cost.toFixed(1)} % of publish throughput (median of the rounds' user / internal ratios)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
