/**
 * The listener registry: every protocol that is built (they start in port-setting order, not in this
 * list's). A port setting with no entry here logs "<name> listener not built yet; skipped". Protocol
 * adapters add their definition here.
 *
 * Each protocol's modules (and their libraries: grpc-js with the parsed kubemq.proto, ws, the Kafka
 * codecs, the admin API) are loaded when its first listener starts, so a broker pays in memory only for
 * the listeners that are on (docs/performance.md, "Memory: modules on demand").
 */

import type { PortSetting } from '../config/schema.js';
import { kubemqChannels } from '../protocols/kubemq/servers.js';
import {
  type ListenerContext,
  type ListenerDefinition,
  listenerNames,
  type RunningListener,
} from '../protocols/listener.js';
import { securityOf } from '../protocols/serve.js';
import { isLoopback } from './auth.js';

/** A definition whose module is imported on its first start (a second start finds it in the cache). */
function loadedOnStart(configKey: PortSetting, load: () => Promise<ListenerDefinition>): ListenerDefinition {
  return {
    name: listenerNames[configKey],
    configKey,
    start: async (context) => (await load()).start(context),
  };
}

const amqp = () => import('../protocols/amqp/listener.js');
const mqtt = () => import('../protocols/mqtt/listener.js');
const kafka = () => import('../protocols/kafka/listener.js');
const kubemq = () => import('../protocols/kubemq/listener.js');

async function startAdmin(context: ListenerContext): Promise<RunningListener> {
  const [{ startAdminServer }, { kafkaTopicRules }] = await Promise.all([
    import('../admin/http.js'),
    import('./kafka-topic-rules.js'),
  ]);
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
        const addresses = context.addressGate.stats();
        return {
          ingressBytes: ingress.bytes,
          ingressUnauthenticatedBytes: ingress.unauthenticatedBytes,
          ingressPausedConnections: ingress.paused,
          ingressEvictions: ingress.evictions,
          loginHashes: logins.hashes,
          loginQueued: logins.queued,
          addressConnections: addresses.connections,
          addressRefusals: addresses.refused,
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
  loadedOnStart('amqpPort', async () => (await amqp()).amqpListener),
  loadedOnStart('amqpsPort', async () => (await amqp()).amqpsListener),
  adminListener,
  adminSecureListener,
  loadedOnStart('mqttPort', async () => (await mqtt()).mqttListener),
  loadedOnStart('mqttsPort', async () => (await mqtt()).mqttsListener),
  loadedOnStart('mqttWsPort', async () => (await mqtt()).mqttWebSocketListener),
  loadedOnStart('mqttWssPort', async () => (await mqtt()).mqttSecureWebSocketListener),
  loadedOnStart('kafkaPort', async () => (await kafka()).kafkaListener),
  loadedOnStart('kafkaTlsPort', async () => (await kafka()).kafkaTlsListener),
  loadedOnStart('grpcPort', async () => (await kubemq()).kubemqGrpcListener),
  loadedOnStart('restPort', async () => (await kubemq()).kubemqRestListener),
];
