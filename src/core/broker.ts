/**
 * `BrokerCore`: the core. Callers reach it only through `connect(context)` → `CoreClient`, whose every
 * call is a command run by `execute`: authorized, placed, handled (./entry/handlers.ts) and metered in
 * that one place. It owns the vhosts and their objects, the definitions log, users and the counters;
 * storage belongs to whoever opened it. Every durable change is an entry of its owner's log
 * (./state/): the definitions' (`defs`), a consumer group's, a session's, a vhost's retained set's
 * or producer registry's; the queues and streams keep their own logs.
 */

import { systemClock } from '../shared/clock.js';
import { brokerError, ErrorCode } from '../shared/errors.js';
import { type Logger, silentLogger } from '../shared/logger.js';
import type { Mutable } from '../shared/types.js';
import type { Storage } from '../storage/types.js';
import type { AclRequester } from './acl-index.js';
import type { AclAction, AclOperation, AclResourceType } from './acls.js';
import { AlarmHub } from './alarms.js';
import type { Clock, CoreBroker, CoreClient, CoreLimits, CoreStats, StorageStats } from './api.js';
import { Definitions, type Users } from './definitions.js';
import { type AccessCheck, PermissionAuthorizer } from './entry/authorize.js';
import { Client } from './entry/client.js';
import type { Command, CommandKind, CommandResult } from './entry/commands.js';
import type { CallerContext } from './entry/context.js';
import type { Handler, HandlerHost } from './entry/handler-host.js';
import { handlers } from './entry/handlers.js';
import { Meters } from './entry/meters.js';
import { type Placement, singleNode } from './entry/placement.js';
import { RateSampler } from './entry/rates.js';
import { Supervisor } from './exec/supervisor.js';
import { ConsumerGroups } from './groups.js';
import type { QueueFactory, StreamRegistry, StreamRegistryFactory } from './internal.js';
import { resolveLimits } from './limits.js';
import type { PasswordDerive } from './login-cache.js';
import { createStreamRegistry } from './logs/index.js';
import { ConnectionCounts } from './policy/limits.js';
import { ProducerRegistry } from './producers.js';
import { BodyCache } from './queues/body-cache.js';
import { createQueue } from './queues/index.js';
import { Requests } from './requests.js';
import { RetainedSet } from './retained.js';
import { SessionManager, type SettleStoredMarker } from './sessions.js';
import { FoundObjects } from './state/discover.js';
import { TransactionalProducers } from './transactions.js';
import { Vhost } from './vhost/vhost.js';
import type { QueueLengths } from './views.js';

/** What `BrokerCore.open` is given (kept here, not in ./api.ts: its access checks are typed over commands). */
export interface CoreOptions {
  storage: Storage;
  limits?: Partial<CoreLimits>;
  clock?: Clock;
  /** Where failures of owned objects are logged, with their stacks; default: nowhere. */
  logger?: Logger;
  /** Restart intensity of failed objects (Erlang's MaxR within MaxT). */
  restartsMax?: number;
  restartWindowMs?: number;
  /** Vhosts created when absent; default ['/']. */
  vhosts?: string[];
  /** Decisions made after the permissions allowed a command (./entry/authorize.ts `AccessCheck`). */
  accessChecks?: readonly AccessCheck[];
  /**
   * Where passwords are hashed (users created or changed, logins checked without a `derive` of their
   * own); default: scrypt on libuv's thread pool. The server hashes in child processes.
   */
  passwordDerive?: PasswordDerive;
  /** How a start settles a session's stored markers whose messages are gone (./sessions.ts). */
  settleStoredMarker?: SettleStoredMarker;
}

/** Vhost names are AMQP short strings. */
const vhostNameCharsMax = 255;

/** Seams for tests; production uses the real queue and stream implementations. */
export interface CoreFactories {
  createQueue?: QueueFactory;
  createStreamRegistry?: StreamRegistryFactory;
}

/** A vhost and the objects it owns besides its queues. */
interface VhostEntry {
  readonly vhost: Vhost;
  readonly streams: StreamRegistry;
  /** Opened with the vhost so stored sessions' expiry timers run after a restart. */
  readonly sessions: SessionManager;
  readonly groups: ConsumerGroups;
  readonly retained: RetainedSet;
  readonly producers: ProducerRegistry;
  readonly transactions: TransactionalProducers;
  /** Requests waiting for their replies (./requests.ts). */
  readonly requests: Requests;
}

