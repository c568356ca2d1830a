/**
 * Sessions: a subscriber's lasting identity. A session owns one queue (`session.<escaped id>`, durable
 * iff the session is), declared at its first subscription (a session that never subscribes, as most
 * short-lived clean ones, costs no queue) or restored with the definitions, binds it for each
 * subscription, and keeps a small state: subscriptions with
 * their options, group subscriptions (a shared subscription the adapter serves from the group's own
 * queue), in-flight ids (the adapter's packet id ↔ the queue's delivery id) and expiry. Each session
 * is an owned object with its own executor; a durable one keeps its state in its own log
 * (./state/session-entries.ts), so it comes back after a restart with its queue (a durable queue,
 * restored with its bindings by the definitions) and its messages.
 *
 * In-flight ids: the whole map lives in memory, which is all a reconnect to the same broker needs.
 * Only the entries whose delivery id is negative are stored: an adapter's marker that no queue can
 * rebuild (MQTT's "PUBREL still owed", a QoS 2 message sent, or a QoS 1 one sent under a packet id its
 * offset does not give, all may name a message by `Delivery.storedAt`; `holdsStored` says whether the
 * session queue still holds it). An entry
 * naming a delivery is never stored, because queues number their deliveries afresh after a restart, so a
 * stored delivery id would name some other message; the unacked message itself comes back from its
 * durable queue, flagged redelivered.
 * Hence a QoS 1 stream into a durable session writes nothing here per message, and the marker
 * changes that remain are gathered into at most one entry per event-loop turn per session.
 *
 * Expiry: a session whose owner disconnects is removed once `expiryMs` has passed without a
 * reconnect; `expiryMs` undefined means never, 0 means at disconnect.
 */

import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { SessionSummary } from './api.js';
import type { Executor, Timer } from './exec/executor.js';
import type { VirtualHost } from './internal.js';
import { canonicalHeaders } from './routing/index.js';
import {
  OwnedLog,
  type OwnedLogSource,
  type VhostObjectDeps,
  vhostObjectOptions,
} from './state/owned-log.js';
import {
  type GroupSubscription,
  groupSubscriptionKey,
  type SessionEntry,
  type SessionState,
  type Subscription,
  sessionMachine,
  sharedIfBare,
  subscriptionKey,
} from './state/session-entries.js';
import type { OpenedLog } from './state/state-log.js';
import type { Headers, QueueOptions } from './types.js';

export type { GroupSubscription, Subscription };

export interface SessionOptions {
  readonly durable: boolean;
  /** Undefined: never expires. */
  readonly expiryMs?: number;
  /** Start afresh: any existing session of this id is destroyed first. */
  readonly clean?: boolean;
}

const queueNameBytesMax = 255;

export function sessionQueueName(id: string): string {
  const readable = `session.${encodeURIComponent(id)}`;
  if (Buffer.byteLength(readable) <= queueNameBytesMax) return readable;
  return `session.h.${createHash('sha256').update(id).digest('hex')}`;
}

/**
 * A session queue counts its messages' properties in its bytes: the adapter's bound on them
 * (`mqttQueuedBytesMax`) must hold for an empty body carrying a MiB of MQTT 5 user properties too.
 */
function sessionQueueOptions(durable: boolean): QueueOptions {
  return { durable, autoDelete: false, countsPropertyBytes: true };
}

/**
 * What a stored marker naming a message of the session queue (`Delivery.storedAt`) becomes when a start
 * finds the recovered queue no longer holding that message; undefined keeps it, null removes it. `holds`
 * is true while the queue still holds the offset (or cannot say yet). The adapter whose markers these
 * are gives it (the server passes MQTT's).
 */
export type SettleStoredMarker = (
  marker: number,
  holds: (offset: number) => boolean,
) => number | null | undefined;

export interface SessionManagerDeps extends Omit<VhostObjectDeps, 'vhost'> {
  readonly vhost: VirtualHost;
  readonly settleStoredMarker?: SettleStoredMarker;
}

type SessionLog = OwnedLog<SessionState, SessionEntry>;
interface SessionRef {
  session?: Session;
}

export class SessionManager {
  readonly #deps: SessionManagerDeps;
  readonly #sessions = new Map<string, Session>();
  /** Per id, the open / destroy running now; the next one for that id starts after it. */
  readonly #serial = new Map<string, Promise<unknown>>();
  /** Every session object made gets the next number: a handle to one never reaches its successor. */
  #incarnations = 0;

