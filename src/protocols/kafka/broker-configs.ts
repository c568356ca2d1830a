/**
 * Kafka's broker configs as one Switchyard node has them. The broker settings a Kafka client can see
 * (`auto.create.topics.enable`, `num.partitions`, `message.max.bytes`,
 * `group.initial.rebalance.delay.ms`, `connections.max.reauth.ms`) are read at start: read-only,
 * STATIC_BROKER_CONFIG. The one
 * Kafka config that is dynamic in Kafka and a runtime setting in Switchyard too is `max.connections`
 * (cluster-wide in Kafka): it is the Kafka vhost's `max-connections` limit, the one
 * `switchyard limits set` and RabbitMQ's vhost limits change, so it is kept in the definitions (it
 * survives a restart, as Kafka keeps dynamic configs in its metadata log) and counts every protocol's
 * connections to that vhost, where Kafka counts the broker's connections on all its listeners.
 *
 * The other configs Kafka 4.2 lets AlterConfigs change on a running broker (DynamicBrokerConfig's
 * lists, `dynamicConfigDefs` below) are checked by Kafka's type and range, kept in memory and
 * described as DYNAMIC_BROKER_CONFIG, with no effect: they tune what Switchyard does not have (thread
 * pools, Kerberos logins, tiered storage) or broker-wide topic defaults it does not apply. Left out,
 * and refused as Kafka refuses a config it cannot change at runtime: the security and listener
 * configs (a listener's TLS and SASL are set at start, and a kept but unapplied one would mislead),
 * Java class lists, and `message.max.bytes` and `log.cleaner.io.max.bytes.per.second`, which are
 * Switchyard settings read at start (the batch limit, the compaction byte rate).
 *
 * A single node's cluster-wide default and its own per-broker value are one value here: altering
 * either resource (`""` or this node's id) changes it, and each describes it with its own source.
 */
import type { CoreClient } from '../../core/api.js';
import {
  type ConfigChange,
  type ConfigOperation,
  configOp,
  listOperation,
  operationRefusal,
} from './config-ops.js';
import { nodeId } from './context.js';
import { type DynamicBrokerConfigs, dynamicConfigByName } from './dynamic-broker-configs.js';
import { KafkaError } from './errors.js';
import type { KafkaOptions } from './options.js';
import { checkedValue, type DescribedConfig } from './topic-settings.js';

/** Kafka's DescribeConfigsResponse ConfigSource codes. */
const source = { dynamicBroker: 2, dynamicDefaultBroker: 3, staticBroker: 4, default: 5 } as const;
const maxConnections = 'max.connections';
/** Kafka's default for `max.connections`: Integer.MAX_VALUE, no limit. */
const maxConnectionsDefault = '2147483647';
const vhostLimit = 'max-connections';

/** A topic's described config without the v3 type and the documentation. */
export type BrokerConfigEntry = Omit<DescribedConfig, 'configType' | 'documentation'>;

export interface BrokerConfigResult {
  readonly errorCode: KafkaError;
  readonly errorMessage: string | null;
}

/** One change asked of the broker's configs: a value to set, or null to go back to the default. */
export type BrokerConfigChange = ConfigChange;

const ok: BrokerConfigResult = { errorCode: KafkaError.none, errorMessage: null };
const refusal = (errorCode: KafkaError, errorMessage: string): BrokerConfigResult => ({
  errorCode,
  errorMessage,
});

/** Whether `name` is `""` (the cluster-wide default) or this node's id; Kafka answers others so. */
function brokerNameRefusal(name: string): BrokerConfigResult | undefined {
  if (name === '' || name === String(nodeId)) return undefined;
  return refusal(
    KafkaError.invalidRequest,
    `Unexpected broker id, expected ${nodeId} or empty string, but received ${name}`,
  );
}

/**
 * The broker resource's configs, as DescribeConfigs shows them for `resourceName`: the static ones,
 * `max.connections` (`client` reads the limit) and the dynamic ones set in `kept`.
 */
export function describeBrokerConfigs(
  options: KafkaOptions,
  client: CoreClient,
  kept: DynamicBrokerConfigs,
  resourceName: string,
): BrokerConfigEntry[] {
  const fixed = (name: string, value: string): BrokerConfigEntry => ({
    name,
    value,
    readOnly: true,
    isDefault: false,
    configSource: source.staticBroker,
    isSensitive: false,
    synonyms: [{ name, value, source: source.staticBroker }],
  });
  return [
    fixed('auto.create.topics.enable', String(options.autoCreateTopics)),
    fixed('num.partitions', String(options.defaultPartitions)),
    fixed('message.max.bytes', String(options.batchBytesMax)),
    fixed('fetch.max.bytes', String(options.fetchBytesMax)),
    fixed('group.initial.rebalance.delay.ms', String(options.groupInitialRebalanceDelayMs)),
    // KIP-368: clients read it to know whether the broker will ask them to re-authenticate.
    fixed('connections.max.reauth.ms', String(options.saslSessionLifetimeMs)),
    maxConnectionsEntry(client, resourceName),
    ...kept.entries().map(([name, value]) => dynamicEntry(name, value, resourceName)),
  ];
}

/** A dynamic config set, with no default beside it: Switchyard has none to apply. */
function dynamicEntry(name: string, value: string, resourceName: string): BrokerConfigEntry {
  const from = resourceName === '' ? source.dynamicDefaultBroker : source.dynamicBroker;
  return {
    name,
    value,
    readOnly: false,
    isDefault: false,
    configSource: from,
    isSensitive: false,
    synonyms: [{ name, value, source: from }],
  };
}