export class BrokerCore implements CoreBroker, HandlerHost {
  readonly alarms = new AlarmHub();
  readonly clock: Clock;
  readonly limits: CoreLimits;
  readonly meters = new Meters();
  readonly rates: RateSampler;
  readonly connections = new ConnectionCounts();
  readonly supervisor: Supervisor;
  readonly #storage: Storage;
  readonly #settleStoredMarker: SettleStoredMarker | undefined;
  readonly #definitions: Definitions;
  /** The broker's one budget for bodies kept in memory by durable queues. */
  readonly bodies: BodyCache;
  readonly #authorizer: PermissionAuthorizer;
  readonly #placement: Placement = singleNode;
  readonly #factories: Required<CoreFactories>;
  readonly #vhosts = new Map<string, VhostEntry>();
  /** Vhosts being opened, settled once open (or failed): a second call waits rather than opening them again. */
  readonly #opening = new Map<string, Promise<void>>();
  #closed = false;

  private constructor(
    options: CoreOptions,
    supervisor: Supervisor,
    definitions: Definitions,
    factories: CoreFactories,
  ) {
    this.#storage = options.storage;
    this.#settleStoredMarker = options.settleStoredMarker;
    this.clock = options.clock ?? systemClock;
    this.limits = resolveLimits(options.limits);
    this.bodies = new BodyCache(this.limits.bodyCacheBytesMax);
    this.supervisor = supervisor;
    this.#definitions = definitions;
    this.#authorizer = this.#permissionAuthorizer(options.accessChecks ?? []);
    const ratesExec = supervisor.executor('meters', 'rates', { onFault: () => ratesExec.restart() });
    this.rates = new RateSampler(this.meters, ratesExec, () => this.#queueLengths());
    this.#factories = {
      createQueue: factories.createQueue ?? createQueue,
      createStreamRegistry: factories.createStreamRegistry ?? createStreamRegistry,
    };
  }

  /**
   * Opens the definitions log, finds every other state log, then restores each vhost: its
   * definitions, queues, streams and objects. Logs of vhosts that are gone are removed.
   */
  static async open(options: CoreOptions, factories: CoreFactories = {}): Promise<BrokerCore> {
    const clock = options.clock ?? systemClock;
    const limits = resolveLimits(options.limits);
    const supervisor = new Supervisor({
      clock,
      logger: options.logger ?? silentLogger(),
      ...(options.restartsMax === undefined ? {} : { restartsMax: options.restartsMax }),
      ...(options.restartWindowMs === undefined ? {} : { restartWindowMs: options.restartWindowMs }),
    });
    const definitions = await Definitions.open(options.storage, supervisor, undefined, {
      verified: { ttlMs: limits.loginCacheTtlMs, entriesMax: limits.loginCacheEntriesMax },
      derive: options.passwordDerive,
    });
    const broker = new BrokerCore(options, supervisor, definitions, factories);
    let found: FoundObjects | undefined;
    try {
      const fresh = !definitions.usersSeeded;
      await definitions.users.ensureDefault();
      found = await FoundObjects.discover(options.storage);
      const names = new Set([...definitions.vhostNames(), ...(options.vhosts ?? ['/'])]);
      for (const name of names) await broker.#openVhost(name, found);
      await found.discardRest();
      await definitions.permissions.seed(fresh);
      broker.rates.start();
    } catch (err) {
      await found?.closeRest();
      await broker.close();
      throw err;
    }
    return broker;
  }

