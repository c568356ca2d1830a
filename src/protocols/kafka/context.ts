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
import type { KafkaOptions } from './options.js';
import type { ProducerRegistry } from './producers.js';
import type { SaslSession } from './sasl.js';
import type { SaslMechanism } from './sasl-mechanism.js';
import type { ShareGroupCoordinator } from './share-groups.js';
import type { TopicConfigStore } from './topic-settings.js';

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
  /**
   * When set, the body is `shape(value, shapeOf)` of the value `response` settles with: the usual
   * Produce answers one partition, and wrapping it in its response here, as it is written, spares
   * every produce a promise and a closure of its own. Read the body with `bodyOf`.
   */
  readonly shape: ((value: object, shapeOf: string) => object) | undefined;
  readonly shapeOf: string;
  constructor(
    response: Promise<object | null>,
    applied?: Promise<void>,
    shape?: (value: object, shapeOf: string) => object,
    shapeOf = '',
  ) {
    this.response = response;
    this.applied = applied;
    this.shape = shape;
    this.shapeOf = shapeOf;
  }

  /** The response body for the value `response` settled with. */
  bodyOf(value: object | null): object | null {
    return value === null || this.shape === undefined ? value : this.shape(value, this.shapeOf);
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
