/**
 * State one MQTT listener pair (TCP and WebSocket) shares: live clients by client id, delayed wills,
 * QoS 2 packet ids received but not yet released, retained messages, statistics and the timers that
 * publish `$SYS` and keep session queues within their limit.
 */

import type { MqttAuthentication, MqttCertLogin } from '../../config/schema.js';
import type { CoreBroker, CoreClient } from '../../core/api.js';
import { type CallerContext, internalPrincipal } from '../../core/entry/context.js';
import type { Clock } from '../../shared/clock.js';
import type { Logger } from '../../shared/logger.js';
import type { IngressBudget } from '../ingress.js';
import type { Authenticator } from '../listener.js';
import type { CertLoginSettings } from '../tls.js';
import { KeepAliveWheel } from './keep-alive.js';
import type { MqttLimits, MqttOptions } from './limits.js';
import { resolveLimits } from './limits.js';
import type { SubscriptionEntry } from './model.js';
import { RetainedStore } from './retained.js';
import { publishSys } from './sys.js';
import { filterMatches } from './topics.js';

/** Messages one sweep drops from one session at most: the rest go at the next sweep. */
const sweepDropsMax = 100_000;

/** What the server needs from a connection (./connection.ts). */
export interface ClientHandle {
  readonly id: string;
  readonly clientId: string;
  /** Another connection took this client id: close with 0x8E. */
  takeOver(): void;
  /** The listener is closing. */
  shutdown(): void;
}

/**
 * A client's inbound QoS 2 packet ids awaiting PUBREL (§4.3.3 method A). While the first PUBLISH's
 * PUBREC waits for storage an id maps to the reason code that PUBREC will carry, so a resent PUBLISH
 * is answered alike and no sooner; undefined once that PUBREC went.
 */
export type AwaitingPubrel = Map<number, Promise<number> | undefined>;

export interface MqttStats {
  received: number;
  sent: number;
  connectionsTotal: number;
}

export interface ServerDeps {
  readonly core: CoreBroker;
  readonly logger: Logger;
  readonly auth: Authenticator;
  readonly ingress: IngressBudget;
  readonly version: string;
  readonly startedAtMs: number;
  readonly options?: MqttOptions;
}

/** Housekeeping the MQTT front end does on its own behalf (not for one client). */
function serverContext(vhost: string): CallerContext {
  return { principal: internalPrincipal, vhost, connectionId: 'mqtt', protocol: 'mqtt', peerAddress: '' };
}

export class MqttServer {
  readonly core: CoreBroker;
  /** The server's own way into core (retained, `$SYS`, sweeps); connections each have their own. */
  readonly vhost: CoreClient;
  readonly vhostName: string;
  readonly limits: MqttLimits;
  readonly logger: Logger;
  readonly auth: Authenticator;
  readonly ingress: IngressBudget;
  readonly version: string;
  readonly startedAtMs: number;
  readonly retained: RetainedStore;
  readonly deniedFilters: readonly string[];
  readonly authentication: MqttAuthentication;
  readonly certLogin: MqttCertLogin;
  readonly certLoginFrom: CertLoginSettings;
  readonly stats: MqttStats = { received: 0, sent: 0, connectionsTotal: 0 };
  readonly clients = new Map<string, ClientHandle>();
  /**
   * Inbound QoS 2 packet ids awaiting PUBREL, by client id; outlive a connection (§4.3.3). A durable
   * session also stores them (inbound.ts), and its resume after a restart puts them back here.
   */
  readonly incomingQos2 = new Map<string, AwaitingPubrel>();
  readonly #wills = new Map<string, { cancel(): void; publish(): void }>();
  /** The last CONNECT of each client id still being handled; the next one waits for it. */
  readonly #claims = new Map<string, Promise<void>>();
  readonly #all = new Set<ClientHandle>();
  readonly #timers: Array<ReturnType<Clock['setTimeout']>> = [];
  /** Every connection's keep-alive and CONNECT deadline, on one timer. */
  readonly keepAlive: KeepAliveWheel;
  #closed = false;
  #nextConnection = 1;

  constructor(deps: ServerDeps) {
    this.core = deps.core;
    this.keepAlive = new KeepAliveWheel(deps.core.clock);
    this.vhostName = deps.options?.vhost ?? '/';
    this.vhost = deps.core.connect(serverContext(this.vhostName));
    this.limits = resolveLimits(deps.options?.limits);
    this.logger = deps.logger;
    this.auth = deps.auth;
    this.ingress = deps.ingress;
    this.version = deps.version;
    this.startedAtMs = deps.startedAtMs;
    this.deniedFilters = deps.options?.deniedFilters ?? [];
    this.authentication = deps.options?.authentication ?? 'optional';
    this.certLogin = deps.options?.certLogin ?? 'off';
    this.certLoginFrom = deps.options?.certLoginFrom ?? {
      certLoginFrom: 'common_name',
      certLoginSanType: 'dns',
      certLoginSanIndex: 0,
    };
    this.retained = new RetainedStore(this.vhost);
    publishSys(this);
    this.#every(this.limits.sysIntervalMs, () => publishSys(this));
    this.#every(this.limits.queueSweepIntervalMs, () => this.#sweepQueues());
  }

  nextConnectionId(): string {
    return `mqtt-${this.#nextConnection++}`;
  }

