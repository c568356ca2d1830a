/**
 * `npm run bench -- permissions`: what the authorizer costs on the publish path. An embedded broker
 * (memory storage, no listener) takes transient publishes through core from two callers in turn: core's
 * internal principal, which no permission check stops, and a user with permissions and a topic
 * permission (regexes compiled once per change of the store, grants cached per principal), publishing to
 * `amq.topic` so both the write permission and the topic permission are checked on every message.
 * Rounds alternate the callers; the figures are messages/s and the heap allocated per message.
 *
 * The difference of two throughputs on a shared machine is noisy, so the checks are also timed alone:
 * the authorizer deciding the same publish, and a Kafka connection's ACL decision for a produce
 * (src/protocols/kafka/acls.ts), in nanoseconds and heap bytes per check; their share of a publish is
 * the check's time over the internal caller's time per message (garbage collection included, as in
 * any throughput).
 */
import { AclIndex } from '../src/core/acl-index.js';
import type { CoreClient } from '../src/core/api.js';
import { PermissionAuthorizer } from '../src/core/entry/authorize.js';
import type { Command } from '../src/core/entry/commands.js';
import type { CallerContext } from '../src/core/entry/context.js';
import { ConnectionAcls } from '../src/protocols/kafka/acls.js';
import type { KafkaBroker } from '../src/protocols/kafka/context.js';
import { Broker } from '../src/server/broker.js';
import { silentLogger } from '../src/shared/logger.js';
import { allPortsOff } from '../testing/server-helpers.js';
import { median } from './stats.js';

const messages = 200_000;
const rounds = 9;
/** Runs of the checks alone. */
const checkRounds = 9;
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
    reportAlone(checksAlone(), median(samples.internal.map((s) => s.perSecond)));
  } finally {
    await broker.stop();
  }
}

const checks = 2_000_000;

interface CheckSample {
  readonly ns: number;
  readonly bytes: number;
}

function timeChecks(check: () => void): CheckSample {
  const heapBefore = process.memoryUsage().heapUsed;
  const start = process.hrtime.bigint();
  for (let i = 0; i < checks; i++) check();
  const ns = Number(process.hrtime.bigint() - start) / checks;
  return { ns, bytes: Math.max(0, process.memoryUsage().heapUsed - heapBefore) / checks };
}

/** The publish check and a Kafka produce's ACL decision, each timed alone over the same patterns. */
function checksAlone(): Record<'publish' | 'kafka', CheckSample[]> {
  const exchanges = new Map([['/', new Map([['amq.topic', 'topic' as const]])]]);
  const authorizer = new PermissionAuthorizer({
    accessGeneration: 1,
    userTags: () => [],
    permission: () => ({ configure: '^bench', write: '^amq\\.topic$', read: '^bench' }),
    topicPermissions: () => new Map([['amq.topic', { write: '^bench\\.{username}\\.', read: '.*' }]]),
    exchangeType: (vhost, name) => exchanges.get(vhost)?.get(name),
    queueExists: () => false,
    aclIndex: () => new AclIndex([]),
  });
  const context: CallerContext = {
    principal: { user: 'bench', tags: [] },
    vhost: '/',
    connectionId: 'bench',
    protocol: 'amqp',
    peerAddress: '127.0.0.1',
  };
  const command = {
    kind: 'message.publish',
    exchange: 'amq.topic',
    routingKey,
    message: { body, properties: {} },
  } as unknown as Command;
  const caller = { authorizeAcl: () => true } as unknown as CoreClient;
  const kafkaBroker = { core: { accessGeneration: 1 } } as unknown as KafkaBroker;
  const acls = new ConnectionAcls(kafkaBroker, '127.0.0.1', () => caller);
  const out: Record<'publish' | 'kafka', CheckSample[]> = { publish: [], kafka: [] };
  for (let round = 0; round < checkRounds; round++) {
    out.publish.push(timeChecks(() => authorizer.authorize(context, command)));
    out.kafka.push(timeChecks(() => acls.allows('User:bench', 'TOPIC', 'bench.orders', 'WRITE')));
  }
  return out;
}

function reportAlone(alone: Record<'publish' | 'kafka', CheckSample[]>, internalPerSecond: number): void {
  const nsPerMessage = 1e9 / internalPerSecond;
  const lines = (['publish', 'kafka'] as const).map((name) => {
    const ns = median(alone[name].map((s) => s.ns));
    const bytes = median(alone[name].map((s) => s.bytes));
    const what = name === 'publish' ? 'publish check (write + topic write)' : 'Kafka produce ACL decision';
    return `| ${what} | ${ns.toFixed(1)} | ${bytes.toFixed(2)} | ${((100 * ns) / nsPerMessage).toFixed(2)} % |`;
  });
  const header = [
    `checks alone: ${checks.toLocaleString('en')} per run, ${checkRounds} runs, medians; share of the internal caller's ${nsPerMessage.toFixed(0)} ns per publish`,
    '| check | ns per check | heap bytes per check | share of a publish |',
    '|---|---:|---:|---:|',
  ];
  process.stdout.write(`${[...header, ...lines].join('\n')}\n`);
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
