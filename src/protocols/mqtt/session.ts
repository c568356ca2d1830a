/**
 * What a packet handler sees of its connection: the client's protocol state and the few actions a
 * handler takes (send, fail, close, hold reading). Handlers import this, never the connection class,
 * so the class can import every handler without a cycle; `MqttConnection` (./connection.ts)
 * implements it.
 */
import type { Buffer } from 'node:buffer';
import type { Packet } from 'mqtt-packet';
import type { CoreClient, CoreSession } from '../../core/api.js';
import type { SharedCredit } from '../../core/credit.js';
import type { ScramMechanism } from '../../core/scram.js';
import type { Consumer, Qos } from '../../core/types.js';
import type { DescribedFields } from '../described.js';
import type { IngressAccount } from '../ingress.js';
import type { LoginSuccess, SaslExchange } from '../listener.js';
import type { Transport } from '../transport.js';
import type { Properties } from './codec/properties.js';
import type { PublishIn } from './codec/wellformed.js';
import type { SubscriptionEntry } from './model.js';
import type { ClientHandle, MqttServer, SubscriptionTable } from './server.js';

export type ProtocolVersion = 3 | 4 | 5;

/** A packet from the client: PUBLISH decoded by ./codec/wellformed.ts, every other by `mqtt-packet`. */
export type Inbound = Exclude<Packet, { cmd: 'publish' }> | PublishIn;

/** A QoS 1/2 message sent and not yet fully acknowledged (§4.3). */
export interface OutboundEntry {
  readonly queue: string;
  readonly deliveryId: number;
  /** 'pubrel': PUBREC received, the message is acked in core, PUBREL sent. */
  stage: 'publish' | 'pubrel';
  /** Counted in the session's stored in-flight map (session-queue deliveries only). */
  readonly stored: boolean;
  readonly qos?: 1 | 2;
  /** What the session's in-flight map holds for it when `stored`: the delivery id or a marker (`model.ts`). */
  readonly recorded: number;
}

/** A Will Message as CONNECT gave it (§3.1.3.2); published when the connection ends without DISCONNECT. */
export interface Will {
  readonly topic: string;
  readonly payload: Buffer;
  readonly qos: Qos;
  readonly retain: boolean;
  readonly delaySec: number;
  /** The Will Properties but Will Delay Interval; User Properties in order [MQTT-3.1.3-10]. */
  readonly properties: Properties;
}

/**
 * Who the client is once admitted, or the CONNACK refusal; `method` and `data` go into the CONNACK of
 * an enhanced authentication [MQTT-4.12.0-5].
 */
export type Admission =
  | {
      readonly login: LoginSuccess;
      readonly method?: string;
      readonly data?: Uint8Array;
    }
  | { readonly refusal: number };

/**
 * A connection's enhanced authentication (./auth.ts runs it): the method it was made with, and an
 * exchange under way.
 */
export interface Authentication {
  readonly method: ScramMechanism;
  /** Logged in as (after the CONNACK); a re-authentication must name the same user. */
  user: string | undefined;
  exchange: SaslExchange | undefined;
  /** Until the CONNACK: goes on with the CONNECT once the exchange ends. */
  admit: ((admission: Admission) => Promise<void>) | undefined;
}

/** Also what core's registry of connections reads of it (`DescribedFields`: protocol, client id, an operator's close). */
export interface Connection extends ClientHandle, DescribedFields {
  readonly server: MqttServer;
  readonly transport: Transport;
  version: ProtocolVersion;
  clientId: string;
  state: 'new' | 'connecting' | 'connected' | 'closed';
  session: CoreSession | undefined;
  readonly subscriptions: SubscriptionTable;
  readonly sharedConsumers: Map<string, Consumer>;
  /** The session queue's consumer, from the first subscription (or resume of a session with a queue). */
  sessionConsumer: Consumer | undefined;
  /** The client's Receive Maximum across all its consumers [MQTT-3.3.4-9]; set at resume. */
  readonly credit: SharedCredit;
  /** Dropped by a normal DISCONNECT and by the broker shutting down: then no will is sent. */
  will: Will | undefined;
  /** Session Expiry Interval in seconds as agreed; undefined = never expires. */
  sessionExpirySec: number | undefined;
  clientReceiveMax: number;
  clientPacketBytesMax: number;
  clientAliasesMax: number;
  readonly inboundAliases: Map<number, string>;
  readonly outboundAliases: Map<string, number>;
  readonly outbound: Map<number, OutboundEntry>;
  /**
   * Delivery id (or, for a durable session's QoS 2 message, its `sentMarker`) → packet id of messages
   * sent before a reconnect or a restart, reused when they come again (§4.4); under a `releasedMarker`,
   * a message the client PUBRECed before a restart that lost its ack, dropped when it comes again.
   */
  readonly resend: Map<number, number>;
  /** Packet ids of `resend`, not to be given to new messages meanwhile. */
  readonly reserved: Set<number>;
  nextPacketId: number;
  /** Inbound QoS 1 publishes not yet PUBACKed and QoS 2 ones not yet PUBRECed. */
  inboundPending: number;
  /** The QoS 2 ones among `inboundPending`: also among the server's ids awaiting PUBREL. */
  inboundQos2Unanswered: number;
  /** Publishes waiting for `inboundPending` to drop (3.1/3.1.1 back-pressure, see inbound.ts). */
  readonly inboundWaiters: Array<() => void>;
  /** The enhanced authentication it connected with (./auth.ts); undefined for user name and password. */
  authentication: Authentication | undefined;
  /** This connection's share of the broker's ingress budget. */
  readonly account: IngressAccount;
  /** Aborts when the connection is gone: a login waiting for its hash stops. */
  readonly gone: AbortSignal;
  /** Holder of the connection's unacked deliveries in core. */
  readonly owner: string;
  /** This client's way into core; it exists from the moment CONNECT was accepted. */
  readonly core: CoreClient;
  /** Undefined until CONNECT was accepted. */
  readonly coreIfAttached: CoreClient | undefined;
  /**
   * The front end's own way into core for this connection's session machinery, under the same
   * connection id (made on first use): what it does was decided on `core` first, or is the session's own.
   */
  readonly plumbing: CoreClient;
  /** Called once, when CONNECT is accepted: the logged-in user's (or the anonymous one's). */
  attachCore(core: CoreClient): void;
  /** The transport is read while nothing holds it. */
  holdReading(reason: 'backlog' | 'inbound' | 'budget', held: boolean): void;
  /** Reading held for answers the client did not read goes on, if its socket holds no more than its bound. */
  answersTaken(): void;
  /** CONNACK sent: full-size packets from now on. */
  loggedIn(): void;
  send(packet: Packet): void;
  /** Closes after a protocol or malformed-packet error; v5 clients are told why (§4.13). */
  fail(reason: number, message: string): void;
  /** With a reason: an operator's close (v5: DISCONNECT 0x98 Administrative action). */
  close(reason?: string): void;
  /** Keep-alive: 1.5 × the agreed interval without a packet closes the connection (§3.1.2.10). */
  startKeepAlive(seconds: number): void;
  /**
   * The login's token stops being good at `atMs` (core's clock): the connection is closed then
   * (v5: DISCONNECT 0x87 Not authorized). Undefined: no such end.
   */
  expireAt(atMs: number | undefined): void;
  /** Acks a QoS 0 delivery once the socket drains (a congested client): `flushAcks` gives them. */
  deferAck(queue: string, deliveryId: number): void;
  flushAcks(): void;
}
