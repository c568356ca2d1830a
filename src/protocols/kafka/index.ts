/** The Kafka protocol adapter: listener, entry format and codec. */

export type { KafkaOptions } from './context.js';
export { kafkaBatchFormat } from './entry-format.js';
export {
  createKafkaListener,
  createKafkaListeners,
  kafkaAcceptor,
  kafkaListener,
  kafkaTlsListener,
} from './listener.js';
