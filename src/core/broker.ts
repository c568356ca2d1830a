/**
 * `BrokerCore`: the core. Callers reach it only through `connect(context)` → `CoreClient`, whose every
 * call is a command run by `execute`: authorized, placed, handled (./entry/handlers.ts) and metered in
 * that one place. It owns the vhosts, the definitions store, users, the adapters' state view and the
 * counters; storage belongs to whoever opened it.
 */

import { systemClock } from '../shared/clock.js';
import { brokerError, ErrorCode } from '../shared/errors.js';
import { silentLogger } from '../shared/logger.js';
import type { MetaStore, Storage } from '../storage/types.js';
import { AlarmHub } from './alarms.js';
import type { Clock, CoreBroker, CoreClient, CoreLimits, CoreOptions, CoreStats } from './api.js';
import { Definitions, Users } from './definitions.js';
import { type Authorizer, allowAll } from './entry/authorize.js';
import { Client } from './entry/client.js';
import type { Command, CommandKind, CommandResult } from './entry/commands.js';
import type { CallerContext } from './entry/context.js';
import { type Handler, type HandlerHost, handlers } from './entry/handlers.js';
import { Meters } from './entry/meters.js';
import { type Placement, singleNode } from './entry/placement.js';
import { Supervisor } from './exec/supervisor.js';
import type { QueueFactory, StreamRegistry, StreamRegistryFactory } from './internal.js';
import { resolveLimits } from './limits.js';
import { createStreamRegistry } from './logs/index.js';
import { BodyCache } from './queues/body-cache.js';
import { createQueue } from './queues/index.js';
import { Requests } from './requests.js';
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
  readonly requests: Requests;
}

export class BrokerCore implements CoreBroker, HandlerHost {
  readonly state: CoreBroker['state'];
  readonly alarms = new AlarmHub();
  readonly clock: Clock;
  readonly limits: CoreLimits;
  readonly #storage: Storage;
  readonly #definitions: Definitions;
  readonly users: Users;
  readonly meters = new Meters();
  readonly supervisor: Supervisor;
  readonly bodies: BodyCache;
  readonly #authorizer: Authorizer = allowAll;
  readonly #placement: Placement = singleNode;
  readonly #factories: Required<CoreFactories>;
  readonly #vhosts = new Map<string, VhostEntry>();
  #closed = false;

  private constructor(options: CoreOptions, factories: CoreFactories) {
    this.#storage = options.storage;
    this.clock = options.clock ?? systemClock;
    this.limits = resolveLimits(options.limits);
    this.bodies = new BodyCache(this.limits.bodyCacheBytesMax);
    this.supervisor = new Supervisor({
      clock: this.clock,
      logger: options.logger ?? silentLogger(),
      ...(options.restartsMax === undefined ? {} : { restartsMax: options.restartsMax }),
      ...(options.restartWindowMs === undefined ? {} : { restartWindowMs: options.restartWindowMs }),
    });
    this.#definitions = new Definitions(options.storage.meta);
    this.users = new Users(options.storage.meta);
    this.state = scopedState(options.storage.meta, statePrefix);
    this.#factories = {
      createQueue: factories.createQueue ?? createQueue,
      createStreamRegistry: factories.createStreamRegistry ?? createStreamRegistry,
    };
  }

  /** Restores users, vhosts and their definitions (then queues) from storage. */
  static async open(options: CoreOptions, factories: CoreFactories = {}): Promise<BrokerCore> {
    const broker = new BrokerCore(options, factories);
    await broker.users.ensureDefault();
    const names = new Set([...broker.#definitions.vhostNames(), ...(options.vhosts ?? ['/'])]);
    try {
      for (const name of names) await broker.addVhost(name);
    } catch (err) {
      await broker.close();
      throw err;
    }
    return broker;
  }

  connect(context: CallerContext): CoreClient {
    return new Client(this, context);
  }

  /** The one way in: every `CoreClient` call ends here. */
  execute<K extends CommandKind>(context: CallerContext, command: Command<K>): CommandResult<K> {
    this.#authorizer.authorize(context, command);
    // A cluster forwards a command on an object another node leads; a single node runs them all.
    if (!this.#placement.runsHere(context, command)) {
      throw brokerError(ErrorCode.notImplemented, `Command ${command.kind} belongs to another node`);
    }
    const handler = handlers[command.kind] as Handler<K>;
    const result = handler(this, context, command);
    this.meters.record(context, command, result);
    return result;
  }

  /** Inside core and its tests only; callers use `connect`. */
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
    const { supervisor } = this;
    const streams = await this.#factories.createStreamRegistry({
      vhost: name,
      storage,
      clock,
      limits,
      supervisor,
    });
    try {
      const vhost = await Vhost.open({
        name,
        storage,
        clock,
        limits,
        definitions: this.#definitions,
        createQueue: this.#factories.createQueue,
        streams,
        meters: this.meters,
        supervisor,
        bodies: this.bodies,
      });
      const exec = supervisor.executor('sessions', name, { onFault: () => exec.restart() });
      const sessions = new SessionManager({ vhost, state: this.state, exec });
      const requestsExec = supervisor.executor('requests', name, { onFault: () => requestsExec.restart() });
      const requests = new Requests(requestsExec, limits.messageBytesMax);
      this.#vhosts.set(name, { vhost, streams, sessions, requests });
    } catch (err) {
      await streams.close();
      throw err;
    }
    await this.#definitions.putVhost(name);
  }

  async deleteVhost(name: string): Promise<void> {
    const entry = this.#entry(name);
    this.#vhosts.delete(name);
    entry.requests.close();
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

  /** Requests of a vhost waiting for their replies (./requests.ts). */
  requests(vhost: string): Requests {
    return this.#entry(vhost).requests;
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
    const { published, delivered } = this.meters.total;
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
      faults: [...this.supervisor.faults],
    };
  }

  /** Waits for definition writes, closes sessions' timers, queues and streams. Storage stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const entry of this.#vhosts.values()) {
      entry.requests.close();
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
