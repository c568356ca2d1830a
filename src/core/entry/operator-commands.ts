/**
 * Command kinds for operators (merged into `CommandSpecs`, ./commands.ts): the live connections of a
 * vhost as their front ends describe them, closing one, and the consumers of its queues; the
 * `OperatorClient` methods that issue them (part of `CoreClient`). Core stores only what the front end
 * handed it at `connection.open`; every figure is read from it when an operator asks, so the message
 * path pays nothing for these listings.
 */
import type { Headers } from '../types.js';
import type { MessageCounts, MeteredKind } from './meters.js';
import type { MessageRates, TotalSample } from './rates.js';

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

export interface OperatorCommandSpecs {
  /** The vhost's live connections that described themselves at `connection.open`. */
  'connection.list': { in: object; out: LiveConnection[] };
  /** Closes the connection of the vhost named `name`; false when there is none. */
  'connection.kill': { in: { name: string; reason: string }; out: boolean };
  'consumer.list': { in: object; out: ConsumerRow[] };
  /**
   * Message counters and their rates over the last sampling interval: of the caller's vhost's queues,
   * exchanges or connections, of the vhost itself, or of the broker (`total`).
   */
  'meters.read': {
    /** Of queues or exchanges, only these (a page of a listing); objects never counted are left out. */
    in: { objects: MeteredKind | 'total'; names?: readonly string[] };
    out: MeterRow[];
  };
  /** The broker totals' recent samples, oldest first. */
  'meters.samples': { in: object; out: readonly TotalSample[] };
  /**
   * `count` publishes of the caller's connection were confirmed to their publisher (AMQP's basic.ack
   * on a confirm channel): counted as RabbitMQ's `confirm` by ./meters.ts, nothing else is done.
   */
  'meters.confirm': { in: { count: number; channel?: number }; out: void };
}

/** One counted object: its name (a connection's id for connections) and counters. */
export interface MeterRow {
  readonly name: string;
  readonly counts: MessageCounts;
  readonly rates: MessageRates;
}

export const operatorQueryKinds = [
  'connection.list',
  'consumer.list',
  'meters.read',
  'meters.samples',
] as const satisfies ReadonlyArray<keyof OperatorCommandSpecs>;

/** The `CoreClient` methods for operators (./client.ts implements them). */
export interface OperatorClient {
  listConnections(): LiveConnection[];
  killConnection(name: string, reason: string): boolean;
  listConsumers(): ConsumerRow[];
  readMeters(objects: MeteredKind | 'total', names?: readonly string[]): MeterRow[];
  meterSamples(): readonly TotalSample[];
  /** `channel`: the AMQP channel that confirmed them, for its row in `/api/channels`. */
  countConfirms(count: number, channel?: number): void;
}
