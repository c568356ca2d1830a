/** Helpers for test/server: broker options with every listener off, and a bounded wait. */
import type { BrokerOptions } from '../src/server/broker.js';

/** Every port setting 0, so an embedded broker binds nothing unless a test turns one on. */
export const allPortsOff = {
  amqpPort: 0,
  amqpsPort: 0,
  mqttPort: 0,
  mqttsPort: 0,
  mqttWsPort: 0,
  mqttWssPort: 0,
  kafkaPort: 0,
  kafkaTlsPort: 0,
  grpcPort: 0,
  restPort: 0,
  httpPort: 0,
  httpsPort: 0,
} as const satisfies BrokerOptions;

/** The AMQP, MQTT (TCP and WebSocket) and Kafka listeners on free ports. */
export const protocolPortsAuto = {
  amqpPort: 'auto',
  mqttPort: 'auto',
  mqttWsPort: 'auto',
  kafkaPort: 'auto',
} as const satisfies BrokerOptions;

/** Waits for `check` to hold, polling every 10 ms; fails after `timeoutMs`. */
export async function until(check: () => boolean, timeoutMs = 2000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