  /** Connections open (before and after CONNECT), for `connectionsMax`. */
  get connections(): number {
    return this.#all.size;
  }

  /** Every connection open now (a copy). */
  handles(): ClientHandle[] {
    return [...this.#all];
  }

  track(handle: ClientHandle): void {
    this.#all.add(handle);
  }

  untrack(handle: ClientHandle): void {
    this.#all.delete(handle);
    if (this.clients.get(handle.clientId) === handle) this.clients.delete(handle.clientId);
  }

  denied(filter: string): boolean {
    return this.deniedFilters.includes(filter);
  }

  /**
   * Waits until earlier CONNECTs of `clientId` are handled, so takeovers happen one after the other;
   * the caller runs the returned function once its own CONNECT is handled (or given up).
   */
  claimClientId(clientId: string): (() => void) | Promise<() => void> {
    const previous = this.#claims.get(clientId);
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    // Nobody ahead (the usual case): the claim is the caller's at once, nothing to chain or wait for.
    const chained = previous === undefined ? mine : previous.then(() => mine);
    this.#claims.set(clientId, chained);
    const done = () => {
      release();
      if (this.#claims.get(clientId) === chained) this.#claims.delete(clientId);
    };
    return previous === undefined ? done : previous.then(() => done);
  }

  /** Runs `publish` after `delayMs` unless the client id connects again first (§3.1.3.2.2). */
  scheduleWill(clientId: string, delayMs: number, publish: () => void): void {
    this.endWill(clientId, false);
    if (delayMs <= 0) {
      publish();
      return;
    }
    const timer = this.core.clock.setTimeout(() => {
      this.#wills.delete(clientId);
      publish();
    }, delayMs);
    this.#wills.set(clientId, { cancel: () => timer.cancel(), publish });
  }

  /** A waiting will is dropped, or with `publishNow` sent at once (its session ended). */
  endWill(clientId: string, publishNow: boolean): void {
    const will = this.#wills.get(clientId);
    if (will === undefined) return;
    this.#wills.delete(clientId);
    will.cancel();
    if (publishNow) will.publish();
  }

  subscriptionCount(): number {
    let count = 0;
    for (const session of this.vhost.listSessions()) count += session.subscriptions.length;
    return count;
  }

  /**
   * Messages beyond `queuedMessagesMax`, or bytes beyond `queuedBytesMax`, in a session queue: the
   * oldest are dropped (limits.ts). The byte bound is what keeps a subscriber that never reads from
   * holding every message published to it: 100,000 of up to a MiB each otherwise.
   */
  #sweepQueues(): void {
    const { queuedMessagesMax, queuedBytesMax } = this.limits;
    for (const session of this.vhost.listSessions()) {
      for (let i = 0; i < sweepDropsMax; i++) {
        const info = this.vhost.peekQueue(session.queue);
        if (info === undefined) break;
        const over = info.messageCount > queuedMessagesMax || (info.messageBytes ?? 0) > queuedBytesMax;
        if (!over) break;
        const delivery = this.vhost.get(session.queue, { noAck: true, owner: `sweeper/${session.id}` });
        if (delivery === undefined) break;
      }
    }
  }

  /** Runs `task` every `intervalMs` on core's clock until `close`. */
  #every(intervalMs: number, task: () => void): void {
    const slot = this.#timers.length;
    const arm = (): void => {
      this.#timers[slot] = this.core.clock.setTimeout(() => {
        try {
          task();
        } catch (err) {
          this.logger.warn({ err }, 'mqtt periodic task failed');
        }
        if (!this.#closed) arm();
      }, intervalMs);
    };
    arm();
  }

  close(): void {
    this.#closed = true;
    for (const timer of this.#timers) timer.cancel();
    for (const will of this.#wills.values()) will.cancel();
    this.#wills.clear();
    for (const handle of [...this.#all]) handle.shutdown();
    this.keepAlive.clear();
  }
}

/**
 * A connection's subscriptions by filter, which remembers the answer for the last topic it matched: a
 * subscriber receives message after message on one topic, and matching each anew was a list (and an
 * iterator) per message. Any change of the table forgets the answer.
 */
export class SubscriptionTable extends Map<string, SubscriptionEntry> {
  #topic: string | undefined;
  #matched: readonly SubscriptionEntry[] = [];

  override set(filter: string, entry: SubscriptionEntry): this {
    this.#topic = undefined;
    return super.set(filter, entry);
  }

  override delete(filter: string): boolean {
    this.#topic = undefined;
    return super.delete(filter);
  }

  override clear(): void {
    this.#topic = undefined;
    super.clear();
  }

  /** The subscriptions `topic` matches (`matching`); the list is shared and must not be changed. */
  matching(topic: string): readonly SubscriptionEntry[] {
    if (topic !== this.#topic) {
      this.#matched = matching(this.values(), topic);
      this.#topic = topic;
    }
    return this.#matched;
  }
}

/** Subscriptions of a session that `topic` matches, applying MQTT's own rules. */
export function matching(entries: Iterable<SubscriptionEntry>, topic: string): SubscriptionEntry[] {
  const out: SubscriptionEntry[] = [];
  for (const entry of entries) {
    // A filter without wildcards matches only itself; the equality test spares splitting both.
    if (entry.group === undefined && (entry.filter === topic || filterMatches(entry.filter, topic)))
      out.push(entry);
  }
  return out;
}