  get users(): Users {
    return this.#definitions.users;
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

  openVhost(name: string): Vhost | undefined {
    return this.#vhosts.get(name)?.vhost;
  }

  vhostNames(): string[] {
    return [...this.#vhosts.keys()];
  }

  addVhost(name: string, created?: () => Promise<void> | undefined): Promise<void> {
    return this.#openVhost(name, undefined, created);
  }

  async deleteVhost(name: string): Promise<void> {
    const entry = this.#entry(name);
    this.#vhosts.delete(name);
    entry.requests.close();
    await entry.sessions.forgetAll();
    await entry.vhost.destroy();
    await entry.streams.close();
    await entry.groups.destroyAll();
    await entry.retained.destroy();
    await entry.transactions.destroy();
    await entry.producers.destroy();
    await this.#definitions.flush();
    await this.#definitions.deleteVhost(name);
  }

  /** Requests of a vhost waiting for their replies (./requests.ts). */
  requests(vhost: string): Requests {
    return this.#entry(vhost).requests;
  }

  /** The session store of a vhost (durable subscriber state for MQTT-like adapters). */
  sessions(vhost: string): SessionManager {
    return this.#entry(vhost).sessions;
  }

  groups(vhost: string): ConsumerGroups {
    return this.#entry(vhost).groups;
  }

  retained(vhost: string): RetainedSet {
    return this.#entry(vhost).retained;
  }

  producers(vhost: string): ProducerRegistry {
    return this.#entry(vhost).producers;
  }

  transactions(vhost: string): TransactionalProducers {
    return this.#entry(vhost).transactions;
  }

  get definitions(): Definitions {
    return this.#definitions;
  }

  get accessGeneration(): number {
    return this.#definitions.accessGeneration;
  }

  authorizeAcl(context: CallerContext, who: AclRequester, action: AclAction): boolean {
    return this.#authorizer.authorizeAcl(context, who, action);
  }

  authorizeAclSome(
    context: CallerContext,
    who: AclRequester,
    resourceType: AclResourceType,
    operation: Exclude<AclOperation, 'ALL'>,
  ): boolean {
    return this.#authorizer.authorizeAclSome(context, who, resourceType, operation);
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
      connections: this.connections.perProtocol(),
      ...this.#storageStats(),
    };
  }

  /** Messages queued in every vhost, from the vhosts' running totals (no walk of their queues). */
  #queueLengths(): QueueLengths {
    let ready = 0;
    let unacked = 0;
    for (const { vhost } of this.#vhosts.values()) {
      ready += vhost.lengths.ready;
      unacked += vhost.lengths.unacked;
    }
    return { ready, unacked };
  }

