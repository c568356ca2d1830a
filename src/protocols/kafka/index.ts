/** The Kafka protocol adapter: listener, entry format and codec. */

export { kafkaBatchFormat } from './entry-format.js';
export {
  createKafkaListener,
  createKafkaListeners,
  kafkaAcceptor,
  kafkaListener,
  kafkaTlsListener,
} from './listener.js';
export type { KafkaOptions } from './options.js';
