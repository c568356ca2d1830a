/** Topic helpers shared by the handlers: name rules, lookup with auto-creation, partition access. */
import type { StreamInfo, StreamPartition } from '../../core/api.js';
import { ErrorCode, isBrokerError } from '../../shared/errors.js';
import type { Scope } from './context.js';
import { KafkaError, kafkaErrorOf } from './errors.js';

/** Kafka's legal topic names (`Topic.validate`): 1–249 of [a-zA-Z0-9._-], not "." or "..". */
const topicNamePattern = /^[a-zA-Z0-9._-]{1,249}$/;

export function validTopicName(name: string): boolean {
  return topicNamePattern.test(name) && name !== '.' && name !== '..';
}

/** The topic, creating it when allowed; an error code when it is absent or cannot be made. */
export async function topicOrCreate(
  ctx: Scope,
  name: string,
  allowCreate: boolean,
): Promise<StreamInfo | KafkaError> {
  const { broker, client } = ctx;
  let existing: StreamInfo | undefined;
  try {
    existing = client.stream(name);
  } catch (err) {
    return kafkaErrorOf(err);
  }
  if (existing !== undefined) return existing;
  if (!validTopicName(name)) return KafkaError.invalidTopic;
  if (!allowCreate || !broker.options.autoCreateTopics) return KafkaError.unknownTopicOrPartition;
  try {
    return await client.createStream(name, { partitions: broker.options.defaultPartitions });
  } catch (err) {
    if (isBrokerError(err, ErrorCode.accessRefused)) return KafkaError.topicAuthorizationFailed;
    broker.logger.warn({ err, topic: name }, 'kafka: auto-creating a topic failed');
    return isBrokerError(err) ? KafkaError.invalidTopic : kafkaErrorOf(err);
  }
}

/**
 * The partition as the caller sees it (every call on it is checked as the caller), or
 * UNKNOWN_TOPIC_OR_PARTITION when the topic or index does not exist, TOPIC_AUTHORIZATION_FAILED when
 * the caller may not see the topic.
 */
export function partitionOf(ctx: Scope, topic: string, index: number): StreamPartition | KafkaError {
  try {
    const info = ctx.client.stream(topic);
    if (info === undefined || !Number.isInteger(index) || index < 0 || index >= info.partitions) {
      return KafkaError.unknownTopicOrPartition;
    }
    return ctx.client.partition(topic, index);
  } catch (err) {
    return kafkaErrorOf(err);
  }
}

export function isKafkaError(value: unknown): value is KafkaError {
  return typeof value === 'number';
}
