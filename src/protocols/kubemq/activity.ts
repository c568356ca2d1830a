/**
 * What operators see of KubeMQ's channels (`/api/kubemq/channels`): per channel and type, the messages
 * sent to it since the broker started, its live subscribers (subscriptions, and receivers waiting on a
 * queue) and its last activity. Counted where the handlers already are, never by asking core; the
 * queue depth and stored count are read from core only when an operator lists them (`channelRows`).
 */
import type { CoreClient } from '../../core/api.js';

/** KubeMQ's channel types, as its dashboard and API name them. */
export type ChannelType = 'events' | 'events_store' | 'queues' | 'commands' | 'queries';

interface Activity {
  readonly type: ChannelType;
  readonly name: string;
  sent: number;
  subscribers: number;
  lastActivityMs: number;
}

/**
 * Channels tracked at most; past it the one least recently active without subscribers is forgotten
 * (a wildcard subscriber on many channels cannot make this grow without bound).
 */
export const channelsTrackedMax = 10_000;

/** One channel as the admin API shows it. */
export interface ChannelRow {
  readonly name: string;
  readonly type: ChannelType;
  readonly vhost: string;
  /** Queues: ready in the queue now; events store: stored; events, commands, queries: sent since start. */
  readonly messages: number;
  readonly sent: number;
  readonly subscribers: number;
  readonly lastActivityMs: number;
}

export class ChannelActivity {
  /** In order of last activity, oldest first (each touch moves its entry to the end). */
  readonly #channels = new Map<string, Activity>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** `count` messages were sent to the channel. */
  sent(type: ChannelType, name: string, count = 1): void {
    this.#touch(type, name).sent += count;
  }

  /** A subscriber (or a receiver waiting on a queue) came; the function returned says it left. */
  subscribed(type: ChannelType, name: string): () => void {
    this.#touch(type, name).subscribers++;
    let gone = false;
    return () => {
      if (gone) return;
      gone = true;
      const entry = this.#channels.get(keyOf(type, name));
      if (entry !== undefined) entry.subscribers--;
    };
  }

  /** Every tracked channel, with what core holds of queues and stores read now. */
  rows(core: CoreClient, vhost: string): ChannelRow[] {
    return [...this.#channels.values()].map((a) => ({
      name: a.name,
      type: a.type,
      vhost,
      messages: held(core, a),
      sent: a.sent,
      subscribers: a.subscribers,
      lastActivityMs: a.lastActivityMs,
    }));
  }

  #touch(type: ChannelType, name: string): Activity {
    const key = keyOf(type, name);
    const found = this.#channels.get(key);
    const entry = found ?? { type, name, sent: 0, subscribers: 0, lastActivityMs: 0 };
    this.#channels.delete(key);
    if (found === undefined && this.#channels.size >= channelsTrackedMax) this.#forgetOne();
    entry.lastActivityMs = this.#now();
    this.#channels.set(key, entry);
    return entry;
  }

  #forgetOne(): void {
    for (const [key, entry] of this.#channels) {
      if (entry.subscribers > 0) continue;
      this.#channels.delete(key);
      return;
    }
  }
}

const keyOf = (type: ChannelType, name: string): string => `${type}\u0000${name}`;

/** Queues: ready now; events stores: stored now (0 once either is gone); other channels: sent. */
function held(core: CoreClient, a: Activity): number {
  if (a.type === 'queues') return core.peekQueue(a.name)?.messageCount ?? 0;
  if (a.type !== 'events_store') return a.sent;
  if (core.stream(a.name) === undefined) return 0;
  const p = core.partition(a.name, 0);
  return p.endOffset - p.startOffset;
}
