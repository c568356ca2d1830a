/**
 * The Kafka listener: a TCP server whose connections speak the Kafka protocol against the topics of
 * one vhost. `createKafkaListener(options)` lets an embedder change the defaults (auto-creation,
 * default partitions, limits); the server registers `kafkaListener` with the defaults.
 */
import { createServer, type Socket } from 'node:net';
import { resolve } from 'node:path';
import { internalPrincipal } from '../../core/entry/context.js';
import type { ListenerDefinition, RunningListener } from '../listener.js';
import { KafkaConnection } from './connection.js';
import { type KafkaBroker, type KafkaOptions, kafkaOptionsDefault } from './context.js';
import './entry-format.js';
import { listenOn } from '../../shared/net.js';
import { ConsumerGroupCoordinator } from './consumer-groups.js';
import { FetchSessionCache } from './fetch-sessions.js';
import { GroupStore } from './group-store.js';
import { GroupCoordinator } from './groups.js';
import { ProducerRegistry } from './producers.js';
import { ShareGroupCoordinator } from './share-groups.js';
import { TopicConfigStore } from './topic-settings.js';

/** Open client connections per listener; more are refused at accept. */
export const connectionsMax = 10_000;

export function createKafkaListener(overrides: Partial<KafkaOptions> = {}): ListenerDefinition {
  return {
    name: 'kafka',
    configKey: 'kafkaPort',
    async start(context): Promise<RunningListener> {
      // The configuration's settings, then what the embedder passed in code.
      const { config } = context;
      const options: KafkaOptions = {
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
      const broker: KafkaBroker = {
        core: context.core,
        vhost,
        options,
        // Groups stored before a restart are loaded here, each member on a new session timeout.
        groups: new GroupCoordinator(options, groupStore, reportGroup, context.core.clock),
        consumerGroups: new ConsumerGroupCoordinator(
          context.core.clock,
          (topic) => vhost.stream(topic)?.partitions,
          groupStore,
          reportGroup,
        ),
        shareGroups: new ShareGroupCoordinator(
          context.core.clock,
          (topic) => vhost.stream(topic)?.partitions,
        ),
        fetchSessions: new FetchSessionCache(context.core.clock),
        producers: new ProducerRegistry(vhost),
        topicConfigs: new TopicConfigStore(vhost),
        logger: context.logger,
        ingress: context.ingress,
      };
      const connections = new Set<KafkaConnection>();
      let boundPort = 0;
      const server = createServer((socket: Socket) => {
        if (connections.size >= connectionsMax) return void socket.destroy();
        const connection = new KafkaConnection(socket, broker, boundPort);
        connections.add(connection);
        socket.on('close', () => connections.delete(connection));
      });
      boundPort = await listenOn(server, context.host, context.port);
      return {
        port: boundPort,
        async close() {
          const closed = new Promise<void>((resolve) => server.close(() => resolve()));
          for (const connection of connections) connection.close();
          broker.groups.close();
          broker.consumerGroups.close();
          broker.shareGroups.close();
          await closed;
        },
      };
    },
  };
}

export const kafkaListener: ListenerDefinition = createKafkaListener();
