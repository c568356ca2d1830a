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
 * A single node's cluster-wide default and its own per-broker value are one value here: altering
 * either resource (`""` or this node's id) changes it, and each describes it with its own source.
 */
import type { CoreClient } from '../../core/api.js';
import { type ConfigChange, type ConfigOperation, scalarChanges } from './config-ops.js';
import { type KafkaOptions, nodeId } from './context.js';
import { KafkaError } from './errors.js';
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

/** The broker resource's configs, as DescribeConfigs shows them for `resourceName`; `client` reads the limit. */
export function describeBrokerConfigs(
  options: KafkaOptions,
  client: CoreClient,
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
    fixed('group.initial.rebalance.delay.ms', String(options.groupInitialRebalanceDelayMs)),
    // KIP-368: clients read it to know whether the broker will ask them to re-authenticate.
    fixed('connections.max.reauth.ms', String(options.saslSessionLifetimeMs)),
    maxConnectionsEntry(client, resourceName),
  ];
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

/**
 * Applies `changes` to the broker resource `resourceName`, all or none: each must name a dynamic
 * config with a valid value. AlterConfigs (which replaces the resource's dynamic configs) passes a
 * change to null for every dynamic config its request leaves out.
 */
export async function alterBrokerConfigs(
  client: CoreClient,
  resourceName: string,
  changes: readonly BrokerConfigChange[],
  validateOnly: boolean,
): Promise<BrokerConfigResult> {
  const refused = brokerNameRefusal(resourceName);
  if (refused !== undefined) return refused;
  const fixed = changes.filter((c) => c.name !== maxConnections).map((c) => c.name);
  if (fixed.length > 0)
    return refusal(KafkaError.invalidRequest, `Cannot update these configs dynamically: ${fixed.join(', ')}`);
  const limits: Array<number | null> = [];
  for (const c of changes) {
    const checked = c.value === null ? null : checkedValue(maxConnections, maxConnectionsSpec, c.value);
    if (checked !== null && 'refused' in checked) return refusal(KafkaError.invalidConfig, checked.refused);
    limits.push(checked === null ? null : Number(checked.value));
  }
  if (validateOnly) return ok;
  for (const limit of limits) {
    if (limit === null) await client.clearVhostLimit(vhostLimit);
    else await client.setVhostLimit(vhostLimit, limit);
  }
  return ok;
}

/** AlterConfigs' whole set for the broker: what it names is set, every other dynamic config cleared. */
export function replacedBrokerConfigs(
  configs: ReadonlyArray<{ name: string; value: string | null }>,
): BrokerConfigChange[] {
  const named = configs.map((c) => ({ name: c.name, value: c.value }));
  return named.some((c) => c.name === maxConnections)
    ? named
    : [...named, { name: maxConnections, value: null }];
}

/** IncrementalAlterConfigs' operations for the broker: SET and DELETE (it has no list configs). */
export function brokerConfigOperations(
  ops: readonly ConfigOperation[],
): BrokerConfigChange[] | BrokerConfigResult {
  const changes = scalarChanges(ops);
  return Array.isArray(changes) ? changes : refusal(KafkaError.invalidConfig, changes.refused);
}
