/**
 * Kafka handlers without a socket: the listener's broker-wide state over a core in memory, and request
 * contexts for any Kafka principal and client address, so a test can drive a handler as `User:alice`
 * from 10.0.0.1 (what SASL will set on a real connection). `caller` is the core caller whose
 * permissions count (the listener's own, or a user's).
 */
import type { CoreBroker, CoreClient } from '../src/core/api.js';
import { type CallerContext, internalPrincipal } from '../src/core/entry/context.js';
import { IngressBudget } from '../src/protocols/ingress.js';
import { ConnectionAcls } from '../src/protocols/kafka/acls.js';
import type { KafkaBroker, RequestContext } from '../src/protocols/kafka/context.js';
import { FetchBytesHeld } from '../src/protocols/kafka/fetch-bytes.js';
import { kafkaBrokerOf } from '../src/protocols/kafka/listener.js';
import { kafkaOptionsDefault } from '../src/protocols/kafka/options.js';
import { silentLogger } from '../src/shared/logger.js';

/** The listeners' Kafka state over `core` (memory storage in tests), acting as `caller`. */
export function kafkaBrokerOver(
  core: CoreBroker,
  caller: Pick<CallerContext, 'principal'> = { principal: internalPrincipal },
): KafkaBroker {
  return kafkaBrokerOf({
    core,
    principal: caller.principal,
    options: { ...kafkaOptionsDefault, groupInitialRebalanceDelayMs: 0 },
    logger: silentLogger(),
    ingress: new IngressBudget({ bytesMax: 1 << 26, unauthenticatedBytesMax: 1 << 20 }),
    saslMechanisms: new Map(),
  });
}

/** A connection's request context: its principal, address and ACL cache (one per call: one connection). */
export function requestContext(
  broker: KafkaBroker,
  kafkaPrincipal: string,
  options: { apiVersion?: number; host?: string; acls?: ConnectionAcls; client?: CoreClient } = {},
): RequestContext {
  const host = options.host ?? '10.0.0.1';
  const client = options.client ?? broker.vhost;
  return {
    broker,
    client,
    sasl: undefined,
    apiVersion: options.apiVersion ?? 0,
    clientId: 'test',
    advertisedHost: '127.0.0.1',
    advertisedPort: 9092,
    clientHost: `/${host}`,
    kafkaPrincipal,
    acls: options.acls ?? new ConnectionAcls(broker, host, () => client),
    fetchBytes: new FetchBytesHeld(broker.options.fetchBytesHeldMax),
  };
}
