/** Every protocol the fuzzers speak, by the name the runner and the corpus folders use. */
import type { Dialect } from '../dialect.js';
import { amqpDialect } from './amqp.js';
import { grpcDialect } from './grpc.js';
import { httpDialect } from './http.js';
import { kafkaDialect } from './kafka.js';
import { kubemqRestDialect } from './kubemq-rest.js';
import { mqttDialect } from './mqtt.js';
import { wsDialect } from './ws.js';

export const protocols = ['amqp', 'mqtt', 'mqtt-ws', 'kafka', 'http', 'kubemq-grpc', 'kubemq-rest'] as const;
export type Protocol = (typeof protocols)[number];

export const dialects: Readonly<Record<Protocol, Dialect>> = {
  amqp: amqpDialect,
  mqtt: mqttDialect,
  'mqtt-ws': wsDialect,
  kafka: kafkaDialect,
  http: httpDialect,
  'kubemq-grpc': grpcDialect,
  'kubemq-rest': kubemqRestDialect,
};

export function isProtocol(name: string): name is Protocol {
  return (protocols as readonly string[]).includes(name);
}
