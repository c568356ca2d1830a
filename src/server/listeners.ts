/**
 * The listener registry: every protocol that is built (they start in port-setting order, not in this
 * list's). A port setting with no entry here logs "<name> listener not built yet; skipped". Protocol
 * adapters add their definition here.
 */
import { startAdminServer } from '../admin/http.js';
import { amqpListener, amqpsListener } from '../protocols/amqp/listener.js';
import { kafkaListener, kafkaTlsListener } from '../protocols/kafka/listener.js';
import { kubemqChannels, kubemqGrpcListener, kubemqRestListener } from '../protocols/kubemq/index.js';
import type { ListenerContext, ListenerDefinition, RunningListener } from '../protocols/listener.js';
import {
  mqttListener,
  mqttSecureWebSocketListener,
  mqttsListener,
  mqttWebSocketListener,
} from '../protocols/mqtt/listener.js';
import { securityOf } from '../protocols/serve.js';
import { isLoopback } from './auth.js';
import { kafkaTopicRules } from './kafka-topic-rules.js';

function startAdmin(context: ListenerContext): Promise<RunningListener> {
  return startAdminServer({
    host: context.host,
    port: context.port,
    core: context.core,
    logger: context.logger,
    auth: context.auth,
    // Metrics stay open where only this host can reach them (RabbitMQ's loopback-only default).
    metricsOpen: context.config.metricsOpen || isLoopback(context.host),
    security: securityOf(context),
    limits: {
      headersTimeoutMs: context.config.httpHeadersTimeoutMs,
      idleTimeoutMs: context.config.httpIdleTimeoutMs,
      connectionsMax: context.config.httpConnectionsMax,
      connectionsPerAddressMax: context.config.httpConnectionsPerAddressMax,
    },
    info: {
      version: context.version,
      startedAtMs: context.startedAtMs,
      ...(context.config.storage === 'file' ? { dataDir: context.config.dataDir } : {}),
      listeners: () =>
        context.boundListeners().map((l) => ({ protocol: l.name, ip_address: l.host, port: l.port })),
      alarms: () => context.core.alarms.active(),
      metricsSeriesMax: context.config.metricsSeriesMax,
      kafkaTopics: kafkaTopicRules(context.config),
      kubemqChannels: () => kubemqChannels(context.core),
      edges: () => {
        const ingress = context.ingress.stats();
        const logins = context.auth.stats?.() ?? { hashes: 0, queued: 0 };
        return {
          ingressBytes: ingress.bytes,
          ingressUnauthenticatedBytes: ingress.unauthenticatedBytes,
          ingressPausedConnections: ingress.paused,
          ingressEvictions: ingress.evictions,
          loginHashes: logins.hashes,
          loginQueued: logins.queued,
        };
      },
    },
  });
}

export const adminListener: ListenerDefinition = { name: 'http', configKey: 'httpPort', start: startAdmin };
export const adminSecureListener: ListenerDefinition = {
  name: 'https',
  configKey: 'httpsPort',
  start: startAdmin,
};

export const builtListeners: readonly ListenerDefinition[] = [
  amqpListener,
  amqpsListener,
  adminListener,
  adminSecureListener,
  mqttListener,
  mqttsListener,
  mqttWebSocketListener,
  mqttSecureWebSocketListener,
  kafkaListener,
  kafkaTlsListener,
  kubemqGrpcListener,
  kubemqRestListener,
];
