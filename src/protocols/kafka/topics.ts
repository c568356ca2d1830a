/** Topic helpers shared by the handlers: name rules, lookup with auto-creation, partition access. */
import type { StreamInfo, StreamPartition } from '../../core/api.js';
import { isBrokerError } from '../../shared/errors.js';
import type { KafkaBroker } from './context.js';
import { KafkaError, kafkaErrorOf } from './errors.js';

/** Kafka's legal topic names (`Topic.validate`): 1–249 of [a-zA-Z0-9._-], not "." or "..". */
const topicNamePattern = /^[a-zA-Z0-9._-]{1,249}$/;

export function validTopicName(name: string): boolean {
  return topicNamePattern.test(name) && name !== '.' && name !== '..';
}

/** The topic, creating it when allowed; an error code when it is absent or cannot be made. */
export async function topicOrCreate(
  broker: KafkaBroker,
  name: string,
  allowCreate: boolean,
): Promise<StreamInfo | KafkaError> {
  const existing = broker.vhost.stream(name);
  if (existing !== undefined) return existing;
  if (!validTopicName(name)) return KafkaError.invalidTopic;
  if (!allowCreate || !broker.options.autoCreateTopics) return KafkaError.unknownTopicOrPartition;
  try {
    // A topic of an old name starts from the defaults, whatever configs the old one had.
    await broker.topicConfigs.forget(name);
    return await broker.vhost.createStream(name, { partitions: broker.options.defaultPartitions });
  } catch (err) {
    broker.logger.warn({ err, topic: name }, 'kafka: auto-creating a topic failed');
    return isBrokerError(err) ? KafkaError.invalidTopic : kafkaErrorOf(err);
  }
}

/** The partition, or UNKNOWN_TOPIC_OR_PARTITION when the topic or index does not exist. */
export function partitionOf(broker: KafkaBroker, topic: string, index: number): StreamPartition | KafkaError {
  const info = broker.vhost.stream(topic);
  if (info === undefined || !Number.isInteger(index) || index < 0 || index >= info.partitions) {
    return KafkaError.unknownTopicOrPartition;
  }
  try {
    return broker.vhost.partition(topic, index);
  } catch (err) {
    return kafkaErrorOf(err);
  }
}

export function isKafkaError(value: unknown): value is KafkaError {
  return typeof value === 'number';
}
