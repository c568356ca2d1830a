/**
 * `BrokerCore`: the one API protocols and the admin API call. It owns the vhosts, the definitions
 * store, users, the adapters' state view and the stats; storage belongs to whoever opened it.
 */

import { brokerError, ErrorCode } from '../shared/errors.js';
import type { MetaStore, Storage } from '../storage/types.js';
import { AlarmHub } from './alarms.js';
import type {
  Clock,
  CoreBroker,
  CoreLimits,
  CoreOptions,
  CoreStats,
  VerifyOptions,
  VirtualHost,
} from './api.js';
import { systemClock } from './clock.js';
import { Definitions, Users } from './definitions.js';
import type { QueueFactory, StreamRegistry, StreamRegistryFactory } from './internal.js';
import { resolveLimits } from './limits.js';
import { createStreamRegistry } from './logs/index.js';
import { createQueue } from './queues/index.js';
import { SessionManager } from './sessions.js';
import { Vhost } from './vhost/vhost.js';

/** Keys of the adapters' state live under this prefix of `storage.meta`. */
export const statePrefix = 'app/';
/** Vhost names are AMQP short strings. */
const vhostNameCharsMax = 255;

/** Seams for tests; production uses the real queue and stream implementations. */
export interface CoreFactories {
  createQueue?: QueueFactory;
  createStreamRegistry?: StreamRegistryFactory;
}

interface VhostEntry {
  readonly vhost: Vhost;
  readonly streams: StreamRegistry;
  /** Created with the vhost so stored sessions' expiry timers run after a restart. */
  readonly sessions: SessionManager;
}

export class BrokerCore implements CoreBroker {
  readonly state: CoreBroker['state'];
  readonly alarms = new AlarmHub();
  readonly clock: Clock;
  readonly limits: CoreLimits;
  readonly #storage: Storage;
  readonly #definitions: Definitions;
  readonly #users: Users;
  readonly #factories: Required<CoreFactories>;
  readonly #vhosts = new Map<string, VhostEntry>();
  readonly #counters = { published: 0, delivered: 0 };
  #closed = false;

  private constructor(options: CoreOptions, factories: CoreFactories) {
    this.#storage = options.storage;
    this.clock = options.clock ?? systemClock;
    this.limits = resolveLimits(options.limits);
    this.#definitions = new Definitions(options.storage.meta);
    this.#users = new Users(options.storage.meta, {
      ttlMs: this.limits.loginCacheTtlMs,
      entriesMax: this.limits.loginCacheEntriesMax,
    });
    this.state = scopedState(options.storage.meta, statePrefix);
    this.#factories = {
      createQueue: factories.createQueue ?? createQueue,
      createStreamRegistry: factories.createStreamRegistry ?? createStreamRegistry,
    };
  }

  /** Restores users, vhosts and their definitions (then queues) from storage. */
  static async open(options: CoreOptions, factories: CoreFactories = {}): Promise<BrokerCore> {
    const broker = new BrokerCore(options, factories);
    await broker.#users.ensureDefault();
    const names = new Set([...broker.#definitions.vhostNames(), ...(options.vhosts ?? ['/'])]);
    try {
      for (const name of names) await broker.addVhost(name);
    } catch (err) {
      await broker.close();
      throw err;
    }
    return broker;
  }

  vhost(name: string): Vhost {
    return this.#entry(name).vhost;
  }

  vhostNames(): string[] {
    return [...this.#vhosts.keys()];
  }

  async addVhost(name: string): Promise<void> {
    this.#checkOpen();
    if (this.#vhosts.has(name)) return;
    if (name.length === 0 || name.length > vhostNameCharsMax) {
      throw brokerError(
        ErrorCode.invalidArgument,
        `Vhost name must have 1 to ${vhostNameCharsMax} characters`,
      );
    }
    const { clock, limits } = this;
    const storage = this.#storage;
    const streams = await this.#factories.createStreamRegistry({ vhost: name, storage, clock, limits });
    try {
      const vhost = await Vhost.open({
        name,
        storage,
        clock,
        limits,
        definitions: this.#definitions,
        createQueue: this.#factories.createQueue,
        streams,
        counters: this.#counters,
      });
      const sessions = new SessionManager({ vhost, state: this.state, clock });
      this.#vhosts.set(name, { vhost, streams, sessions });
    } catch (err) {
      await streams.close();
      throw err;
    }
    await this.#definitions.putVhost(name);
  }

  async deleteVhost(name: string): Promise<void> {
    const entry = this.#entry(name);
    this.#vhosts.delete(name);
    await entry.sessions.forgetAll();
    await entry.vhost.destroy();
    await entry.streams.close();
    await this.#definitions.flush();
    await this.#definitions.deleteVhost(name);
  }

  /** The session store of a vhost (durable subscriber state for MQTT-like adapters). */
  sessions(vhost: string): SessionManager {
    return this.#entry(vhost).sessions;
  }

  verifyUser(name: string, password: string, options?: VerifyOptions): Promise<boolean> {
    return this.#users.verify(name, password, options);
  }

  putUser(name: string, password: string, tags: string[] = []): Promise<void> {
    return this.#users.put(name, password, tags);
  }

  deleteUser(name: string): Promise<void> {
    return this.#users.delete(name);
  }

  userNames(): string[] {
    return this.#users.names();
  }

  userTags(name: string): string[] | undefined {
    return this.#users.tags(name);
  }

  stats(): CoreStats {
    let exchanges = 0;
    let queues = 0;
    let streams = 0;
    let consumers = 0;
    let messagesReady = 0;
    let messagesUnacked = 0;
    for (const entry of this.#vhosts.values()) {
      const counts = entry.vhost.counts();
      exchanges += counts.exchanges;
      queues += counts.queues;
      consumers += counts.consumers;
      messagesReady += counts.ready;
      messagesUnacked += counts.unacked;
      streams += entry.streams.list().length;
    }
    const { published, delivered } = this.#counters;
    const vhosts = this.#vhosts.size;
    return {
      vhosts,
      exchanges,
      queues,
      streams,
      consumers,
      messagesReady,
      messagesUnacked,
      published,
      delivered,
    };
  }

  /** Waits for definition writes, closes sessions' timers, queues and streams. Storage stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#vhosts.values()) {
      entry.sessions.close();
      await entry.vhost.close();
      await entry.streams.close();
    }
    await this.#definitions.flush();
  }

  #entry(name: string): VhostEntry {
    const entry = this.#vhosts.get(name);
    if (entry === undefined) throw brokerError(ErrorCode.notFound, `No vhost '${name}'`);
    return entry;
  }

  #checkOpen(): void {
    if (this.#closed) throw brokerError(ErrorCode.invalidState, 'The broker is closed');
  }
}

/** A view of the meta store where every key is under `prefix`, which callers never see. */
function scopedState(meta: MetaStore, prefix: string): CoreBroker['state'] {
  return {
    get: (key) => meta.get(prefix + key),
    entries: (keyPrefix) =>
      meta.entries(prefix + keyPrefix).map(([key, value]) => [key.slice(prefix.length), value]),
    put: (key, value) => meta.put(prefix + key, value),
    delete: (key) => meta.delete(prefix + key),
  };
}

export type { VirtualHost };
