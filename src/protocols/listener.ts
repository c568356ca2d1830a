/**
 * The listener contract. Each protocol adapter offers one `ListenerDefinition`; the server starts it
 * with a context holding everything it may use, and nothing else (no storage, no other protocol).
 */
import type { Config, PortSetting } from '../config/schema.js';
import type { CoreBroker, ScramMechanism } from '../core/api.js';
import type { CarriedPermissions, Principal } from '../core/entry/context.js';
import type { Logger } from '../shared/logger.js';
import type { ListenerGate } from './address-gate.js';
import type { IngressBudget } from './ingress.js';
import type { ListenerTls } from './tls.js';

export interface BoundListener {
  readonly name: string;
  readonly host: string;
  readonly port: number;
  readonly tls: boolean;
}

export interface ListenerContext {
  readonly host: string;
  /** The port to bind; 0 means any free port (the config said `auto`). Never "off": those are not started. */
  readonly port: number;
  /**
   * Set when this listener speaks TLS (`portSecurity` in config/schema.ts): the certificate to serve, following
   * reloads. Undefined on a plain listener, which never speaks TLS.
   */
  readonly tls: ListenerTls | undefined;
  readonly core: CoreBroker;
  readonly config: Readonly<Config>;
  /** A child logger tagged with the listener's name. */
  readonly logger: Logger;
  /** The broker's one login gate, shared by every listener (throttles and caches across protocols). */
  readonly auth: Authenticator;
  /**
   * The broker's one ingress budget (./ingress.ts): every connection opens an account and reports the
   * bytes it has read and not yet handed on; the budget pauses reading when they add up too high.
   */
  readonly ingress: IngressBudget;
  /**
   * This listener's door in the broker's one per-address cap on TCP sockets (./address-gate.ts):
   * `serveSockets` (./serve.ts) asks it at every accept.
   */
  readonly addressGate: ListenerGate;
  readonly version: string;
  readonly startedAtMs: number;
  /** Listeners bound so far, this one included once it is up (the admin API lists them). */
  boundListeners(): BoundListener[];
}

export interface RunningListener {
  /** The port actually bound. */
  readonly port: number;
  /** Stop accepting, close every connection, resolve when done. Called once. */
  close(): Promise<void>;
}

export interface ListenerDefinition {
  /** Short protocol name used in logs and on the ready line: `amqp`, `mqtt`, `http`. */
  readonly name: string;
  readonly configKey: PortSetting;
  start(context: ListenerContext): Promise<RunningListener>;
}

/** The name each port setting goes by in logs and on the ready line, built or not. */
export const listenerNames: Readonly<Record<PortSetting, string>> = {
  amqpPort: 'amqp',
  amqpsPort: 'amqps',
  mqttPort: 'mqtt',
  mqttsPort: 'mqtts',
  mqttWsPort: 'mqtt-ws',
  mqttWssPort: 'mqtt-wss',
  kafkaPort: 'kafka',
  kafkaTlsPort: 'kafka-tls',
  grpcPort: 'grpc',
  restPort: 'rest',
  httpPort: 'http',
  httpsPort: 'https',
};

/**
 * What a bearer token grants its principal (its scopes, src/server/token-scopes.ts): core decides on
 * these instead of the user store's permissions. `renew` takes a refreshed token's grants in place
 * (AMQP connection.update-secret), so the connection's principal follows from its next command on.
 */
export interface TokenGrant extends CarriedPermissions {
  readonly tags: readonly string[];
  renew(next: TokenGrant): void;
}

/**
 * A login: the user and its tags, or why not. `busy`: not checked, try again later (too many logins
 * waiting, or too many recent failures from this address); protocols answer it with their login
 * refusal, MQTT with Server busy. `anonymous`: a client without credentials that may not come in
 * (from another address, and no anonymous user is configured; or that user does not exist).
 *
 * A token login also gives the token's `grant` (the principal's permissions come from it, not from the
 * user store) and `expiresAtMs`, when the token stops being good: a connection still open then is
 * closed by a timer on core's clock (every protocol; RabbitMQ does so for MQTT and AMQP 1.0).
 */
