/**
 * What the gRPC and REST listeners of one core share: the limits, the live events-store subscribers
 * by client id, the query cache, the channels known to exist, and the way in — `login` (the one place
 * a KubeMQ caller's credentials are checked) and `caller` (a connection of our own per gRPC call or
 * stream, per REST request or WebSocket: KubeMQ's `ClientID` is the client's name, not a connection).
 */
import { hostname } from 'node:os';
import type { CoreBroker, CoreClient } from '../../core/api.js';
import type { Principal } from '../../core/entry/context.js';
import type { Logger } from '../../shared/logger.js';
import type { PeerCertificate } from '../tls.js';
import { QueryCache } from './cache.js';
import { Channels } from './channel-kinds.js';
import { type KubemqLimits, kubemqLimitsDefault } from './limits.js';

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

/** One gRPC call or stream, REST request or WebSocket, as core sees it. */
export interface Caller {
  readonly server: KubemqServer;
  readonly core: CoreClient;
  readonly connectionId: string;
  /** This call consumes or declares queues of its own: `close` must give them back. */
  holds(): void;
  /** The call ended: what it held goes back (unacked deliveries, its subscription queues). */
  close(): void;
  readonly closed: boolean;
  /** Runs once the call ends (at once if it has). */
  onClose(listener: () => void): void;
}

export interface ServerDeps {
  readonly core: CoreBroker;
  readonly logger: Logger;
  readonly version: string;
  readonly startedAtMs: number;
  readonly options?: KubemqOptions;
}

export class KubemqServer {
  readonly core: CoreBroker;
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
  /** The front end's own way into core (declaring its exchanges). */
  readonly internal: CoreClient;
  #nextConnection = 1;

  constructor(deps: ServerDeps) {
    this.core = deps.core;
    this.vhost = deps.options?.vhost ?? '/';
    this.limits = { ...kubemqLimitsDefault, ...deps.options?.limits };
    this.logger = deps.logger;
    this.version = deps.version;
    this.startedAtMs = deps.startedAtMs;
    this.cache = new QueryCache(this.limits.cacheEntriesMax, this.limits.cacheBytesMax);
    this.internal = this.#connect({ user: '', tags: ['administrator'] }, '', 'kubemq');
    this.channels = new Channels(this.internal);
    for (const name of Object.values(Exchanges))
      this.internal.declareExchange(name, { type: 'topic', durable: true });
  }

  /**
   * The one place a KubeMQ caller logs in, for gRPC and REST alike. Every caller is accepted as the
   * anonymous principal for now; the security model (tokens as JWTs or a user's credentials, checked
   * with the same permissions as every protocol) replaces the body of this function.
   */
  login(_credentials: Credentials, _peerAddress: string): Principal {
    return { user: '', tags: [] };
  }

  /** A connection of our own for one call; `close()` gives back what it held. */
  caller(principal: Principal, peerAddress: string): Caller {
    const connectionId = `kubemq-${this.#nextConnection++}`;
    const core = this.#connect(principal, peerAddress, connectionId);
    let held = false;
    const listeners: Array<() => void> = [];
    const caller = {
      server: this,
      core,
      connectionId,
      closed: false,
      holds: () => {
        held = true;
      },
      onClose: (listener: () => void) => {
        if (caller.closed) listener();
        else listeners.push(listener);
      },
      // Only a call that held something pays for the release, which visits the vhost's owners.
      close: () => {
        if (caller.closed) return;
        caller.closed = true;
        for (const listener of listeners.splice(0)) listener();
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
