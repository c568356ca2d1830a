/**
 * Sessions: a subscriber's lasting identity. A session owns one queue (`session.<escaped id>`, durable
 * iff the session is), binds it for each subscription, and keeps a small state record: subscriptions
 * with their options, in-flight ids (the adapter's packet id ↔ the queue's delivery id) and expiry.
 * Durable sessions keep that record in the broker state, so they come back after a restart with their
 * queue (a durable queue, restored with its bindings by the definitions) and their messages.
 *
 * In-flight ids: the whole map lives in memory, which is all a reconnect to the same broker needs.
 * Only the entries whose delivery id is negative are stored: an adapter's marker that no queue can
 * rebuild (MQTT's "PUBREL still owed"). An entry naming a delivery is never stored, because queues
 * number their deliveries afresh after a restart, so a stored delivery id would name some other
 * message; the unacked message itself comes back from its durable queue, flagged redelivered.
 * Hence a QoS 1 stream into a durable session writes nothing here per message, and the writes
 * that remain are gathered into at most one per event-loop turn per session.
 *
 * Expiry: a session whose owner disconnects is removed once `expiryMs` has passed without a
 * reconnect; `expiryMs` undefined means never, 0 means at disconnect.
 */

import { Buffer } from 'node:buffer';
import { createHash } from 'node:crypto';
import type { CoreBroker, SessionSummary } from './api.js';
import { headersFromJson, headersToJson } from './definitions.js';
import type { Executor, Timer } from './exec/executor.js';
import type { VirtualHost } from './internal.js';
import { canonicalHeaders } from './routing/index.js';
import type { Headers } from './types.js';

export interface SessionOptions {
  readonly durable: boolean;
  /** Undefined: never expires. */
  readonly expiryMs?: number;
  /** Start afresh: any existing session of this id is destroyed first. */
  readonly clean?: boolean;
}

export interface Subscription {
  readonly exchange: string;
  readonly pattern: string;
  /** Binding arguments; the adapter's subscription options travel here. */
  readonly options: Headers;
}

interface SessionRecord {
  durable: boolean;
  expiryMs: number | null;
  disconnectedAt: number | null;
  subscriptions: Array<{ exchange: string; pattern: string; options: unknown }>;
  inflight: Array<[number, number]>;
}

/** Session records live under this key prefix of the broker state. */
const keyRoot = 'core.sessions/';
const queueNameBytesMax = 255;

export function sessionQueueName(id: string): string {
  const readable = `session.${encodeURIComponent(id)}`;
  if (Buffer.byteLength(readable) <= queueNameBytesMax) return readable;
  return `session.h.${createHash('sha256').update(id).digest('hex')}`;
}

export interface SessionManagerDeps {
  readonly vhost: VirtualHost;
  readonly state: CoreBroker['state'];
  /** Expiry timers and gathered writes of the vhost's sessions run here. */
  readonly exec: Executor;
}

export class SessionManager {
  readonly #deps: SessionManagerDeps;
  readonly #sessions = new Map<string, Session>();
  readonly #prefix: string;
  /** Every session object made gets the next number: a handle to one never reaches its successor. */
  #incarnations = 0;

  constructor(deps: SessionManagerDeps) {
    this.#deps = deps;
    this.#prefix = `${keyRoot}${encodeURIComponent(deps.vhost.name)}/`;
    this.#restore();
  }

