/**
 * The lifecycle run: one `switchyard start` child on file storage; AMQP, Kafka and MQTT actors churn
 * their objects at once for a number of rounds (bounded in time), then everything settles and is
 * checked — against the model, through the admin API, and again after a restart of the broker.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerLog } from '../fuzz/broker-log.js';
import { random } from '../fuzz/random.js';
import { listenerFlags, type RunningCli, startCli } from '../server-cli.js';
import { adminFetch } from '../server-helpers.js';
import { AmqpActor } from './amqp-actor.js';
import { KafkaActor } from './kafka-actor.js';
import { Faults, type Incarnation, Ledger } from './model.js';
import { MqttActor, MqttPublisher } from './mqtt-actor.js';
import { StableActor } from './stable-actor.js';

export interface LifecycleOptions {
  readonly seed: number;
  readonly rounds: number;
  /** No round starts after this long. */
  readonly timeMs: number;
  readonly progress?: (line: string) => void;
}

export interface LifecycleReport {
  readonly faults: readonly string[];
  readonly rounds: number;
  readonly durationMs: number;
  /** Incarnations per kind, and messages published, over the run. */
  readonly incarnations: Record<string, number>;
  readonly messages: number;
  /** MQTT connections made (each one after the first a takeover or a reconnect). */
  readonly mqttConnects: number;
}

interface Broker {
  readonly cli: RunningCli;
  readonly log: BrokerLog;
}

async function start(dataDir: string): Promise<Broker> {
  const log = new BrokerLog();
  const cli = await startCli(
    [
      '--storage',
      'file',
      '--data-dir',
      dataDir,
      '--fsync',
      'never',
      '--log-level',
      'warn',
      '--kafka-auto-create-topics',
      'false',
      ...listenerFlags({ amqp: 'auto', mqtt: 'auto', kafka: 'auto', http: 'auto' }),
    ],
    { lifetimeMs: 2 ** 31 - 1, onStderr: (chunk) => log.push(chunk) },
  );
  return { cli, log };
}

/** Stops the broker gracefully; its log and exit are checked. */
async function stop(broker: Broker, faults: Faults): Promise<void> {
  const exit = broker.cli.exitStatus();
  if (exit !== undefined) faults.add(`the broker exited during the run: ${JSON.stringify(exit)}`);
  else await broker.cli.stop('SIGTERM').catch((err: unknown) => faults.add(String(err).slice(0, 2000)));
  for (const f of broker.log.faults) faults.add(`the broker logged ${f.brief}`);
}

async function admin(
  broker: Broker,
  path: string,
): Promise<Array<{ name: string; messages?: number; type?: string }>> {
  const response = await adminFetch(`http://127.0.0.1:${broker.cli.ports.http}${path}`);
  return (await response.json()) as Array<{ name: string; messages?: number }>;
}

/** What the admin API lists against the model: the same objects, with the message counts it says. */
async function checkListings(
  broker: Broker,
  amqpActors: AmqpActor[],
  kafka: KafkaActor[],
  stable: StableActor,
  faults: Faults,
  when: string,
) {
  const queues = (await admin(broker, '/api/queues')).filter((q) => q.name.startsWith('lc.'));
  const expected = new Map<string, Incarnation>();
  for (const inc of [...amqpActors.flatMap((a) => a.queues.live()), stable.inc]) expected.set(inc.name, inc);
  const listed = new Set(queues.map((q) => q.name));
  for (const name of expected.keys())
    if (!listed.has(name)) faults.add(`${when}: queue ${name} is missing from /api/queues`);
  for (const q of queues) {
    const inc = expected.get(q.name);
    if (inc === undefined) {
      faults.add(`${when}: /api/queues lists ${q.name}, which the model says does not exist`);
      continue;
    }
    const want =
      inc.kind === 'stream'
        ? inc.routed.filter((id) => inc.confirmed.has(id)).length
        : inc.remaining().length;
    const refused = inc.routed.filter((id) => inc.refused.has(id)).length;
    if (q.messages === undefined || q.messages < want || q.messages > want + refused)
      faults.add(`${when}: ${inc.label} holds ${q.messages} messages, the model says ${want}`);
  }
  const exchanges = new Set(
    (await admin(broker, '/api/exchanges')).map((x) => x.name).filter((n) => n.startsWith('lc.')),
  );
  const liveExchanges = amqpActors.flatMap((a) => a.exchanges.live().map((x) => x.name));
  if ([...exchanges].sort().join() !== liveExchanges.sort().join())
    faults.add(
      `${when}: exchanges ${[...exchanges].sort().join(' ')}, the model says ${liveExchanges.join(' ')}`,
    );
  const topics = (await admin(broker, '/api/streams'))
    .map((s) => s.name)
    .filter((n) => n.startsWith('lc-t-'));
  const liveTopics = kafka.flatMap((k) => k.topics.live().map((t) => t.name));
  if (topics.sort().join() !== liveTopics.sort().join())
    faults.add(`${when}: topics ${topics.join(' ')}, the model says ${liveTopics.join(' ')}`);
}

interface Actors {
  readonly amqp: AmqpActor[];
  readonly kafka: KafkaActor[];
  readonly mqtt: MqttActor[];
  readonly publisher: MqttPublisher;
  readonly stable: StableActor;
}

/**
 * Every actor steps in its own loop. AMQP, Kafka, the publisher and the amqplib actor take equal shares
 * of the rounds; MQTT connects take real time, so the MQTT actors take over their sessions for as long
 * as the others run. Returns the rounds each actor made.
 */
