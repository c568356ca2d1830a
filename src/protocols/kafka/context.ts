/**
 * What every Kafka handler sees: the broker-wide Kafka state (one per listener) and the request's
 * own facts (version, client, the address the client reached us on, which Metadata advertises).
 */
import type { CoreBroker, CoreClient } from '../../core/api.js';
import type { Logger } from '../../shared/logger.js';
import type { IngressBudget } from '../ingress.js';
import type { ConnectionAcls } from './acls.js';
import type { FrameLease } from './buffer-pool.js';
import type { ConsumerGroupCoordinator } from './consumer-groups.js';
import type { DynamicBrokerConfigs } from './dynamic-broker-configs.js';
import type { FetchBytesHeld } from './fetch-bytes.js';
import type { FetchSessionCache } from './fetch-sessions.js';
import type { GroupCoordinator } from './groups.js';
import type { ProducerRegistry } from './producers.js';
import type { SaslMechanism, SaslSession } from './sasl.js';
import type { ShareGroupCoordinator } from './share-groups.js';
import type { TopicConfigStore } from './topic-settings.js';

export interface KafkaOptions {
  /** Metadata for an unknown topic creates it (Kafka's `auto.create.topics.enable`). */
  autoCreateTopics: boolean;
  /** Partitions of an auto-created topic, and of CreateTopics asking for -1. */
  defaultPartitions: number;
  /** The largest replication factor CreateTopics accepts; one node keeps one replica regardless. */
  replicationFactorMax: number;
  /** The log directory DescribeLogDirs names: the data folder, or `memory` when nothing is kept. */
  logDir: string;
  /** The vhost whose streams are the Kafka topics (setting kafkaVhost). */
  vhost: string;
  /** Every connection authenticates with SASL first (SASL_PLAINTEXT, SASL_SSL). */
  sasl: boolean;
  /** How long a SASL login lasts before the client must re-authenticate (KIP-368); 0: no limit. */
  saslSessionLifetimeMs: number;
  /** Largest request frame accepted; larger ones close the connection. */
  frameBytesMax: number;
  /**
   * Largest request before a connection is logged in: until its SASL authentication completes, or
   * without SASL until its first request is answered.
   */
  handshakeFrameBytesMax: number;
  /** Time from accept to the SASL login (without SASL: to the first whole request). */
  handshakeTimeoutMs: number;
  /** A connection that sends nothing and awaits no answer this long is closed (connections.max.idle.ms). */
  idleTimeoutMs: number;
  /** Requests read but not yet answered on one connection before reading pauses. */
  inflightRequestsMax: number;
  /**
   * Bytes of Fetch answers one connection may hold, read and not yet taken by its socket, before its
   * next fetch waits to read (./fetch-bytes.ts); above Kafka's default fetch.max.bytes (50 MiB).
   */
  fetchBytesHeldMax: number;
  /** Record bytes one Fetch answer carries at most, whatever the request asks (KIP-541's fetch.max.bytes). */
  fetchBytesMax: number;
  /** A record batch larger than this gets MESSAGE_TOO_LARGE. */
  batchBytesMax: number;
  /** Bounds on consumer-group session timeouts (Kafka's group.min/max.session.timeout.ms). */
  sessionTimeoutMsMin: number;
  sessionTimeoutMsMax: number;
  /** Members of one consumer group. */
  groupMembersMax: number;
  /**
   * How long a group with no members waits for others before completing its first join (Kafka's
   * group.initial.rebalance.delay.ms), so a group starting up gets one generation instead of one per member.
   */
  groupInitialRebalanceDelayMs: number;
  /** Longest a Produce waits for a resource alarm to clear (also bounded by its own timeout). */
  alarmHoldMsMax: number;
}

export const kafkaOptionsDefault: KafkaOptions = {
  autoCreateTopics: true,
  defaultPartitions: 1,
  replicationFactorMax: 1,
  logDir: 'memory',
  vhost: '/',
  sasl: false,
  saslSessionLifetimeMs: 0,
  frameBytesMax: 100 * 1024 * 1024,
  handshakeFrameBytesMax: 64 * 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  inflightRequestsMax: 256,
  fetchBytesHeldMax: 64 * 1024 * 1024,
  fetchBytesMax: 55 * 1024 * 1024,
  batchBytesMax: 16 * 1024 * 1024,
  sessionTimeoutMsMin: 100,
  sessionTimeoutMsMax: 30 * 60 * 1000,
  groupMembersMax: 1000,
  groupInitialRebalanceDelayMs: 3000,
  alarmHoldMsMax: 30_000,
};

