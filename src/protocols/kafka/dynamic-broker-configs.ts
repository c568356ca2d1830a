/**
 * The broker configs Kafka 4.2 changes on a running broker (DynamicBrokerConfig.AllDynamicConfigs)
 * that Switchyard accepts without applying, with Kafka's type and validator: the thread pools, the
 * socket server's other limits, the log cleaner's tuning, the broker-wide defaults of topic configs
 * (ServerTopicConfigSynonyms; checked as the topic config they stand for), producer state, tiered
 * storage and the SASL/Kerberos login refresh. `max.connections` is not here: it is applied
 * (./broker-configs.ts). What the table leaves out is refused (see there); the group and share
 * coordinators' reconfigurable configs are not in it yet.
 */
import { brokerSynonyms, type ConfigCheck, type ConfigType, topicConfigByName } from './topic-configs.js';

export interface DynamicConfigDef {
  readonly name: string;
  readonly type: ConfigType;
  readonly check?: ConfigCheck;
  /** Kafka takes it for one broker only, never as the cluster-wide default (its PerBrokerConfigs). */
  readonly perBroker?: true;
  /** Kafka's default of a list config, which APPEND and SUBTRACT start from when none is set. */
  readonly listDefault?: string;
}

const atLeast = (min: number): ConfigCheck => ({ kind: 'range', min });
const int = (name: string, min?: number): DynamicConfigDef =>
  min === undefined ? { name, type: 'int' } : { name, type: 'int', check: atLeast(min) };
const long = (name: string, min?: number): DynamicConfigDef =>
  min === undefined ? { name, type: 'long' } : { name, type: 'long', check: atLeast(min) };
const of = (name: string, type: ConfigType): DynamicConfigDef => ({ name, type });
const perBroker = (name: string, type: ConfigType): DynamicConfigDef => ({ name, type, perBroker: true });

/** Topic configs whose broker-wide default has the same name (the others are in `brokerSynonyms`). */
const sameNamedDefaults = [
  'compression.type',
  'compression.gzip.level',
  'compression.lz4.level',
  'compression.zstd.level',
  'min.insync.replicas',
  'unclean.leader.election.enable',
];
/** Broker settings of Switchyard read at start, which Kafka would change at runtime. */
const readAtStart: ReadonlySet<string> = new Set([
  'message.max.bytes',
  'log.cleaner.io.max.bytes.per.second',
]);

function topicDefaults(): DynamicConfigDef[] {
  const pairs = [...brokerSynonyms, ...sameNamedDefaults.map((n) => [n, n] as const)];
  return pairs.map(([topic, broker]) => {
    const def = topicConfigByName.get(topic);
    if (def === undefined) throw new Error(`no topic config ${topic} behind ${broker}`);
    const list = def.type === 'list' ? { listDefault: def.kafkaDefault } : {};
    return def.check === undefined
      ? { name: broker, type: def.type, ...list }
      : { name: broker, type: def.type, check: def.check, ...list };
  });
}

const table: readonly DynamicConfigDef[] = [
  // SocketServer's reconfigurable limits and network threads.
  int('max.connections.per.ip', 0),
  of('max.connections.per.ip.overrides', 'string'),
  int('max.connection.creation.rate', 0),
  int('num.network.threads', 1),
  // DynamicThreadPool.
  int('num.io.threads', 1),
  int('num.replica.fetchers'),
  int('num.recovery.threads.per.data.dir', 1),
  int('background.threads', 1),
  // LogCleaner's reconfigurable configs.
  int('log.cleaner.threads', 0),
  long('log.cleaner.dedupe.buffer.size'),
  of('log.cleaner.io.buffer.load.factor', 'double'),
  int('log.cleaner.io.buffer.size', 0),
  long('log.cleaner.backoff.ms', 0),
  ...topicDefaults(),
  // Producer state (DynamicProducerStateManagerConfig).
  int('producer.id.expiration.ms', 1),
  of('transaction.partition.verification.enable', 'boolean'),
  // Tiered storage (DynamicRemoteLogConfig, DynamicReplicationConfig).
  long('remote.log.index.file.cache.total.size.bytes', 1),
  int('remote.fetch.max.wait.ms', 1),
  long('remote.log.manager.copy.max.bytes.per.second', 1),
  long('remote.log.manager.fetch.max.bytes.per.second', 1),
  long('remote.list.offsets.request.timeout.ms', 1),
  int('remote.log.manager.copier.thread.pool.size', 1),
  int('remote.log.manager.expiration.thread.pool.size', 1),
  int('remote.log.manager.follower.thread.pool.size', 1),
  int('remote.log.reader.threads', 1),
  of('follower.fetch.last.tiered.offset.enable', 'boolean'),
  // The listener's SASL logins (DynamicListenerConfig): per broker only.
  perBroker('sasl.kerberos.service.name', 'string'),
  perBroker('sasl.kerberos.kinit.cmd', 'string'),
  perBroker('sasl.kerberos.ticket.renew.window.factor', 'double'),
  perBroker('sasl.kerberos.ticket.renew.jitter', 'double'),
  perBroker('sasl.kerberos.min.time.before.relogin', 'long'),
  { ...perBroker('sasl.kerberos.principal.to.local.rules', 'list'), listDefault: 'DEFAULT' },
  perBroker('sasl.login.refresh.window.factor', 'double'),
  perBroker('sasl.login.refresh.window.jitter', 'double'),
  perBroker('sasl.login.refresh.min.period.seconds', 'int'),
  perBroker('sasl.login.refresh.buffer.seconds', 'int'),
];

export const dynamicConfigByName: ReadonlyMap<string, DynamicConfigDef> = new Map(
  table.filter((d) => !readAtStart.has(d.name)).map((d) => [d.name, d]),
);

/**
 * The values set, in memory: a restart forgets them (Kafka keeps them in its metadata log), which
 * changes nothing since none of them has an effect here.
 */
export class DynamicBrokerConfigs {
  readonly #values = new Map<string, string>();

  get(name: string): string | undefined {
    return this.#values.get(name);
  }

  names(): string[] {
    return [...this.#values.keys()];
  }

  entries(): Array<[string, string]> {
    return [...this.#values];
  }

  set(name: string, value: string | null): void {
    if (value === null) this.#values.delete(name);
    else this.#values.set(name, value);
  }
}
