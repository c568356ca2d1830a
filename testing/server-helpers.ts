/** Helpers for test/server: broker options with every listener off, and a bounded wait. */
import { Buffer } from 'node:buffer';
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

import { sleep, until } from './wait.js';

export { sleep, until };

/** An `Authorization: Basic` value; the default is the seeded guest/guest (administrator, loopback only). */
export function basicAuth(user = 'guest', password = 'guest'): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/** `fetch` with HTTP Basic credentials, as every admin API route but /api/health needs. */
export function adminFetch(
  url: string,
  init: RequestInit = {},
  user = 'guest',
  password = 'guest',
): Promise<Response> {
  const headers = new Headers(init.headers);
  headers.set('authorization', basicAuth(user, password));
  return fetch(url, { ...init, headers });
}