/** The single node's id, also the controller and every coordinator. */
export const nodeId = 0;
export const clusterId = 'switchyard';

export interface KafkaBroker {
  readonly core: CoreBroker;
  /**
   * The listener's own way into core, in the vhost of the topics: the coordinators' plumbing (group
   * records, share-partition logs). What a client asks for goes through `RequestContext.client`.
   */
  readonly vhost: CoreClient;
  /** The SASL mechanisms offered, by name. */
  readonly saslMechanisms: ReadonlyMap<string, SaslMechanism>;
  readonly options: KafkaOptions;
  readonly groups: GroupCoordinator;
  /** KIP-848 groups (`group.protocol=consumer`), beside the classic ones. */
  readonly consumerGroups: ConsumerGroupCoordinator;
  /** Share groups (KIP-932). */
  readonly shareGroups: ShareGroupCoordinator;
  /** Fetch sessions (KIP-227), listener-wide so a consumer keeps its session across connections. */
  readonly fetchSessions: FetchSessionCache;
  readonly producers: ProducerRegistry;
  /** Topic configs the adapter keeps (all but retention, which core keeps). */
  readonly topicConfigs: TopicConfigStore;
  /** The dynamic broker configs set that have no effect here (max.connections is core's limit). */
  readonly brokerConfigs: DynamicBrokerConfigs;
  readonly logger: Logger;
  readonly ingress: IngressBudget;
}

export interface RequestContext {
  readonly broker: KafkaBroker;
  /**
   * The connection's way into core: it acts as the logged-in user (or, without SASL, as the anonymous
   * one), so core's permission checks decide what it may do.
   */
  readonly client: CoreClient;
  /** Kafka's principal string for ACLs: `User:<name>`, `User:ANONYMOUS` without SASL. */
  readonly kafkaPrincipal: string;
  /** The connection's SASL state on a SASL port; undefined on a PLAINTEXT or SSL one. */
  readonly sasl: SaslSession | undefined;
  readonly apiVersion: number;
  readonly clientId: string;
  /** Host and port this connection reached; what Metadata and FindCoordinator advertise. */
  readonly advertisedHost: string;
  readonly advertisedPort: number;
  readonly clientHost: string;
  /** The connection's ACL decisions (./acls.ts). */
  readonly acls: ConnectionAcls;
  /** The connection's Fetch answers held unsent, bounded (./fetch-bytes.ts). */
  readonly fetchBytes: FetchBytesHeld;
  /** Aborted when the connection closes: what it left open goes with it (its share sessions). */
  readonly closed?: AbortSignal;
  /**
   * Set when the request was assembled in a pooled buffer (a large Produce, ./buffer-pool.ts): a
   * handler that gives views of the request to someone who keeps them past its return must `hold`
   * the frame (storage releases its hold once written) or `keep` it.
   */
  readonly frame?: FrameLease;
}

/** What helpers acting for a request need of it: the shared state and the caller's way into core. */
export type Scope = Pick<RequestContext, 'broker' | 'client'>;

/** A response answered later (durability, long-poll, group barrier) without holding up the next request. */
export class Later {
  readonly response: Promise<object | null>;
  /**
   * Settles once the request has taken effect, when that comes after the handler returned (a
   * transactional batch waiting for its partitions to be durable): the next request of the same
   * transactional id waits for it (../txn-order.ts).
   */
  readonly applied: Promise<void> | undefined;
  constructor(response: Promise<object | null>, applied?: Promise<void>) {
    this.response = response;
    this.applied = applied;
  }
}

/** What a handler returns: a response body, nothing (acks=0), or a response to come. */
export type Reply = object | null | Later;

export interface ApiHandler {
  readonly apiKey: number;
  readonly versionMin: number;
  readonly versionMax: number;
  handle(ctx: RequestContext, request: unknown): Reply | Promise<Reply>;
}
