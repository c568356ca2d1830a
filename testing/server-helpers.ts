/** Helpers for test/server: broker options with every listener off, and a bounded wait. */
import type { BrokerOptions } from '../src/server/broker.js';

/** Every port setting 0, so an embedded broker binds nothing unless a test turns one on. */
export const allPortsOff = {
  amqpPort: 0,
  mqttPort: 0,
  mqttWsPort: 0,
  kafkaPort: 0,
  grpcPort: 0,
  restPort: 0,
  httpPort: 0,
} as const satisfies BrokerOptions;

/** The AMQP, MQTT (TCP and WebSocket) and Kafka listeners on free ports. */
export const protocolPortsAuto = {
  amqpPort: 'auto',
  mqttPort: 'auto',
  mqttWsPort: 'auto',
  kafkaPort: 'auto',
} as const satisfies BrokerOptions;

import { sleep, until } from './wait.js';

export { sleep, until };