  /** Opens (or takes over) the session `id`; `present` on the result tells whether it existed. */
  async openSession(id: string, options: SessionOptions): Promise<Session> {
    let session = this.#sessions.get(id);
    if (session !== undefined && (options.clean === true || session.durable !== options.durable)) {
      await session.destroy();
      session = undefined;
    }
    if (session !== undefined) {
      await session.connect(options.expiryMs);
      return session;
    }
    const record: SessionRecord = {
      durable: options.durable,
      expiryMs: options.expiryMs ?? null,
      disconnectedAt: null,
      subscriptions: [],
      inflight: [],
    };
    this.#deps.vhost.declareQueue(sessionQueueName(id), { durable: options.durable, autoDelete: false });
    session = new Session(this, id, record, false, ++this.#incarnations);
    this.#sessions.set(id, session);
    await session.persist();
    return session;
  }

  session(id: string): Session | undefined {
    return this.#sessions.get(id);
  }

  listSessions(): SessionSummary[] {
    return [...this.#sessions.values()].map((session) => session.summary());
  }

  /** The vhost is being deleted: drop every session record (the queues go with the vhost). */
  async forgetAll(): Promise<void> {
    this.close();
    this.#sessions.clear();
    for (const [key] of this.#deps.state.entries(this.#prefix)) await this.#deps.state.delete(key);
  }

  /** Stops expiry timers and starts any record write still gathered; sessions stay stored. */
  close(): void {
    for (const session of this.#sessions.values()) {
      session.stopTimer();
      session.flush();
    }
  }

  get deps(): SessionManagerDeps {
    return this.#deps;
  }

  key(id: string): string {
    return `${this.#prefix}${encodeURIComponent(id)}`;
  }

  forget(id: string, session: Session): void {
    if (this.#sessions.get(id) === session) this.#sessions.delete(id);
  }

  /** After a restart every stored session is disconnected; its expiry counts from its disconnect. */
  #restore(): void {
    const now = this.#deps.exec.now();
    for (const [key, value] of this.#deps.state.entries(this.#prefix)) {
      const id = decodeURIComponent(key.slice(this.#prefix.length));
      const record = value as SessionRecord;
      record.disconnectedAt ??= now;
      const queue = sessionQueueName(id);
      // The durable queue and its bindings came back with the definitions; recreate it if missing.
      this.#deps.vhost.declareQueue(queue, { durable: record.durable, autoDelete: false });
      const session = new Session(this, id, record, true, ++this.#incarnations);
      this.#sessions.set(id, session);
      session.startTimer();
    }
  }
}

export class Session {
  readonly id: string;
  readonly incarnation: number;
  readonly queue: string;
  /** True when the session existed before this open (MQTT "session present"). */
  readonly present: boolean;
  readonly #manager: SessionManager;
  readonly #record: SessionRecord;
  readonly #subscriptions = new Map<string, Subscription>();
  readonly #inflight = new Map<number, number>();
  #timer: Timer | undefined;
  #destroyed = false;
  /** A record write gathered for the end of this event-loop turn, and the promise its callers hold. */
  #gathered: { readonly immediate: Timer; readonly written: Promise<void>; write(): void } | undefined;

  constructor(
    manager: SessionManager,
    id: string,
    record: SessionRecord,
    present: boolean,
    incarnation: number,
  ) {
    this.id = id;
    this.incarnation = incarnation;
    this.queue = sessionQueueName(id);
    this.present = present;
    this.#manager = manager;
    this.#record = record;
    for (const sub of record.subscriptions) {
      const subscription = {
        exchange: sub.exchange,
        pattern: sub.pattern,
        options: headersFromJson(sub.options),
      };
      this.#subscriptions.set(subKey(sub.exchange, sub.pattern), subscription);
    }
    // Records written before delivery ids were left out may still hold some: they name nothing now.
    for (const [packetId, deliveryId] of record.inflight)
      if (deliveryId < 0) this.#inflight.set(packetId, deliveryId);
  }

  get durable(): boolean {
    return this.#record.durable;
  }

  get expiryMs(): number | undefined {
    return this.#record.expiryMs ?? undefined;
  }

  get connected(): boolean {
    return this.#record.disconnectedAt === null;
  }

  subscriptions(): Subscription[] {
    return [...this.#subscriptions.values()];
  }

  /** Binds the session queue; a second subscribe to the same pattern replaces its options. */
  async subscribe(exchange: string, pattern: string, options: Headers = {}): Promise<void> {
    const key = subKey(exchange, pattern);
    const previous = this.#subscriptions.get(key);
    if (previous !== undefined && canonicalHeaders(previous.options) === canonicalHeaders(options)) return;
    const vhost = this.#manager.deps.vhost;
    vhost.bindQueue(this.queue, exchange, pattern, options);
    if (previous !== undefined) vhost.unbindQueue(this.queue, exchange, pattern, previous.options);
    this.#subscriptions.set(key, { exchange, pattern, options });
    await this.persist();
  }

  /** Returns false when there was no such subscription. */
  async unsubscribe(exchange: string, pattern: string): Promise<boolean> {
    const key = subKey(exchange, pattern);
    const previous = this.#subscriptions.get(key);
    if (previous === undefined) return false;
    this.#manager.deps.vhost.unbindQueue(this.queue, exchange, pattern, previous.options);
    this.#subscriptions.delete(key);
    await this.persist();
    return true;
  }

  inflight(): ReadonlyMap<number, number> {
    return this.#inflight;
  }

  /** Stored only when the entry was or becomes a marker (negative delivery id); see the file comment. */
  setInflight(packetId: number, deliveryId: number): Promise<void> {
    const previous = this.#inflight.get(packetId);
    this.#inflight.set(packetId, deliveryId);
    if (deliveryId >= 0 && (previous === undefined || previous >= 0)) return resolved;
    return this.#persistSoon();
  }

  deleteInflight(packetId: number): Promise<void> {
    const previous = this.#inflight.get(packetId);
    if (previous === undefined) return resolved;
    this.#inflight.delete(packetId);
    return previous < 0 ? this.#persistSoon() : resolved;
  }

  /** The owner is back: expiry stops; `expiryMs` may be changed at the same time. */
  connect(expiryMs?: number): Promise<void> {
    this.stopTimer();
    this.#record.disconnectedAt = null;
    if (expiryMs !== undefined) this.#record.expiryMs = expiryMs;
    return this.persist();
  }

  /** The owner left: the expiry clock starts (or the session goes now when expiry is 0). */
  async disconnect(expiryMs?: number): Promise<void> {
    if (expiryMs !== undefined) this.#record.expiryMs = expiryMs;
    this.#record.disconnectedAt = this.#manager.deps.exec.now();
    if (this.#record.expiryMs === 0) return this.destroy();
    await this.persist();
    this.startTimer();
  }

  /** Deletes the queue (and with it the bindings and messages) and the stored record. */
  async destroy(): Promise<void> {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.stopTimer();
    this.flush(); // settles the callers' promise; nothing is written once destroyed
    this.#manager.forget(this.id, this);
    this.#manager.deps.vhost.deleteQueue(this.queue);
    await this.#manager.deps.state.delete(this.#manager.key(this.id));
  }

  summary(): SessionSummary {
    return {
      id: this.id,
      incarnation: this.incarnation,
      queue: this.queue,
      durable: this.durable,
      expiryMs: this.expiryMs,
      connected: this.connected,
      subscriptions: this.subscriptions(),
    };
  }

  /** Writes the record now when the session is durable; transient sessions live in memory only. */
  persist(): Promise<void> {
    if (!this.durable || this.#destroyed) return resolved;
    this.#record.subscriptions = this.subscriptions().map((sub) => ({
      ...sub,
      options: headersToJson(sub.options),
    }));
    this.#record.inflight = [];
    for (const entry of this.#inflight) if (entry[1] < 0) this.#record.inflight.push(entry);
    return this.#manager.deps.state.put(this.#manager.key(this.id), this.#record);
  }

  /** Starts the gathered write, if any, now (the broker is closing). */
  flush(): void {
    const gathered = this.#gathered;
    if (gathered === undefined) return;
    gathered.immediate.cancel();
    gathered.write();
  }

  /**
   * One write at the end of this event-loop turn for every in-flight change made during it; it
   * stores the state as it is then, so no change is lost by gathering.
   */
  #persistSoon(): Promise<void> {
    if (!this.durable || this.#destroyed) return resolved;
    if (this.#gathered !== undefined) return this.#gathered.written;
    let settle!: { resolve: () => void; reject: (err: unknown) => void };
    const written = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
    const write = () => {
      this.#gathered = undefined;
      this.persist().then(settle.resolve, settle.reject);
    };
    this.#gathered = { immediate: this.#manager.deps.exec.soon(write), written, write };
    return written;
  }

  startTimer(): void {
    this.stopTimer();
    const { expiryMs, disconnectedAt } = this.#record;
    if (expiryMs === null || disconnectedAt === null) return;
    const { exec } = this.#manager.deps;
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

function subKey(exchange: string, pattern: string): string {
  return `${exchange}\u0000${pattern}`;
}