function maxConnectionsEntry(client: CoreClient, resourceName: string): BrokerConfigEntry {
  const limit = client.vhostLimits()[vhostLimit];
  const byDefault = { name: maxConnections, value: maxConnectionsDefault, source: source.default };
  // A negative vhost limit (set through the management API) means none, as Kafka's default does.
  if (limit === undefined || limit < 0)
    return {
      name: maxConnections,
      value: maxConnectionsDefault,
      readOnly: false,
      isDefault: true,
      configSource: source.default,
      isSensitive: false,
      synonyms: [byDefault],
    };
  const from = resourceName === '' ? source.dynamicDefaultBroker : source.dynamicBroker;
  const value = String(limit);
  return {
    name: maxConnections,
    value,
    readOnly: false,
    isDefault: false,
    configSource: from,
    isSensitive: false,
    synonyms: [{ name: maxConnections, value, source: from }, byDefault],
  };
}

/** Kafka's definition of `max.connections`: an INT, at least 0. */
const maxConnectionsSpec = { type: 'int', check: { kind: 'range', min: 0 } } as const;

/** A change checked against its config's definition: the canonical value, or the refusal. */
type Checked = { readonly name: string; readonly value: string | null } | BrokerConfigResult;

/**
 * Kafka refuses a config it cannot change at runtime with INVALID_REQUEST (its ConfigException
 * rethrown as InvalidRequestException, KAFKA-13609), and a per-broker one at the cluster default too.
 */
function unchangeable(
  resourceName: string,
  changes: readonly BrokerConfigChange[],
): BrokerConfigResult | undefined {
  const fixed = changes
    .filter((c) => c.name !== maxConnections && !dynamicConfigByName.has(c.name))
    .map((c) => c.name);
  if (fixed.length > 0)
    return refusal(KafkaError.invalidRequest, `Cannot update these configs dynamically: ${fixed.join(', ')}`);
  const perBroker = changes
    .filter((c) => c.value !== null && dynamicConfigByName.get(c.name)?.perBroker)
    .map((c) => c.name);
  if (resourceName === '' && perBroker.length > 0)
    return refusal(
      KafkaError.invalidRequest,
      `Cannot update these configs at default cluster level, broker id must be specified: ${perBroker.join(', ')}`,
    );
  return undefined;
}

function checked(change: BrokerConfigChange): Checked {
  if (change.value === null) return change;
  const spec = dynamicConfigByName.get(change.name) ?? maxConnectionsSpec;
  const result = checkedValue(change.name, spec, change.value);
  if ('refused' in result) return refusal(KafkaError.invalidConfig, result.refused);
  return { name: change.name, value: result.value };
}

/**
 * Applies `changes` to the broker resource `resourceName`, all or none: each must name a dynamic
 * config with a valid value. AlterConfigs (which replaces the resource's dynamic configs) passes a
 * change to null for every dynamic config its request leaves out.
 */
export async function alterBrokerConfigs(
  client: CoreClient,
  kept: DynamicBrokerConfigs,
  resourceName: string,
  changes: readonly BrokerConfigChange[],
  validateOnly: boolean,
): Promise<BrokerConfigResult> {
  const refused = brokerNameRefusal(resourceName) ?? unchangeable(resourceName, changes);
  if (refused !== undefined) return refused;
  const valid: BrokerConfigChange[] = [];
  for (const c of changes) {
    const result = checked(c);
    if ('errorCode' in result) return result;
    valid.push(result);
  }
  if (validateOnly) return ok;
  for (const c of valid) {
    if (c.name !== maxConnections) kept.set(c.name, c.value);
    else if (c.value === null) await client.clearVhostLimit(vhostLimit);
    else await client.setVhostLimit(vhostLimit, Number(c.value));
  }
  return ok;
}

/** AlterConfigs' whole set for the broker: what it names is set, every other dynamic config cleared. */
export function replacedBrokerConfigs(
  configs: ReadonlyArray<{ name: string; value: string | null }>,
  kept: DynamicBrokerConfigs,
): BrokerConfigChange[] {
  const named = configs.map((c) => ({ name: c.name, value: c.value }));
  const given = new Set(named.map((c) => c.name));
  const cleared = [maxConnections, ...kept.names()].filter((name) => !given.has(name));
  return [...named, ...cleared.map((name) => ({ name, value: null }))];
}

/**
 * IncrementalAlterConfigs' operations for the broker as changes: SET, DELETE, and APPEND / SUBTRACT
 * on its list configs, from the value set or else Kafka's default.
 */
export function brokerConfigOperations(
  ops: readonly ConfigOperation[],
  kept: DynamicBrokerConfigs,
): BrokerConfigChange[] | BrokerConfigResult {
  const pending = new Map<string, string | null>();
  for (const op of ops) {
    const def = dynamicConfigByName.get(op.name);
    const refused = operationRefusal(op, def?.type === 'list');
    if (refused !== undefined) return refusal(KafkaError.invalidConfig, refused);
    const current = pending.has(op.name) ? pending.get(op.name) : kept.get(op.name);
    pending.set(op.name, nextValue(op, current ?? def?.listDefault));
  }
  return [...pending].map(([name, value]) => ({ name, value }));
}

function nextValue(op: ConfigOperation, current: string | undefined): string | null {
  if (op.configOperation === configOp.set) return op.value;
  if (op.configOperation === configOp.delete) return null;
  return listOperation(current, op);
}
