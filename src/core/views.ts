/**
 * What core answers with and what callers describe to it: the rows of its listings (users,
 * permissions, bindings, live connections, consumers, meters), its counters and rates, a request's
 * result. Types only, over the model (./types.ts): the contracts (./api.ts, ./internal.ts) name them,
 * and the objects and command handlers that fill them import them from here rather than the other
 * way round, so that the contracts import nothing above them.
 */
import type { Headers, Message, PublishResult } from './types.js';

/** A user as the management API shows it: tags and the stored password hash (`passwordHash`). */
export interface UserView {
  readonly name: string;
  readonly tags: readonly string[];
  /** `$scrypt$N=<cost>,r=8,p=1$<salt>$<hash>` (base64), or '' for a user without a password. */
  readonly passwordHash: string;
}

/** The credential a user is put with: a password to hash, a hash made elsewhere, or none at all. */
export type UserCredential =
  | { readonly password: string }
  | { readonly passwordHash: string }
  | { readonly none: true };

/**
 * What a user may do in one vhost, as RabbitMQ states it: three regular expressions over the names of
 * exchanges and queues (streams are queues), searched unanchored; an empty one allows nothing.
 */
export interface StoredPermission {
  readonly configure: string;
  readonly write: string;
  readonly read: string;
}

/**
 * A user's topic permission on one exchange of a vhost: regular expressions over routing keys, with
 * `{username}`, `{vhost}` and `{client_id}` replaced when checked (RabbitMQ's topic authorisation).
 */
export interface StoredTopicPermission {
  readonly write: string;
  readonly read: string;
}

export interface PermissionRow extends StoredPermission {
  readonly vhost: string;
  readonly user: string;
}

export interface TopicPermissionRow extends StoredTopicPermission {
  readonly vhost: string;
  readonly user: string;
  readonly exchange: string;
}

/** Rows of one user, one vhost, or (neither given) all. */
export interface PermissionFilter {
  readonly vhost?: string;
  readonly user?: string;
}

export interface BindingRow {
  readonly source: string;
  readonly destination: string;
  readonly destinationKind: 'queue' | 'exchange';
  readonly routingKey: string;
  readonly args: Headers;
}

/** What `access.describe` answers. */
export interface AccessView {
  readonly user: string;
  readonly tags: readonly string[];
  /** Vhosts where the user has permissions. */
  readonly vhosts: readonly string[];
}

export interface MessageCounts {
  /** Messages published to an exchange, or routed into a queue. */
  published: number;
  /** Deliveries to consumers and `get`s. */
  delivered: number;
  /** Deliveries that were redeliveries. */
  redelivered: number;
  acked: number;
  /** Of `delivered`, those that were `get`s (RabbitMQ's `get`; `deliver` is the rest). */
  got: number;
  /** Publishes confirmed to their publisher (AMQP publisher confirms; RabbitMQ's `confirm`). */
  confirmed: number;
}

/** What the sampler reads: each counted object by kind and name. */
export type MeteredKind = 'queue' | 'exchange' | 'vhost' | 'connection' | 'channel';

export type MessageRates = { readonly [K in keyof MessageCounts]: number };

/** The totals' counters and the messages queued in the broker at a time (the totals' ring). */
export interface TotalSample {
  readonly atMs: number;
  readonly counts: MessageCounts;
  readonly lengths: Readonly<QueueLengths>;
}

/**
 * Messages in a vhost's classic queues, kept as they enter and leave (ready: waiting for a consumer;
 * unacked: delivered, not yet settled), so that sampling them every 5 s costs nothing per queue.
 */
export interface QueueLengths {
  ready: number;
  unacked: number;
}

/** One channel of a connection (AMQP's; other protocols have none to show). */
export interface ChannelDescription {
  readonly number: number;
  /** Per-consumer prefetch (`basic.qos` global false); 0 = unlimited. */
  readonly prefetchCount: number;
  readonly globalPrefetchCount: number;
  readonly unacked: number;
  readonly consumers: number;
  readonly confirm: boolean;
  readonly transactional: boolean;
}

/** What a front end's transport knows of its traffic, read on demand. */
export interface ConnectionTraffic {
  readonly recvOct: number;
  readonly sendOct: number;
  /**
   * Bytes written to the connection and not yet taken by its socket (RabbitMQ's `send_pend`): what a
   * client that does not read makes the broker hold, up to its protocol's bound.
   */
  readonly sendPend: number;
  /** Frames or packets, where the front end counts them. */
  readonly recvCnt?: number;
  readonly sendCnt?: number;
}

/**
 * What a front end tells core about one of its connections at `connection.open`. The functions are
 * called when an operator asks (never on the message path); `close` ends it in its protocol's terms.
 */
export interface ConnectionDescription {
  /** Unique among live connections; RabbitMQ's form is `peer:port -> local:port`. */
  readonly name: string;
  /** As shown to operators: `AMQP 0-9-1`, `MQTT 3.1.1`, `MQTT 5.0`, `Kafka`, `KubeMQ`. */
  readonly protocol: string;
  readonly peerHost: string;
  readonly peerPort: number | undefined;
  readonly host: string;
  readonly port: number | undefined;
  readonly tls: boolean;
  readonly connectedAtMs: number;
  /** AMQP's client properties. */
  readonly clientProperties?: Headers;
  /** The client's own id (MQTT, Kafka, KubeMQ); Kafka's comes with each request, so it is asked for. */
  clientId(): string | undefined;
  traffic(): ConnectionTraffic;
  channels(): ChannelDescription[];
  /** Subscriptions the connection holds, where its protocol has no channels to count them (KubeMQ). */
  subscriptions?(): number;
  /** Closes the connection as its protocol closes one by the operator's hand, giving `reason` where it can. */
  close(reason: string): void;
}

/** A live connection of a vhost, as `connection.list` answers. */
export interface LiveConnection {
  readonly connectionId: string;
  readonly vhost: string;
  readonly user: string;
  readonly description: ConnectionDescription;
}

/** One consumer of a queue, as `consumer.list` answers. */
export interface ConsumerRow {
  readonly queue: string;
  readonly tag: string;
  /** `<connectionId>/<owner>` (src/core/README.md, "Owner ids"). */
  readonly owner: string;
  readonly ackRequired: boolean;
  readonly exclusive: boolean;
  readonly prefetch: number;
  readonly priority: number;
}

/** One counted object: its name (a connection's id for connections) and counters. */
export interface MeterRow {
  readonly name: string;
  readonly counts: MessageCounts;
  readonly rates: MessageRates;
}

/** What `request.send` gives back: the publish, the reply address, and the reply (undefined: none in time). */
export interface RequestResult extends PublishResult {
  readonly replyTo: string;
  readonly reply: Promise<Message | undefined>;
}