  private constructor(deps: SessionManagerDeps) {
    this.#deps = deps;
  }

  /** The vhost's durable sessions as found at start; every one is disconnected, its expiry counting. */
  static async open(
    deps: SessionManagerDeps,
    found: ReadonlyArray<OpenedLog<SessionState>>,
  ): Promise<SessionManager> {
    const manager = new SessionManager(deps);
    let adopted = 0;
    try {
      for (const opened of found) {
        adopted++;
        await manager.#restore(opened.replayed.identity!.name, opened);
      }
    } catch (err) {
      for (const opened of found.slice(adopted)) await opened.log.close().catch(() => undefined);
      await manager.close();
      throw err;
    }
    return manager;
  }

  /** Opens (or takes over) the session `id`; `present` on the result tells whether it existed. */
  openSession(id: string, options: SessionOptions): Promise<Session> {
    // Nothing under way for the id and nothing of it to replace: a transient session (no log to open)
    // is made at once, in no turn. Most connects are this: a clean session of a client id not in use.
    if (!options.durable && !this.#serial.has(id) && !this.#sessions.has(id)) {
      try {
        return Promise.resolve(this.#createTransient(id, options));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.#inTurn(id, async () => {
      let session = this.#sessions.get(id);
      if (session !== undefined && (options.clean === true || session.durable !== options.durable)) {
        await session.destroy();
        session = undefined;
      }
      if (session !== undefined) {
        await session.connect(options.expiryMs);
        return session;
      }
      if (!options.durable) return this.#createTransient(id, options);
      // Only a durable session's log reports back to it (`self`).
      const self: SessionRef = {};
      const store = await this.#openLog(id, 'create', self);
      session = new Session(this, id, store, false, ++this.#incarnations);
      self.session = session;
      this.#sessions.set(id, session);
      await session.commit({ type: 'connected', expiryMs: options.expiryMs ?? null });
      return session;
    });
  }

  /** A transient session: its state in memory, its `connected` entry applied at once (no log to wait for). */
  #createTransient(id: string, options: SessionOptions): Session {
    const session = new Session(this, id, sessionMachine.initial(), false, ++this.#incarnations);
    this.#sessions.set(id, session);
    void session.commit({ type: 'connected', expiryMs: options.expiryMs ?? null });
    return session;
  }

  session(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  listSessions(): SessionSummary[] {
    return [...this.#sessions.values()].map((session) => session.summary());
  }

  /** The vhost is being deleted: every session goes (the queues go with the vhost). */
  async forgetAll(): Promise<void> {
    await Promise.allSettled([...this.#serial.values()]);
    for (const session of [...this.#sessions.values()]) await session.destroy();
  }

  /** Stops expiry timers, writes what was gathered and closes the logs; sessions stay stored. */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#serial.values()]);
    for (const session of this.#sessions.values()) await session.close();
    this.#sessions.clear();
  }

  get deps(): SessionManagerDeps {
    return this.#deps;
  }

  /**
   * `session` is going: the next open of its id waits for `gone` (its log being deleted). A transient
   * session has no log (`gone` undefined), so nothing is left to wait for.
   */
  forget(session: Session, gone: Promise<unknown> | undefined): void {
    if (this.#sessions.get(session.id) === session) this.#sessions.delete(session.id);
    if (gone !== undefined) void this.#inTurn(session.id, () => gone.catch(() => undefined));
  }

  /** Runs `work` after whatever is under way for `id`, so opens and deletions of one id never overlap. */
  #inTurn<T>(id: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#serial.get(id) ?? resolved;
    const result = previous.then(work, work);
    // One promise per turn for the chain and its own removal: settled either way, never rejected.
    const done = (): void => {
      if (this.#serial.get(id) === settled) this.#serial.delete(id);
    };
    const settled: Promise<void> = result.then(done, done);
    this.#serial.set(id, settled);
    return result;
  }

  async #restore(id: string, opened: OpenedLog<SessionState>): Promise<void> {
    const self: SessionRef = {};
    const holder = await this.#openLog(id, { adopt: opened }, self);
    const { state } = holder;
    if (state.disconnectedAt === null) {
      // The broker stopped while its owner was connected: it left then.
      await holder.commit({ type: 'disconnected', at: holder.exec.now(), expiryMs: state.expiryMs });
    }
    // The durable queue and its bindings came back with the definitions; recreate it if missing.
    this.#deps.vhost.declareQueue(sessionQueueName(id), sessionQueueOptions(true));
    await this.#settleMarkers(id, holder);
    const session = new Session(this, id, holder, true, ++this.#incarnations);
    self.session = session;
    this.#sessions.set(id, session);
    session.startTimer();
  }

  /**
   * A marker may outlive the message it names: a queue hands a message to its consumer before the
   * append is durable, so a crash can keep the marker and lose the message, and the next message
   * appended after the restart takes its offset. Every recovered message is flagged redelivered, so
   * nothing later could tell the two apart: the markers are settled here, against the queue as it was
   * recovered, and written before the broker's start completes, so before anything can be appended.
   */
  async #settleMarkers(id: string, holder: SessionLog): Promise<void> {
    const settle = this.#deps.settleStoredMarker;
    const { markers } = holder.state;
    if (settle === undefined || markers.size === 0) return;
    const { vhost } = this.#deps;
    const queue = sessionQueueName(id);
    const holds = (offset: number) => vhost.holdsStored(queue, offset) !== false;
    const set: Array<[number, number]> = [];
    const clear: number[] = [];
    for (const [packetId, marker] of markers) {
      const settled = settle(marker, holds);
      if (settled === null) clear.push(packetId);
      else if (settled !== undefined && settled !== marker) set.push([packetId, settled]);
    }
    if (set.length > 0 || clear.length > 0) await holder.commit({ type: 'markers', set, clear });
  }

  /** `self` names the session once it is made: the log's failure and restart reach it. */
  #openLog(id: string, source: OwnedLogSource<SessionState>, self: SessionRef): Promise<SessionLog> {
    const deps = { ...this.#deps, vhost: this.#deps.vhost.name };
    const options = {
      ...vhostObjectOptions(deps, sessionMachine, 'session', id),
      onFailed: () => self.session?.stopTimer(),
      onRestarted: () => self.session?.startTimer(),
    };
    return OwnedLog.open(options, source);
  }
}

const noneInflight: ReadonlyMap<number, number> = new Map();

/** `Session.#flags`: it existed before this open (MQTT "session present"); it was destroyed. */
const presentFlag = 1;
const destroyedFlag = 2;

/**
 * One session. A durable one keeps its state in its own log; a transient one holds its state here
 * and makes its executor when first wanted (an expiry timer, a disconnect's time): a clean session,
 * which ends with its connection, never needs one. One object per session, its queue's name worked
 * out when asked: an idle MQTT connection's session is a large share of what it costs
 * (docs/performance.md, "Footprint").
 */
export class Session {
  readonly id: string;
  readonly incarnation: number;
  #flags: number;
  readonly #manager: SessionManager;
  /** The durable session's log, or the transient session's state itself. */
  #store: SessionLog | SessionState;
  /** A transient session's executor, made when first wanted. */
  #exec: Executor | undefined;
  /** Made on the first in-flight packet (an idle session holds none); read through `noneInflight` before. */
  #inflight: Map<number, number> | undefined;
  #timer: Timer | undefined;
  /** Marker changes gathered for the end of this event-loop turn (null: cleared), and their write. */
  #gathered:
    | {
        readonly changes: Map<number, number | null>;
        readonly immediate: Timer;
        readonly written: Promise<void>;
        write(): void;
      }
    | undefined;

  constructor(
    manager: SessionManager,
    id: string,
    store: SessionLog | SessionState,
    present: boolean,
    incarnation: number,
  ) {
    this.id = id;
    this.incarnation = incarnation;
    this.#flags = present ? presentFlag : 0;
    this.#manager = manager;
    this.#store = store;
    const { markers } = this.state;
    if (markers.size > 0) this.#inflight = new Map(markers);
  }

  /** The session queue's name (`session.<escaped id>`), worked out when asked rather than kept. */
  get queue(): string {
    return sessionQueueName(this.id);
  }

  /** True when the session existed before this open (MQTT "session present"). */
  get present(): boolean {
    return (this.#flags & presentFlag) !== 0;
  }

  get durable(): boolean {
    return this.#store instanceof OwnedLog;
  }

  private get destroyed(): boolean {
    return (this.#flags & destroyedFlag) !== 0;
  }

  private get state(): SessionState {
    const store = this.#store;
    return store instanceof OwnedLog ? store.state : store;
  }

  private get exec(): Executor {
    const store = this.#store;
    if (store instanceof OwnedLog) return store.exec;
    if (this.#exec === undefined) {
      const { supervisor, vhost } = this.#manager.deps;
      const exec = supervisor.executor('session', `${vhost.name}/${this.id}`, {
        // Nothing is stored: the session carries on from what it holds in memory.
        onFault: () => exec.restart(),
      });
      this.#exec = exec;
    }
    return this.#exec;
  }

  /** Applies `entry`; a durable session's promise resolves once it is stored. */
  commit(entry: SessionEntry): Promise<void> {
    const store = this.#store;
    if (store instanceof OwnedLog) return store.commit(entry);
    // A shared bare state (`sharedIfBare`) is frozen: the change goes to a copy.
    const state = Object.isFrozen(store) ? { ...store } : store;
    this.#store = sharedIfBare(sessionMachine.apply(state, entry));
    return resolved;
  }

  get expiryMs(): number | undefined {
    return this.state.expiryMs ?? undefined;
  }

  get connected(): boolean {
    return this.state.disconnectedAt === null;
  }

  subscriptions(): Subscription[] {
    return [...this.state.subscriptions.values()];
  }

  groupSubscriptions(): GroupSubscription[] {
    return [...this.state.groups.values()];
  }

  /** The session queue exists: it is declared at the first subscription, or came back with the definitions. */
  get hasQueue(): boolean {
    return this.#manager.deps.vhost.hasQueue(this.queue);
  }

  /** Binds the session queue (declared now if it is not yet); a second subscribe to the same pattern replaces its options. */
  async subscribe(exchange: string, pattern: string, options: Headers = {}): Promise<void> {
    const previous = this.state.subscriptions.get(subscriptionKey(exchange, pattern));
    if (previous !== undefined && canonicalHeaders(previous.options) === canonicalHeaders(options)) return;
    const vhost = this.#manager.deps.vhost;
    if (!this.hasQueue) vhost.declareQueue(this.queue, sessionQueueOptions(this.durable));
    vhost.bindQueue(this.queue, exchange, pattern, options);
    if (previous !== undefined) vhost.unbindQueue(this.queue, exchange, pattern, previous.options);
    const committed = this.commit({ type: 'subscribed', subscription: { exchange, pattern, options } });
    // The queue and its binding are definitions, written in the background: a subscription the
    // client is told of (SUBACK) must route after a crash, so both logs are awaited.
    await Promise.all([committed, this.#definitionsDurable(vhost)]);
  }

  /** A transient session's queue and bindings are never stored: nothing to wait for. */
  #definitionsDurable(vhost: VirtualHost): Promise<void> {
    return this.durable ? vhost.definitionsDurable() : Promise.resolve();
  }

  /** Returns false when there was no such subscription. */
  async unsubscribe(exchange: string, pattern: string): Promise<boolean> {
    const previous = this.state.subscriptions.get(subscriptionKey(exchange, pattern));
    if (previous === undefined) return false;
    const vhost = this.#manager.deps.vhost;
    vhost.unbindQueue(this.queue, exchange, pattern, previous.options);
    await Promise.all([
      this.commit({ type: 'unsubscribed', exchange, pattern }),
      this.#definitionsDurable(vhost),
    ]);
    return true;
  }

  /** Records a group subscription (the adapter serves it from the group's queue); same options: nothing. */
  async groupSubscribe(
    group: string,
    exchange: string,
    pattern: string,
    options: Headers = {},
  ): Promise<void> {
    const previous = this.state.groups.get(groupSubscriptionKey(group, exchange, pattern));
    if (previous !== undefined && canonicalHeaders(previous.options) === canonicalHeaders(options)) return;
    await this.commit({
      type: 'group.subscribed',
      subscription: { group, exchange, pattern, options },
    });
  }

  async groupUnsubscribe(group: string, exchange: string, pattern: string): Promise<boolean> {
    if (!this.state.groups.has(groupSubscriptionKey(group, exchange, pattern))) return false;
    await this.commit({ type: 'group.unsubscribed', group, exchange, pattern });
    return true;
  }

  inflight(): ReadonlyMap<number, number> {
    return this.#inflight ?? noneInflight;
  }

  holdsStored(offset: number): boolean | undefined {
    return this.#manager.deps.vhost.holdsStored(this.queue, offset);
  }

  /** Stored only when the entry was or becomes a marker (negative delivery id); see the file comment. */
  setInflight(packetId: number, deliveryId: number): Promise<void> {
    this.#inflight ??= new Map();
    const previous = this.#inflight.get(packetId);
    this.#inflight.set(packetId, deliveryId);
    if (deliveryId >= 0 && (previous === undefined || previous >= 0)) return resolved;
    return this.gather(packetId, deliveryId < 0 ? deliveryId : null);
  }

  deleteInflight(packetId: number): Promise<void> {
    const previous = this.#inflight?.get(packetId);
    if (previous === undefined) return resolved;
    this.#inflight?.delete(packetId);
    return previous < 0 ? this.gather(packetId, null) : resolved;
  }

  /** The owner is back: expiry stops; `expiryMs` may be changed at the same time. */
  async connect(expiryMs?: number): Promise<void> {
    this.stopTimer();
    const expiry = expiryMs ?? this.state.expiryMs;
    await this.commit({ type: 'connected', expiryMs: expiry });
  }

  /**
   * The owner left: the expiry clock starts (or the session goes now when expiry is 0). Not itself
   * async: a clean session's end, the way most connections end, makes no promise of its own.
   */
  disconnect(expiryMs?: number): Promise<void> {
    const expiry = expiryMs ?? this.state.expiryMs;
    if (expiry === 0) return this.destroy();
    return this.#leave(expiry);
  }

  async #leave(expiryMs: number | null): Promise<void> {
    await this.commit({ type: 'disconnected', at: this.exec.now(), expiryMs });
    this.startTimer();
  }

  /**
   * Deletes the queue if it was declared (and with it the bindings and messages) and the session's
   * log. A transient session has no log: it is gone when this returns, and the promise is settled
   * already (a failure is a rejection, as from an async function).
   */
  destroy(): Promise<void> {
    if (this.destroyed) return resolved;
    try {
      this.#flags |= destroyedFlag;
      this.stopTimer();
      this.settleGathered();
      this.#manager.deps.vhost.deleteQueue(this.queue);
      const store = this.#store;
      this.#exec?.stop();
      const gone = store instanceof OwnedLog ? store.destroy() : undefined;
      this.#manager.forget(this, gone);
      return gone ?? resolved;
    } catch (err) {
      return Promise.reject(err);
    }
  }

  summary(): SessionSummary {
    const queue = this.queue;
    return {
      id: this.id,
      incarnation: this.incarnation,
      queue,
      durable: this.durable,
      expiryMs: this.expiryMs,
      connected: this.connected,
      hasQueue: this.#manager.deps.vhost.hasQueue(queue),
      subscriptions: this.subscriptions(),
      groupSubscriptions: this.groupSubscriptions(),
    };
  }

  /** The broker is closing: timers stop, gathered markers are written, the log closes. */
  async close(): Promise<void> {
    this.stopTimer();
    const gathered = this.#gathered;
    if (gathered !== undefined) {
      gathered.immediate.cancel();
      gathered.write();
    }
    const store = this.#store;
    this.#exec?.stop();
    if (store instanceof OwnedLog) await store.close();
  }

  /** A destroyed session writes nothing more; its callers' promises settle. */
  private settleGathered(): void {
    this.#gathered?.immediate.cancel();
    this.#gathered?.write();
  }

  /**
   * One entry at the end of this event-loop turn for every marker changed during it. A transient
   * session keeps its markers in `#inflight` alone.
   */
  private gather(packetId: number, marker: number | null): Promise<void> {
    if (!this.durable || this.destroyed) return resolved;
    if (this.#gathered !== undefined) {
      this.#gathered.changes.set(packetId, marker);
      return this.#gathered.written;
    }
    const changes = new Map<number, number | null>([[packetId, marker]]);
    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const written = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const write = () => {
      this.#gathered = undefined;
      if (this.destroyed) return settle.resolve();
      const set: Array<[number, number]> = [];
      const clear: number[] = [];
      for (const [id, value] of changes) value === null ? clear.push(id) : set.push([id, value]);
      try {
        this.commit({ type: 'markers', set, clear }).then(settle.resolve, settle.reject);
      } catch (err) {
        settle.reject(err);
      }
    };
    this.#gathered = { changes, immediate: this.exec.soon(write), written, write };
    return written;
  }

  startTimer(): void {
    this.stopTimer();
    const { expiryMs, disconnectedAt } = this.state;
    if (expiryMs === null || disconnectedAt === null || this.destroyed) return;
    const { exec } = this;
    const waitMs = Math.max(0, disconnectedAt + expiryMs - exec.now());
    this.#timer = exec.after(waitMs, () => {
      this.#timer = undefined;
      // A failed removal is this session's failure: logged and counted, and retried at the next start.
      exec.follow(this.destroy());
    });
  }

  stopTimer(): void {
    this.#timer?.cancel();
    this.#timer = undefined;
  }
}

const resolved = Promise.resolve();
