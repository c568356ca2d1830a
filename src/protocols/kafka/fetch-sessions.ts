/**
 * Fetch sessions (KIP-227): the broker remembers which partitions a consumer fetches and at which
 * offsets, so the consumer's next Fetch names only what changed and the answer carries only partitions
 * with news. Sessions belong to the listener (a consumer may reconnect and keep its session), live in
 * a bounded cache and are evicted least recently used first, and only once idle for
 * `sessionEvictionIdleMs` (Kafka's `min.incremental.fetch.session.eviction.ms`); when every slot is
 * busy the consumer is answered without a session (id 0) and keeps sending full requests.
 */
import type { Clock } from '../../shared/clock.js';
import { KafkaError } from './errors.js';

/** Kafka's `max.incremental.fetch.session.cache.slots`. */
export const fetchSessionsMax = 1000;
/** Kafka's `min.incremental.fetch.session.eviction.ms`. */
export const fetchSessionEvictionIdleMs = 120_000;
/** Partitions one session may hold; a full fetch naming more is served without a session. */
export const fetchSessionPartitionsMax = 10_000;
/**
 * Partitions all sessions hold together (Switchyard's bound; Kafka bounds only the slots): a full
 * slot table of full sessions, 1000 × 10,000 partitions, held 4 GiB (300 such sessions, sent by
 * one client, took the broker from 65 to 1,274 MiB). A full fetch that would pass it is answered
 * without a session, as when every slot is busy; an incremental one that grows past it loses its
 * session (FETCH_SESSION_ID_NOT_FOUND), as one past `fetchSessionPartitionsMax` does.
 */
export const fetchSessionCachePartitionsMax = 100_000;

/**
 * Partitions a cache's sessions hold together, against its bound: fetch sessions here, share
 * sessions (KIP-932) in share-groups.ts, so one client cannot fill either with full sessions.
 */
export class HeldPartitions {
  readonly max: number;
  #held = 0;

  constructor(max: number) {
    this.max = max;
  }

  get held(): number {
    return this.#held;
  }

  /** True when `more` partitions (negative for fewer) keep the sessions within the bound. */
  fits(more: number): boolean {
    return this.#held + more <= this.max;
  }

  change(by: number): void {
    this.#held += by;
    if (this.#held < 0) throw new Error(`held partitions went below 0 (${this.#held})`);
  }
}

/** Epoch 0 opens a session, -1 closes one (or asks for none); both carry a full request. */
const initialEpoch = 0;
const finalEpoch = -1;

/** What the session knows of one partition: the client's position and what it was last told. */
export interface SessionPartition {
  readonly topic: string;
  readonly partition: number;
  fetchOffset: number;
  maxBytes: number;
  /** -2 until the partition has been answered once, so the first answer always carries it. */
  sentHighWatermark: bigint;
  sentLastStableOffset: bigint;
  sentLogStartOffset: bigint;
}

export class FetchSession {
  readonly id: number;
  /** The epoch the next incremental request must carry. */
  nextEpoch = 1;
  lastUsedMs: number;
  /** In fetch order; a partition that returned records moves to the back, so none starves. */
  readonly partitions = new Map<string, SessionPartition>();

  constructor(id: number, nowMs: number) {
    this.id = id;
    this.lastUsedMs = nowMs;
  }
}

export interface WantedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly fetchOffset: number;
  readonly maxBytes: number;
}

export interface FetchSessionRequest {
  readonly sessionId: number;
  readonly sessionEpoch: number;
  readonly partitions: readonly WantedPartition[];
  readonly forgotten: ReadonlyArray<{ readonly topic: string; readonly partitions: readonly number[] }>;
}

/**
 * How one Fetch is served: `sessionless` reads what the request names and answers id 0; `full` and
 * `incremental` read every partition of the session, the first answering all of them and the second
 * only those with news.
 */
export type FetchContext =
  | { readonly kind: 'error'; readonly errorCode: KafkaError }
  | { readonly kind: 'sessionless'; readonly partitions: readonly WantedPartition[] }
  | { readonly kind: 'full' | 'incremental'; readonly session: FetchSession };

const keyOf = (topic: string, partition: number): string => `${partition}:${topic}`;

export class FetchSessionCache {
  readonly #sessions = new Map<number, FetchSession>();
  readonly #clock: Clock;
  readonly #slotsMax: number;
  readonly #evictionIdleMs: number;
  readonly #held: HeldPartitions;

  constructor(
    clock: Clock,
    slotsMax = fetchSessionsMax,
    evictionIdleMs = fetchSessionEvictionIdleMs,
    partitionsMax = fetchSessionCachePartitionsMax,
  ) {
    this.#clock = clock;
    this.#slotsMax = slotsMax;
    this.#evictionIdleMs = evictionIdleMs;
    this.#held = new HeldPartitions(partitionsMax);
  }

  get size(): number {
    return this.#sessions.size;
  }

