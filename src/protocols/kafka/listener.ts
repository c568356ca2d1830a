/**
 * The Kafka listeners, plain (9092) and TLS (9093): connections speak the Kafka protocol against the
 * topics of one vhost (`kafkaVhost`). Both share one group coordinator, producer registry and topic
 * config store per core, and each advertises in Metadata the address and port its client reached.
 * With `kafkaSasl` in force the ports are SASL_PLAINTEXT and SASL_SSL: every connection logs in
 * first (./sasl.ts) and then acts as its user. Without, they are PLAINTEXT and SSL and a connection
 * acts as the anonymous principal (`anonymousPrincipalOf`). `createKafkaListeners(options)` lets an
 * embedder change the defaults; the server registers the listeners with the defaults.
 */

import { resolve } from 'node:path';
import type { KafkaSaslMode } from '../../config/schema.js';
import { internalPrincipal, type Principal } from '../../core/entry/context.js';
import { isLoopback } from '../../shared/net.js';
import type { Authenticator, ListenerContext, ListenerDefinition } from '../listener.js';
import { PerCore } from '../per-core.js';
import { type Acceptor, serveTransports } from '../serve.js';
import type { Transport } from '../transport.js';
import { KafkaConnection } from './connection.js';
import type { KafkaBroker } from './context.js';
import { type KafkaOptions, kafkaOptionsDefault } from './options.js';
import './entry-format.js';
import { ConsumerGroupCoordinator } from './consumer-groups.js';
import { DynamicBrokerConfigs } from './dynamic-broker-configs.js';
import { FetchSessionCache } from './fetch-sessions.js';
import { GroupStore } from './group-store.js';
import { GroupCoordinator } from './groups.js';
import { ProducerRegistry } from './producers.js';
import { saslMechanisms } from './sasl.js';
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
    fetchBytesMax: config.kafkaFetchBytesMax,
    requestEntriesMax: config.kafkaRequestEntriesMax,
    vhost: config.kafkaVhost,
    sasl: saslInForce(config.kafkaSasl, context.host),
    saslSessionLifetimeMs: config.kafkaSaslSessionLifetimeMs,
    ...overrides,
  };
}

/** Whether the Kafka ports require SASL: `auto` means on a broker bound to anything but loopback. */
export function saslInForce(mode: KafkaSaslMode, host: string): boolean {
  return mode === 'required' || (mode === 'auto' && !isLoopback(host));
}

/** Who a connection that did not log in may be on a port without SASL: nobody has no permissions. */
const nobody: Principal = Object.freeze({ user: '', tags: Object.freeze([]) });

/**
 * The principal of a connection on a PLAINTEXT or SSL port, or undefined to refuse it. With
 * `anonymousUser` set it is that user, from any address, with that user's permissions. Without, a
 * client on a loopback address (or in the same process) keeps what Kafka clients always had here, the
 * listener's own rights; one from elsewhere is refused (logged by the login gate), where Kafka would
 * let it in as ANONYMOUS.
 */
export function anonymousPrincipalOf(
  auth: Authenticator,
  anonymousUser: string,
  transport: Pick<Transport, 'kind' | 'remoteAddress'>,
): Principal | undefined {
  const local = transport.kind === 'memory' || isLoopback(transport.remoteAddress);
  if (anonymousUser === '' && local) return internalPrincipal;
  const result = auth.anonymous(transport.remoteAddress);
  return result.ok ? { user: result.user, tags: result.tags } : undefined;
}

function createBroker(context: ListenerContext, options: KafkaOptions): KafkaBroker {
  return kafkaBrokerOf({
    core: context.core,
    options,
    logger: context.logger,
    ingress: context.ingress,
    saslMechanisms: saslMechanisms(context.auth),
  });
}

/** What the Kafka state shared by every listener of a core is made of. */
export type KafkaBrokerParts = Pick<
  KafkaBroker,
  'core' | 'options' | 'logger' | 'ingress' | 'saslMechanisms'
> & {
  /** Whose permissions the broker's own core client has: the listener's (internal), or a test's. */
  readonly principal?: Principal;
};

/** The listeners' shared Kafka state over `core`; groups and share groups stored before a restart are loaded. */
export function kafkaBrokerOf(parts: KafkaBrokerParts): KafkaBroker {
  const { core, options, logger } = parts;
  const vhost = core.connect({
    principal: parts.principal ?? internalPrincipal,
    vhost: options.vhost,
    connectionId: 'kafka',
    protocol: 'kafka',
    peerAddress: '',
  });
  const groupStore = new GroupStore(vhost);
  const reportGroup = (err: unknown, groupId: string): void =>
    logger.warn({ err, groupId }, 'kafka group metadata not stored');
  const partitions = (topic: string): number | undefined => vhost.stream(topic)?.partitions;
  const topics = (): string[] => vhost.streams().map((s) => s.name);
  // Share groups come back without members.
  const shareGroups = new ShareGroupCoordinator(
    core.clock,
    partitions,
    {
      load: () => vhost.shareGroupStates(),
      write: (group, change) => vhost.writeShareState(group, change),
    },
    (err, groupId) => logger.warn({ err, groupId }, 'kafka share group state not stored'),
  );
  return {
    core,
    vhost,
    options,
    // Each member stored before a restart is on a new session timeout.
    groups: new GroupCoordinator(options, groupStore, reportGroup, core.clock),
    // A consumer group's session timeout is a GROUP config, kept with the share groups' configs.
    consumerGroups: new ConsumerGroupCoordinator(
      core.clock,
      partitions,
      groupStore,
      reportGroup,
      topics,
      (groupId) => shareGroups.consumerTimingOf(groupId).sessionMs,
    ),
    shareGroups,
    fetchSessions: new FetchSessionCache(core.clock),
    producers: new ProducerRegistry(),
    topicConfigs: new TopicConfigStore(vhost),
    brokerConfigs: new DynamicBrokerConfigs(),
    logger,
    ingress: parts.ingress,
    saslMechanisms: parts.saslMechanisms,
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
      const { sasl } = broker.options;
      const principal = sasl
        ? nobody
        : anonymousPrincipalOf(context.auth, context.config.anonymousUser, transport);
      if (principal === undefined) {
        transport.destroy();
        return;
      }
      const connection = new KafkaConnection(transport, broker, {
        connectionId: `kafka-${++accepted}`,
        principal,
        sasl,
      });
      // Kafka has no answer that refuses a connection: one past the vhost's max-connections (or, for
      // an anonymous user, without access to the vhost) is closed. A SASL login counts at its login.
      const counted = connection.client;
      if (!sasl) {
        try {
          counted.checkVhostAccess();
          counted.openConnection(connection.description());
        } catch {
          connection.close();
          return;
        }
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
  // The connection copies what it keeps of a read, and has large Produce requests read in place.
  const start = (context: ListenerContext) =>
    serveTransports(context, kafkaAcceptor(context, overrides), { sharedReads: true });
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
