/**
 * What the gRPC and REST listeners of one core share: the limits, the live events-store subscribers
 * by client id, the query cache, the channels known to exist, and the way in — `login` (the one place
 * a KubeMQ caller's credentials are checked) and `caller` (a connection of our own per gRPC call or
 * stream, per REST request or WebSocket: KubeMQ's `ClientID` is the client's name, not a connection).
 */
import { Buffer } from 'node:buffer';
import { hostname } from 'node:os';
import { status } from '@grpc/grpc-js';
import type { CoreBroker, CoreClient } from '../../core/api.js';
import { internalPrincipal, type Principal } from '../../core/entry/context.js';
import { ErrorCode, isBrokerError } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { type Authenticator, type LoginResult, principalOf } from '../listener.js';
import type { PeerCertificate } from '../tls.js';
import { ChannelActivity, type ChannelType } from './activity.js';
import { QueryCache } from './cache.js';
import { Channels } from './channel-kinds.js';
import { KubemqFailure } from './errors.js';
import { type KubemqLimits, kubemqLimitsDefault } from './limits.js';
import { type CallEnds, CallPresence } from './presence.js';

/** Topic exchanges that commands and queries are routed through (events use `amq.topic`). */
export const Exchanges = { commands: 'kubemq.commands', queries: 'kubemq.queries' } as const;

export interface KubemqOptions {
  readonly vhost?: string;
  readonly limits?: Partial<KubemqLimits>;
}

/**
 * What a caller presents: an `authorization` token (gRPC metadata or HTTP header), if any, and over
 * TLS the client certificate that verified against the CA, if any.
 */
export interface Credentials {
  readonly token: string | undefined;
  readonly certificate?: PeerCertificate | undefined;
}

/** Who a caller logged in as, and when its token (if it gave one) stops being good. */
export interface KubemqLogin {
  readonly principal: Principal;
  readonly expiresAtMs: number | undefined;
}

/** One gRPC call or stream, REST request or WebSocket, as core sees it. */
export interface Caller {
  readonly server: KubemqServer;
  /** Acts as the logged-in user: every send and receive the client asks for is decided on it. */
  readonly core: CoreClient;
  /**
   * The front end's own way into core for this call (a subscription's queue, dead-lettering by
   * policy), under the same connection id; what it serves was decided on `core` first.
   */
  readonly plumbing: CoreClient;
  readonly connectionId: string;
  /** This call consumes or declares queues of its own: `close` must give them back. */
  holds(): void;
  /** A message of `clientId` went to `channel` (counted for `/api/kubemq/channels`). */
  sent(type: ChannelType, channel: string, clientId: string): void;
  /** A subscription to `channel` (or a receive waiting on a queue), counted until it or the call ends. */
  subscribe(type: ChannelType, channel: string, clientId?: string): () => void;
  /**
   * Lists this long-lived call in `/api/connections` (./presence.ts); `close` ends it when an operator
   * closes it. Throws when the vhost's or user's `max-connections` is reached.
   */
  register(ends: CallEnds, close: (reason: string) => void): void;
  /** The call ended: what it held goes back (unacked deliveries, its subscription queues). */
  close(): void;
  readonly closed: boolean;
  /** Runs once the call ends (at once if it has). */
  onClose(listener: () => void): void;
  /**
   * Runs when the login's token expires while the call is still open (a subscription, a stream): the
   * stream is then ended with UNAUTHENTICATED. A unary call that started with a good token finishes.
   */
  onExpire(listener: () => void): void;
}

export interface ServerDeps {
  readonly core: CoreBroker;
  /** The broker's login gate: a token's user and password are checked there, as every protocol's. */
  readonly auth: Authenticator;
  readonly logger: Logger;
  readonly version: string;
  readonly startedAtMs: number;
  readonly options?: KubemqOptions;
}

/** `authorization: Basic <base64 of user:password>`. */
const basicPrefix = 'basic ';
/** `authorization: Bearer <JWT>`; a bare JWT is taken too (what KubeMQ's own JWT auth expects). */
const bearerPrefix = 'bearer ';