  /** Partitions the sessions hold, together. */
  get partitions(): number {
    return this.#held.held;
  }

  #drop(id: number): void {
    const session = this.#sessions.get(id);
    if (session === undefined) return;
    this.#held.change(-session.partitions.size);
    this.#sessions.delete(id);
  }

  /** Decides how a Fetch (v7+) is served, opening, updating or closing its session. */
  context(request: FetchSessionRequest): FetchContext {
    const now = this.#clock.now();
    if (request.sessionEpoch === initialEpoch || request.sessionEpoch === finalEpoch) {
      // A full request replaces whatever session the id named (KIP-227).
      if (request.sessionId !== 0) this.#drop(request.sessionId);
      if (request.sessionEpoch === finalEpoch || request.partitions.length > fetchSessionPartitionsMax)
        return { kind: 'sessionless', partitions: request.partitions };
      const session = this.#open(now, request.partitions.length);
      if (session === null) return { kind: 'sessionless', partitions: request.partitions };
      for (const p of request.partitions) upsert(session, p);
      this.#held.change(session.partitions.size);
      return { kind: 'full', session };
    }
    const session = this.#sessions.get(request.sessionId);
    if (session === undefined) return { kind: 'error', errorCode: KafkaError.fetchSessionIdNotFound };
    if (request.sessionEpoch !== session.nextEpoch)
      return { kind: 'error', errorCode: KafkaError.invalidFetchSessionEpoch };
    const before = session.partitions.size;
    for (const t of request.forgotten)
      for (const partition of t.partitions) session.partitions.delete(keyOf(t.topic, partition));
    for (const p of request.partitions) upsert(session, p);
    this.#held.change(session.partitions.size - before);
    if (session.partitions.size > fetchSessionPartitionsMax || !this.#held.fits(0)) {
      this.#drop(session.id);
      return { kind: 'error', errorCode: KafkaError.fetchSessionIdNotFound };
    }
    session.nextEpoch = session.nextEpoch === 0x7fffffff ? 1 : session.nextEpoch + 1;
    // Most recently used last, so eviction looks at the front.
    this.#sessions.delete(session.id);
    this.#sessions.set(session.id, session);
    session.lastUsedMs = now;
    return { kind: 'incremental', session };
  }

  /**
   * A new session for `partitions`, evicting the least recently used ones while a slot or room for
   * them is wanting and they have been idle long enough; null when that is not enough.
   */
  #open(now: number, partitions: number): FetchSession | null {
    if (partitions > this.#held.max) return null;
    while (this.#sessions.size >= this.#slotsMax || !this.#held.fits(partitions)) {
      const oldest = this.#sessions.values().next().value;
      if (oldest === undefined || now - oldest.lastUsedMs < this.#evictionIdleMs) return null;
      this.#drop(oldest.id);
    }
    let id = 0;
    // Ids are random so a client cannot guess another's session; 0 means none.
    while (id === 0 || this.#sessions.has(id)) id = (Math.random() * 0x7fffffff) | 0;
    const session = new FetchSession(id, now);
    this.#sessions.set(id, session);
    return session;
  }
}

function upsert(session: FetchSession, p: WantedPartition): void {
  const key = keyOf(p.topic, p.partition);
  const known = session.partitions.get(key);
  if (known !== undefined) {
    known.fetchOffset = p.fetchOffset;
    known.maxBytes = p.maxBytes;
    return;
  }
  session.partitions.set(key, {
    topic: p.topic,
    partition: p.partition,
    fetchOffset: p.fetchOffset,
    maxBytes: p.maxBytes,
    sentHighWatermark: -2n,
    sentLastStableOffset: -2n,
    sentLogStartOffset: -2n,
  });
}

/** The answer of one partition, as far as the session cares. */
export interface PartitionNews {
  readonly errorCode: number;
  readonly highWatermark: bigint;
  readonly lastStableOffset: bigint;
  readonly logStartOffset: bigint;
  readonly recordBytes: number;
}

/**
 * Whether an incremental answer carries this partition (records, an error, or offsets the client has
 * not been told), remembering what it was told. A partition with records moves to the back.
 */
export function carriesNews(session: FetchSession, p: SessionPartition, news: PartitionNews): boolean {
  const changed =
    news.recordBytes > 0 ||
    news.errorCode !== KafkaError.none ||
    news.highWatermark !== p.sentHighWatermark ||
    news.lastStableOffset !== p.sentLastStableOffset ||
    news.logStartOffset !== p.sentLogStartOffset;
  p.sentHighWatermark = news.highWatermark;
  p.sentLastStableOffset = news.lastStableOffset;
  p.sentLogStartOffset = news.logStartOffset;
  if (news.recordBytes > 0) {
    const key = keyOf(p.topic, p.partition);
    session.partitions.delete(key);
    session.partitions.set(key, p);
  }
  return changed;
}