export type LoginResult = LoginSuccess | LoginRefused;

export interface LoginSuccess {
  readonly ok: true;
  readonly user: string;
  readonly tags: readonly string[];
  readonly grant?: TokenGrant;
  readonly expiresAtMs?: number;
}

export interface LoginRefused {
  readonly ok: false;
  readonly reason: LoginRefusal;
  /** Why, in words the client may be told (a token's refusals: `the token has expired`). */
  readonly detail?: string;
}

export type LoginRefusal = 'credentials' | 'loopback_only' | 'busy' | 'anonymous';
/** Why a SASL exchange failed: a login refusal, or messages that do not follow the mechanism. */
export type SaslRefusal = LoginRefusal | 'malformed';

/**
 * One step of a SASL exchange: a challenge for the client and more to come; done, with the server's
 * last message (SCRAM's server-final) and who logged in; or refused, `detail` saying why for logs.
 */
export type SaslStep =
  | { readonly kind: 'challenge'; readonly message: Uint8Array }
  | {
      readonly kind: 'done';
      readonly message: Uint8Array;
      readonly user: string;
      readonly tags: readonly string[];
    }
  | { readonly kind: 'refused'; readonly reason: SaslRefusal; readonly detail: string };

/** The principal a successful login acts as (`clientId`: MQTT's, for `{client_id}` in topic permissions). */
export function principalOf(login: LoginSuccess, clientId?: string): Principal {
  return {
    user: login.user,
    tags: login.tags,
    ...(clientId === undefined ? {} : { clientId }),
    ...(login.grant === undefined ? {} : { carried: login.grant }),
  };
}

/** A multi-step SASL exchange for one client; `step` is called with each of its messages in turn. */
export interface SaslExchange {
  step(message: Uint8Array): Promise<SaslStep>;
}

export interface Authenticator {
  /**
   * `remoteAddress` as node:net reports it (`127.0.0.1`, `::1`, `::ffff:127.0.0.1`). Abort `signal`
   * when the client goes: its login stops waiting and its hash is dropped if nobody else needs it.
   * With JWT logins configured, a password shaped like a JWT is a token (`loginWithToken`) and the
   * user name is not looked at, as RabbitMQ's OAuth 2.0 backend does.
   */
  login(
    user: string,
    password: string,
    remoteAddress: string | undefined,
    signal?: AbortSignal,
  ): Promise<LoginResult>;
  /**
   * A client that presents no credentials (MQTT CONNECT without a user name, a KubeMQ call without a
   * token): it acts as the configured `anonymousUser`, or — none configured — as `guest`, and then
   * only from a loopback address. The user still needs permissions in the vhost.
   */
  anonymous(remoteAddress: string | undefined): LoginResult;
  /**
   * A SCRAM exchange (RFC 5802) against the users' stored SCRAM credentials, with the throttle and the
   * failed-login log of `login`; abort `signal` when the client goes.
   */
  scram(mechanism: ScramMechanism, remoteAddress: string | undefined, signal?: AbortSignal): SaslExchange;
  /**
   * A JWT bearer token (src/server/jwt.ts): the user, tags and permissions are the token's. Refused
   * (`credentials`) when JWT logins are not configured or the token does not verify; a refusal counts
   * as a failed login of the address (throttle and log). The entry point for every protocol that takes
   * a token: AMQP and MQTT passwords (through `login`), the admin API's and KubeMQ's `Bearer`, Kafka's
   * SASL/OAUTHBEARER.
   */
  loginWithToken(
    token: string,
    remoteAddress: string | undefined,
    signal?: AbortSignal,
  ): Promise<LoginResult>;
  /**
   * A verified client certificate names `user` (src/protocols/tls.ts `certificateUser`; undefined when
   * it names none): the user must exist, and logs in with its tags and stored permissions.
   */
  loginWithCertificate(user: string | undefined, remoteAddress: string | undefined): LoginResult;
  /** JWT logins are configured: `login` takes a password shaped like a JWT as a token. */
  readonly tokens: boolean;
  /** Hashes computed so far and logins waiting for a hashing process (for metrics). */
  stats?(): { readonly hashes: number; readonly queued: number };
}
