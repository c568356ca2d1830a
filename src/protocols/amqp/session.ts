/**
 * What the connection-class methods (./methods/connection.ts: the handshake, close, secrets) see of
 * their connection, and the settings every connection of a listener shares. The handlers import this,
 * never the connection class, so ./connection.ts can import them without a cycle; `AmqpConnection`
 * implements `HandshakeConnection`.
 */
import type { ChannelDescription, CoreBroker, CoreClient } from '../../core/api.js';
import type { Logger } from '../../shared/logger.js';
import type { IngressAccount, IngressBudget } from '../ingress.js';
import type { Authenticator, TokenGrant } from '../listener.js';
import type { CertLoginSettings } from '../tls.js';
import type { Transport } from '../transport.js';
import type { Method } from './codec/index.js';
import type { ReplyToRegistry } from './reply-to.js';

export interface ListenerShared {
  readonly core: CoreBroker;
  readonly auth: Authenticator;
  readonly logger: Logger;
  readonly version: string;
  readonly replyTo: ReplyToRegistry;
  /** Bodies larger than this are refused at the content header (RabbitMQ's max_message_size). */
  readonly messageBytesMax: number;
  readonly ingress: IngressBudget;
  /** Time from accept to connection.open-ok (RabbitMQ's handshake_timeout). */
  readonly handshakeTimeoutMs: number;
  /** SASL mechanisms offered (amqpAuthMechanisms); EXTERNAL only to a client with a verified certificate. */
  readonly mechanisms: readonly string[];
  /** Which part of a client certificate names the user of an EXTERNAL login. */
  readonly certLogin: CertLoginSettings;
}

/** Server limits offered in connection.tune (RabbitMQ 3.x defaults). */
export const tuneDefaults = { channelMax: 2047, frameMax: 131_072, heartbeatS: 60 } as const;

export type ConnectionState =
  | 'header'
  | 'start'
  | 'secure'
  | 'tune'
  | 'open'
  | 'opened'
  | 'closing'
  | 'closed';

export interface HandshakeConnection {
  readonly id: string;
  readonly shared: ListenerShared;
  readonly transport: Transport;
  readonly log: Logger;
  state: ConnectionState;
  user: string;
  /** The logged-in user's tags (`impersonator` may publish with another `user_id`). */
  tags: readonly string[];
  /** A token login's scopes: the principal's permissions, renewed by connection.update-secret. */
  grant: TokenGrant | undefined;
  /** The mechanisms connection.start offered this client. */
  offered: readonly string[];
  core: CoreClient | undefined;
  clientCapabilities: Set<string>;
  clientProperties: Record<string, unknown>;
  frameBytesMax: number;
  channelMax: number;
  heartbeatS: number;
  /** This connection's share of the broker's ingress budget. */
  readonly account: IngressAccount;
  /** Aborted when the transport closes: a login still waiting for its hash stops. */
  readonly gone: AbortSignal;
  sendMethod(channel: number, method: Method): void;
  /** Stop reading the socket (a login is being checked). */
  pause(): void;
  resume(): void;
  /** A failure while handling a method: the connection closes with the error's reply code. */
  fail(err: unknown, classId: number, methodId: number): void;
  /** Server-initiated close (spec 4.2.2): wait for close-ok, then drop the socket. */
  closeWith(replyCode: number, replyText: string, classId?: number, methodId?: number): void;
  /** close-ok received or sent: the socket is ended. */
  finish(): void;
  /** connection.open-ok sent: the connection is usable. */
  opened(): void;
  /** Its channels as operators see them (`/api/channels`). */
  describeChannels(): ChannelDescription[];
  /**
   * The login's token stops being good at `atMs` (core's clock): the connection is closed then, with
   * 403 ACCESS_REFUSED, unless a refreshed token moves it. Undefined: no such end.
   */
  expireAt(atMs: number | undefined): void;
}
