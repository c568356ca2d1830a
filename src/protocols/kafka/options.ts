/**
 * The Kafka listener's settings and their defaults; the server fills them from the config schema.
 */
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
   * Array elements one request may hold, all its arrays together (topics, partitions, groups,
   * configs...); a request with more closes the connection, as one past frameBytesMax does.
   */
  requestEntriesMax: number;
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
  /**
   * Bytes of answers one connection may have queued to its socket and not yet sent before it handles
   * no further request and stops reading (every API alike): a client that pipelines requests and does
   * not read its answers slows only itself. It reads on once its socket has drained.
   */
  outboundBytesMax: number;
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
   * Bytes of protocol metadata one classic group member may give in JoinGroup (all its protocols
   * together); more is refused with INVALID_REQUEST. A group keeps them as long as the member stays.
   */
  memberMetadataBytesMax: number;
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
  requestEntriesMax: 10_000,
  handshakeFrameBytesMax: 64 * 1024,
  handshakeTimeoutMs: 10_000,
  idleTimeoutMs: 600_000,
  inflightRequestsMax: 256,
  fetchBytesHeldMax: 64 * 1024 * 1024,
  outboundBytesMax: 4 * 1024 * 1024,
  fetchBytesMax: 55 * 1024 * 1024,
  batchBytesMax: 16 * 1024 * 1024,
  sessionTimeoutMsMin: 100,
  sessionTimeoutMsMax: 30 * 60 * 1000,
  groupMembersMax: 1000,
  memberMetadataBytesMax: 1024 * 1024,
  groupInitialRebalanceDelayMs: 3000,
  alarmHoldMsMax: 30_000,
};