async function churn(actors: Actors, options: LifecycleOptions, deadline: number): Promise<number[]> {
  const budgeted = 3 + 2 + 2;
  const share = Math.ceil(options.rounds / budgeted);
  let busy = budgeted;
  const topics = actors.mqtt.map((m) => m.topic);
  const loop = async (
    seed: number,
    step: (r: ReturnType<typeof random>) => Promise<void>,
    rounds: number,
  ) => {
    const r = random(seed);
    let round = 0;
    const more = () => Date.now() < deadline && (rounds > 0 ? round < rounds : busy > 0);
    while (more()) {
      round++;
      await step(r);
      if (round % 8 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    if (rounds > 0) busy--;
    return round;
  };
  return Promise.all([
    ...actors.amqp.map((a, i) => loop(options.seed + 101 * i, (r) => a.step(r), share)),
    ...actors.kafka.map((k, i) => loop(options.seed + 211 * i, (r) => k.step(r), share)),
    loop(options.seed + 401, (r) => actors.publisher.step(r, topics), share),
    loop(options.seed + 503, (r) => actors.stable.step(r), share),
    ...actors.mqtt.map((m, i) => loop(options.seed + 307 * i, (r) => m.step(r), 0)),
  ]);
}

async function openActors(broker: Broker, options: LifecycleOptions, ledger: Ledger): Promise<Actors> {
  const ports = broker.cli.ports;
  const amqpActors = ['a1', 'a2', 'a3'].map((id) => new AmqpActor(id, ledger));
  const kafka = ['k1', 'k2'].map((id) => new KafkaActor(id, ledger));
  const mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`;
  const publisher = new MqttPublisher();
  const mqttActors = ['m1', 'm2', 'm3'].map((id) => new MqttActor(id, mqttUrl, ledger.faults));
  const stable = new StableActor(ledger);
  await Promise.all([
    ...amqpActors.map((a) => a.open(ports.amqp!)),
    ...kafka.map((k) => k.open(ports.kafka!)),
    publisher.open(mqttUrl),
    stable.open(ports.amqp!, random(options.seed + 601)),
  ]);
  for (const m of mqttActors) m.use(publisher);
  return { amqp: amqpActors, kafka, mqtt: mqttActors, publisher, stable };
}

async function settle(actors: Actors, faults: Faults): Promise<void> {
  const settleMs = 30_000;
  await Promise.all([
    ...actors.amqp.map((a) => a.settle(settleMs)),
    ...actors.kafka.map((k) => k.settle(settleMs)),
    actors.stable.settle(settleMs),
    actors.publisher.settle(settleMs).then((ok) => ok || faults.add('MQTT publishes never confirmed')),
  ]);
  await Promise.all(actors.mqtt.map((m) => m.verify(300, 15_000)));
}

export async function runLifecycle(options: LifecycleOptions): Promise<LifecycleReport> {
  const started = Date.now();
  const dataDir = mkdtempSync(join(tmpdir(), 'switchyard-lifecycle-'));
  const faults = new Faults();
  const ledger = new Ledger(faults);
  let broker = await start(dataDir);
  try {
    const actors = await openActors(broker, options, ledger);
    const perActor = await churn(actors, options, started + options.timeMs);
    const rounds = perActor.reduce((a, b) => a + b, 0);
    options.progress?.(
      `lifecycle: ${rounds} rounds (per actor ${perActor.join(' ')}) in ${Date.now() - started} ms; settling`,
    );
    await settle(actors, faults);
    await checkListings(broker, actors.amqp, actors.kafka, actors.stable, faults, 'before the restart');
    for (const k of actors.kafka) await k.verify();
    await Promise.all([
      ...actors.mqtt.map((m) => m.close()),
      actors.publisher.close(),
      actors.stable.close(),
    ]);
    for (const a of [...actors.amqp, ...actors.kafka]) a.close();
    await stop(broker, faults);
    broker = await start(dataDir);
    for (const a of actors.amqp) a.restarted();
    await Promise.all([
      ...actors.amqp.map((a) => a.open(broker.cli.ports.amqp!)),
      ...actors.kafka.map((k) => k.open(broker.cli.ports.kafka!)),
      actors.stable.open(broker.cli.ports.amqp!, random(options.seed + 601)),
    ]);
    await checkListings(broker, actors.amqp, actors.kafka, actors.stable, faults, 'after the restart');
    for (const k of actors.kafka) await k.verify();
    for (const a of actors.amqp) await a.drain();
    await actors.stable.drain();
    await actors.stable.close();
    for (const a of [...actors.amqp, ...actors.kafka]) a.close();
    const all = [
      ...actors.amqp.flatMap((a) => [...a.queues.all, ...a.exchanges.all]),
      ...actors.kafka.flatMap((k) => k.topics.all),
      ...actors.mqtt.flatMap((m) => m.sessions.all),
    ];
    const incarnations: Record<string, number> = {};
    for (const inc of all) incarnations[inc.kind] = (incarnations[inc.kind] ?? 0) + 1;
    const mqttMessages = [...actors.publisher.sent.values()].reduce((n, list) => n + list.length, 0);
    const messages = all.reduce((n, inc) => n + inc.routed.length, 0) + mqttMessages;
    const mqttConnects = actors.mqtt.reduce((n, m) => n + m.connects, 0);
    return {
      faults: faults.list,
      rounds,
      durationMs: Date.now() - started,
      incarnations,
      messages,
      mqttConnects,
    };
  } finally {
    await stop(broker, faults);
    rmSync(dataDir, { recursive: true, force: true });
  }
}