  #storageStats(): { storage?: StorageStats } {
    const writes = this.#storage.writes;
    if (writes === undefined) return {};
    return { storage: { writtenBytes: writes.bytes, syncSeconds: writes.syncSeconds.snapshot() } };
  }

  /** Closes every object (their data stays), then the definitions log. Storage stays open. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.rates.stop();
    for (const entry of this.#vhosts.values()) await closeEntry(entry);
    this.#vhosts.clear();
    await this.#definitions.close();
  }

  /** Decides on the definitions' users and permissions and on what the open vhosts hold. */
  #permissionAuthorizer(extra: readonly AccessCheck[]): PermissionAuthorizer {
    const definitions = this.#definitions;
    const vhosts = this.#vhosts;
    const source = {
      get accessGeneration() {
        return definitions.accessGeneration;
      },
      userTags: (user: string) => definitions.users.tags(user),
      permission: (vhost: string, user: string) => definitions.permissions.of(vhost, user),
      topicPermissions: (vhost: string, user: string) => definitions.permissions.topicsOf(vhost, user),
      exchangeType: (vhost: string, name: string) => vhosts.get(vhost)?.vhost.exchangeType(name),
      queueExists: (vhost: string, name: string) => vhosts.get(vhost)?.vhost.peekQueue(name) !== undefined,
      aclIndex: () => definitions.acls.index,
    };
    return new PermissionAuthorizer(source, extra);
  }

  /** Opens a vhost's objects (those `found` at start, new ones otherwise) and the vhost over them. */
  async #openVhost(
    name: string,
    found: FoundObjects | undefined,
    created?: () => Promise<void> | undefined,
  ): Promise<void> {
    this.#checkOpen();
    // Being opened by another call: the second of two calls at once failed, its logs held by the first.
    // (Awaited only then: a turn given up here would let two calls start opening.) Looked at again
    // after each wait: when that opening failed, the first of those waiting has started its own.
    let opening = this.#opening.get(name);
    while (opening !== undefined && !this.#vhosts.has(name)) {
      await opening;
      opening = this.#opening.get(name);
    }
    // Open already, perhaps by a call whose definition is still being written: wait for it too.
    if (this.#vhosts.has(name)) return this.#definitions.putVhost(name);
    if (name.length === 0 || name.length > vhostNameCharsMax) {
      throw brokerError(
        ErrorCode.invalidArgument,
        `Vhost name must have 1 to ${vhostNameCharsMax} characters`,
      );
    }
    const writes = this.#openEntry(name, found).then((entry) => {
      this.#vhosts.set(name, entry);
      // In one turn: whatever `created` writes is logged right behind the vhost.
      return [this.#definitions.putVhost(name), created?.()] as const;
    });
    const marker = writes.then(
      () => undefined,
      () => undefined,
    );
    this.#opening.set(name, marker);
    try {
      const [stored, written] = await writes;
      await Promise.all([stored, written]);
    } finally {
      if (this.#opening.get(name) === marker) this.#opening.delete(name);
    }
  }

  /** A vhost's objects opened from storage (`found`: what the start found of them). */
  async #openEntry(name: string, found: FoundObjects | undefined): Promise<VhostEntry> {
    const { clock, limits, supervisor } = this;
    const storage = this.#storage;
    const deps = { vhost: name, storage, supervisor };
    const opened: Partial<Mutable<VhostEntry>> = {};
    try {
      const retentionMs = limits.offsetsRetentionMinutes * 60_000;
      const groups = await ConsumerGroups.open(deps, found?.take(name, 'group') ?? [], retentionMs);
      opened.groups = groups;
      const producers = await ProducerRegistry.open(
        { ...deps, idsMax: limits.producerIdsMax },
        only(found?.take(name, 'producers')),
      );
      opened.producers = producers;
      opened.retained = await RetainedSet.open(
        { ...deps, bytesMax: limits.retainedBytesMax },
        only(found?.take(name, 'retained')),
      );
      // A group or registry whose log refuses has failed on its own (and was logged); the stream goes.
      const streamDeleted = (stream: string) =>
        Promise.allSettled([
          groups.dropStream(stream),
          producers.forgetStream(stream),
          opened.transactions?.forgetStream(stream),
        ]).then(() => undefined);
      const startMoved = (stream: string, partition: number, start: number) =>
        void opened.transactions?.trim(stream, partition, start).catch(() => undefined);
      const definitions = this.#definitions;
      const streams = await this.#factories.createStreamRegistry({
        ...deps,
        clock,
        limits,
        definitions,
        streamDeleted,
        startMoved,
      });
      opened.streams = streams;
      const transactions = await TransactionalProducers.open(
        { ...deps, producers, streams, groups, idsMax: limits.transactionalIdsMax },
        only(found?.take(name, 'transactions')),
      );
      opened.transactions = transactions;
      const createQueue = this.#factories.createQueue;
      const meters = this.meters;
      const vhost = await Vhost.open({
        name,
        storage,
        clock,
        limits,
        definitions,
        createQueue,
        streams,
        groups,
        producers,
        transactions,
        meters,
        supervisor,
        bodies: this.bodies,
      });
      opened.vhost = vhost;
      const settleStoredMarker = this.#settleStoredMarker;
      opened.sessions = await SessionManager.open(
        { vhost, storage, supervisor, ...(settleStoredMarker === undefined ? {} : { settleStoredMarker }) },
        found?.take(name, 'session') ?? [],
      );
      const requestsExec = supervisor.executor('requests', name, { onFault: () => requestsExec.restart() });
      opened.requests = new Requests(requestsExec, limits.messageBytesMax);
    } catch (err) {
      await closeEntry(opened);
      throw err;
    }
    return opened as VhostEntry;
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

/** Closes whatever of a vhost's objects is open; data stays. */
async function closeEntry(entry: Partial<VhostEntry>): Promise<void> {
  entry.requests?.close();
  await entry.sessions?.close();
  await entry.vhost?.close();
  // A registry that cannot write now is read back past its last bound at the next start, as after a crash.
  await entry.producers?.coverRead().catch(() => undefined);
  await entry.streams?.close();
  await entry.transactions?.close();
  await entry.groups?.close();
  await entry.retained?.close();
  await entry.producers?.close();
}

/** The one log of a one-per-vhost object, if it was found. */
function only<T>(logs: readonly T[] | undefined): T | undefined {
  if (logs !== undefined && logs.length > 1) {
    throw brokerError(ErrorCode.storageCorrupt, `${logs.length} logs claim one object of a vhost`);
  }
  return logs?.[0];
}
