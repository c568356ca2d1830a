/**
 * The Kafka listeners, plain (9092, PLAINTEXT) and TLS (9093, SSL): connections speak the Kafka
 * protocol against the topics of one vhost. Both share one group coordinator, producer registry and
 * topic config store per core, and each advertises in Metadata the address and port its client
 * reached. `createKafkaListeners(options)` lets an embedder change the defaults (auto-creation,
 * default partitions, limits); the server registers the listeners with the defaults.
 */

import { resolve } from 'node:path';
import { internalPrincipal } from '../../core/entry/context.js';
import { describeConnection } from '../described.js';
import type { ListenerContext, ListenerDefinition } from '../listener.js';
import { PerCore } from '../per-core.js';
import { type Acceptor, serveTransports } from '../serve.js';
import type { Transport } from '../transport.js';
import { KafkaConnection } from './connection.js';
import { type KafkaBroker, type KafkaOptions, kafkaOptionsDefault } from './context.js';
import './entry-format.js';
import { ConsumerGroupCoordinator } from './consumer-groups.js';
import { FetchSessionCache } from './fetch-sessions.js';
import { GroupStore } from './group-store.js';
import { GroupCoordinator } from './groups.js';
import { ProducerRegistry } from './producers.js';
import { ShareGroupCoordinator } from './share-groups.js';
import { TopicConfigStore } from './topic-settings.js';

/** Open client connections per listener; more are refused at accept. */
export const connectionsMax = 10_000;

const brokers = new PerCore<KafkaBroker>((broker) => {
  broker.groups.close();
  broker.consumerGroups.close();
  broker.shareGroups.close();
});

/** The configuration's settings, then what the embedder passed in code. */
function optionsOf(context: ListenerContext, overrides: Partial<KafkaOptions>): KafkaOptions {
  const { config } = context;
  return {
    ...kafkaOptionsDefault,
    autoCreateTopics: config.kafkaAutoCreateTopics,
    defaultPartitions: config.kafkaDefaultPartitions,
    replicationFactorMax: config.kafkaReplicationFactorMax,
    logDir: config.storage === 'file' ? resolve(config.dataDir) : 'memory',
    groupInitialRebalanceDelayMs: config.kafkaGroupInitialRebalanceDelayMs,
    handshakeFrameBytesMax: config.handshakeBytesMax,
    handshakeTimeoutMs: config.handshakeTimeoutMs,
    idleTimeoutMs: config.kafkaIdleTimeoutMs,
    ...overrides,
  };
}

function createBroker(context: ListenerContext, options: KafkaOptions): KafkaBroker {
  const vhost = context.core.connect({
    principal: internalPrincipal,
    vhost: options.vhost,
    connectionId: 'kafka',
    protocol: 'kafka',
    peerAddress: '',
  });
  const groupStore = new GroupStore(vhost);
  const reportGroup = (err: unknown, groupId: string): void =>
    context.logger.warn({ err, groupId }, 'kafka group metadata not stored');
  const partitions = (topic: string): number | undefined => vhost.stream(topic)?.partitions;
  return {
    core: context.core,
    vhost,
    options,
    // Groups stored before a restart are loaded here, each member on a new session timeout.
    groups: new GroupCoordinator(options, groupStore, reportGroup, context.core.clock),
    consumerGroups: new ConsumerGroupCoordinator(context.core.clock, partitions, groupStore, reportGroup),
    shareGroups: new ShareGroupCoordinator(context.core.clock, partitions),
    fetchSessions: new FetchSessionCache(context.core.clock),
    producers: new ProducerRegistry(vhost),
    topicConfigs: new TopicConfigStore(vhost),
    logger: context.logger,
    ingress: context.ingress,
  };
}

/**
 * The protocol side of one Kafka listener: connections over any transport. The first listener of a
 * core sets the shared options.
 */
/** Numbers the connections of every Kafka acceptor in the process (their core connection ids). */
let accepted = 0;

export function kafkaAcceptor(context: ListenerContext, overrides: Partial<KafkaOptions> = {}): Acceptor {
  const { core } = context;
  const broker = brokers.acquire(core, () => createBroker(context, optionsOf(context, overrides)));
  const connections = new Set<KafkaConnection>();
  return {
    accept(transport: Transport): void {
      if (connections.size >= connectionsMax) {
        transport.destroy();
        return;
      }
      // Kafka has no answer that refuses a connection: one past the vhost's max-connections is closed.
      const counted = core.connect({
        principal: internalPrincipal,
        vhost: broker.options.vhost,
        connectionId: `kafka-${++accepted}`,
        protocol: 'kafka',
        peerAddress: transport.remoteAddress ?? '',
      });
      const connection = new KafkaConnection(transport, broker);
      try {
        counted.openConnection(
          describeConnection(transport, {
            protocol: 'Kafka',
            clientId: () => connection.clientId,
            // Kafka has no word for it: an operator's close is the socket's.
            close: () => connection.close(),
          }),
        );
      } catch {
        connection.close();
        transport.destroy();
        return;
      }
      connections.add(connection);
      void transport.whenClosed().then(() => {
        connections.delete(connection);
        counted.closeConnection();
      });
    },
    async close(): Promise<void> {
      for (const connection of connections) connection.close();
      brokers.release(core);
    },
  };
}

export function createKafkaListeners(overrides: Partial<KafkaOptions> = {}): ListenerDefinition[] {
  const start = (context: ListenerContext) => serveTransports(context, kafkaAcceptor(context, overrides));
  return [
    { name: 'kafka', configKey: 'kafkaPort', start },
    { name: 'kafka-tls', configKey: 'kafkaTlsPort', start },
  ];
}

/** The plain listener alone, with `overrides` (the TLS one started beside it shares its options). */
export function createKafkaListener(overrides: Partial<KafkaOptions> = {}): ListenerDefinition {
  return createKafkaListeners(overrides)[0]!;
}

export const [kafkaListener, kafkaTlsListener] = createKafkaListeners() as [
  ListenerDefinition,
  ListenerDefinition,
];