/** The credentials in a token; undefined when it is not one we read. */
function basicCredentials(token: string): { user: string; password: string } | undefined {
  if (!token.toLowerCase().startsWith(basicPrefix)) return undefined;
  const decoded = Buffer.from(token.slice(basicPrefix.length).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

/** The bearer token in an `authorization` value: `Bearer <jwt>` or a bare one (three dot-separated parts). */
function bearerToken(token: string): string | undefined {
  if (token.toLowerCase().startsWith(bearerPrefix)) return token.slice(bearerPrefix.length).trim();
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token) ? token : undefined;
}

const tokenForms = "use 'Basic <base64 of user:password>', 'Bearer <JWT>' or a bare JWT";

export class KubemqServer {
  readonly core: CoreBroker;
  readonly auth: Authenticator;
  readonly vhost: string;
  readonly limits: KubemqLimits;
  readonly logger: Logger;
  readonly version: string;
  readonly startedAtMs: number;
  readonly host = hostname();
  /** Client ids with a live events-store subscription: KubeMQ allows one per client id. */
  readonly storeClients = new Set<string>();
  readonly cache: QueryCache;
  readonly channels: Channels;
  /** Per channel: sent, subscribers, last activity (`/api/kubemq/channels`). */
  readonly activity: ChannelActivity;
  /** The front end's own way into core (declaring its exchanges). */
  readonly internal: CoreClient;
  #nextConnection = 1;

  constructor(deps: ServerDeps) {
    this.core = deps.core;
    this.auth = deps.auth;
    this.vhost = deps.options?.vhost ?? '/';
    this.limits = { ...kubemqLimitsDefault, ...deps.options?.limits };
    this.logger = deps.logger;
    this.version = deps.version;
    this.startedAtMs = deps.startedAtMs;
    this.cache = new QueryCache(this.limits.cacheEntriesMax, this.limits.cacheBytesMax);
    this.internal = this.#connect(internalPrincipal, '', 'kubemq');
    this.channels = new Channels(this.internal);
    this.activity = new ChannelActivity(() => Date.now());
    for (const name of Object.values(Exchanges))
      this.internal.declareExchange(name, { type: 'topic', durable: true });
  }

  /**
   * The one place a KubeMQ caller logs in, for gRPC and REST alike, through the broker's login gate:
   * `Basic <base64 of user:password>` logs in as that user; `Bearer <JWT>` (or the bare JWT) as the
   * token says, with its scopes as permissions; no token is the anonymous user (from loopback only
   * unless `anonymousUser` names one). Refusals are UNAUTHENTICATED failures.
   */
  async login(credentials: Credentials, peerAddress: string, signal?: AbortSignal): Promise<KubemqLogin> {
    const token = credentials.token?.trim() ?? '';
    let result: LoginResult;
    if (token === '') {
      result = this.auth.anonymous(peerAddress);
    } else {
      const given = basicCredentials(token);
      const bearer = given === undefined ? bearerToken(token) : undefined;
      if (given === undefined && bearer === undefined)
        throw new KubemqFailure(`authorization token refused: ${tokenForms}`, status.UNAUTHENTICATED);
      result =
        given !== undefined
          ? await this.auth.login(given.user, given.password, peerAddress, signal)
          : await this.auth.loginWithToken(bearer!, peerAddress, signal);
    }
    if (result.ok) return { principal: principalOf(result), expiresAtMs: result.expiresAtMs };
    this.logger.debug({ peer: peerAddress, reason: result.reason }, 'kubemq login refused');
    const text = result.reason === 'busy' ? 'too many login attempts; try again later' : 'login refused';
    throw new KubemqFailure(`access refused: ${text}`, status.UNAUTHENTICATED);
  }

  /**
   * A connection of our own for one call, once its principal may work in the vhost (PERMISSION_DENIED
   * otherwise); `close()` gives back what it held.
   */
  caller(login: KubemqLogin, peerAddress: string): Caller {
    const { principal, expiresAtMs } = login;
    const connectionId = `kubemq-${this.#nextConnection++}`;
    const core = this.#connect(principal, peerAddress, connectionId);
    try {
      core.checkVhostAccess();
    } catch (err) {
      if (isBrokerError(err, ErrorCode.accessRefused))
        throw new KubemqFailure(err.message, status.PERMISSION_DENIED);
      throw err;
    }
    const plumbing = this.#connect(internalPrincipal, peerAddress, connectionId);
    let held = false;
    const listeners: Array<() => void> = [];
    const expired: Array<() => void> = [];
    const clock = this.core.clock;
    const timer =
      expiresAtMs === undefined
        ? undefined
        : clock.setTimeout(() => {
            this.logger.info({ connection: connectionId, user: principal.user }, 'kubemq token expired');
            for (const listener of expired.splice(0)) listener();
          }, expiresAtMs - clock.now());
    const presence = new CallPresence(this.activity, connectionId);
    const caller = {
      server: this,
      core,
      plumbing,
      connectionId,
      closed: false,
      holds: () => {
        held = true;
      },
      sent: (type: ChannelType, channel: string, clientId: string) => {
        presence.noteClient(clientId);
        this.activity.sent(type, channel);
      },
      subscribe: (type: ChannelType, channel: string, clientId?: string) =>
        presence.subscribe(type, channel, clientId),
      register: (ends: CallEnds, close: (reason: string) => void) => {
        core.openConnection(presence.describe(ends, close));
        held = true;
      },
      onClose: (listener: () => void) => {
        if (caller.closed) listener();
        else listeners.push(listener);
      },
      onExpire: (listener: () => void) => {
        if (!caller.closed && timer !== undefined) expired.push(listener);
      },
      // Only a call that held something pays for the release, which visits the vhost's owners.
      close: () => {
        if (caller.closed) return;
        caller.closed = true;
        timer?.cancel();
        expired.length = 0;
        for (const listener of listeners.splice(0)) listener();
        presence.end();
        if (held) core.closeConnection();
      },
    };
    return caller;
  }

  #connect(principal: Principal, peerAddress: string, connectionId: string): CoreClient {
    return this.core.connect({ principal, vhost: this.vhost, connectionId, protocol: 'kubemq', peerAddress });
  }

  close(): void {
    this.cache.clear();
  }
}
