/**
 * Kafka's rules for a topic created from the admin API (`PUT /api/kafka/topics/…`): the name rule and
 * the configs checks CreateTopics applies, handed to the admin listener by the server so that the
 * admin layer imports no protocol.
 */
import type { KafkaTopicRules } from '../admin/kafka-topics.js';
import type { Config } from '../config/schema.js';
import { kafkaOptionsDefault } from '../protocols/kafka/options.js';
import { checkTopicConfigs, isRefusal } from '../protocols/kafka/topic-settings.js';
import { validTopicName } from '../protocols/kafka/topics.js';

export function kafkaTopicRules(config: Readonly<Config>): KafkaTopicRules {
  return {
    vhost: config.kafkaVhost,
    defaultPartitions: config.kafkaDefaultPartitions,
    validName: validTopicName,
    check: (configs) => {
      const checked = checkTopicConfigs(configs, kafkaOptionsDefault.batchBytesMax);
      if (isRefusal(checked)) return checked;
      const compaction = checked.compaction === undefined ? {} : { compaction: checked.compaction };
      return { ...checked.retention, ...compaction, attributes: checked.kept };
    },
  };
}
