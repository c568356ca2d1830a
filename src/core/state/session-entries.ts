/**
 * A durable session's log (`session.<vhost>.<id>`): its subscriptions, its group subscriptions (an
 * MQTT `$share` membership), the in-flight markers no queue can rebuild, and when its owner left.
 */
import type { Headers } from '../types.js';
import { corrupt, Fields, headersToJson, type Json } from './json.js';
import type { StateMachine } from './state-log.js';

/** A subscription of a session: its queue bound to `exchange` with `pattern`; options are binding args. */
export interface Subscription {
  readonly exchange: string;
  readonly pattern: string;
  readonly options: Headers;
}

/** A subscription shared with other sessions through the group's own queue. */
export interface GroupSubscription extends Subscription {
  readonly group: string;
}

export interface SessionState {
  /** Undefined: never expires. */
  expiryMs: number | null;
  /** Null while the owner is connected. */
  disconnectedAt: number | null;
  /** By `subscriptionKey`. */
  subscriptions: ReadonlyMap<string, Subscription>;
  /** By `groupSubscriptionKey`. */
  groups: ReadonlyMap<string, GroupSubscription>;
  /** Adapter packet id → a negative marker (MQTT's "PUBREL still owed"). */
  markers: ReadonlyMap<number, number>;
}

/**
 * The tables of a new state are this one empty map, replaced by a map of its own at the first entry:
 * most sessions (short clean MQTT connections) never subscribe, and three empty maps were ~550 bytes
 * of each.
 */
const noEntries: ReadonlyMap<never, never> = new Map<never, never>();

/**
 * A connected session with nothing in it and an expiry of 0 or none, as most transient sessions are
 * for their whole life: one frozen state of each is shared by all of them (a transient session copies
 * it before a change; a durable one's state is its log's own).
 */
const bareStates = new Map<number | null, SessionState>(
  [0, null].map((expiryMs) => [
    expiryMs,
    Object.freeze({
      expiryMs,
      disconnectedAt: null,
      subscriptions: noEntries,
      groups: noEntries,
      markers: noEntries,
    }),
  ]),
);

/** The shared state equal to `state` when there is one, else `state`. */
export function sharedIfBare(state: SessionState): SessionState {
  if (state.disconnectedAt !== null || state.subscriptions !== noEntries) return state;
  if (state.groups !== noEntries || state.markers !== noEntries) return state;
  return bareStates.get(state.expiryMs) ?? state;
}

/** `table` to write into: a map of the state's own, never the shared empty one. */
function writable<K, V>(table: ReadonlyMap<K, V>): Map<K, V> {
  return table === noEntries ? new Map() : (table as Map<K, V>);
}

export type SessionEntry =
  | { readonly type: 'connected'; readonly expiryMs: number | null }
  | { readonly type: 'disconnected'; readonly at: number; readonly expiryMs: number | null }
  /** Adds or replaces the subscription of (exchange, pattern). */
  | { readonly type: 'subscribed'; readonly subscription: Subscription }
  | { readonly type: 'unsubscribed'; readonly exchange: string; readonly pattern: string }
  | { readonly type: 'group.subscribed'; readonly subscription: GroupSubscription }
  | {
      readonly type: 'group.unsubscribed';
      readonly group: string;
      readonly exchange: string;
      readonly pattern: string;
    }
  /** The markers set and cleared during one event-loop turn. */
  | {
      readonly type: 'markers';
      readonly set: ReadonlyArray<readonly [number, number]>;
      readonly clear: readonly number[];
    };

export function subscriptionKey(exchange: string, pattern: string): string {
  return `${exchange}\u0000${pattern}`;
}

export function groupSubscriptionKey(group: string, exchange: string, pattern: string): string {
  return `${group}\u0000${exchange}\u0000${pattern}`;
}

function applySession(state: SessionState, entry: SessionEntry): SessionState {
  switch (entry.type) {
    case 'connected':
      state.disconnectedAt = null;
      state.expiryMs = entry.expiryMs;
      break;
    case 'disconnected':
      state.disconnectedAt = entry.at;
      state.expiryMs = entry.expiryMs;
      break;
    case 'subscribed': {
      const { exchange, pattern } = entry.subscription;
      state.subscriptions = writable(state.subscriptions).set(
        subscriptionKey(exchange, pattern),
        entry.subscription,
      );
      break;
    }
    case 'unsubscribed':
      writable(state.subscriptions).delete(subscriptionKey(entry.exchange, entry.pattern));
      break;
    case 'group.subscribed': {
      const { group, exchange, pattern } = entry.subscription;
      const key = groupSubscriptionKey(group, exchange, pattern);
      state.groups = writable(state.groups).set(key, entry.subscription);
      break;
    }
    case 'group.unsubscribed':
      writable(state.groups).delete(groupSubscriptionKey(entry.group, entry.exchange, entry.pattern));
      break;
    case 'markers': {
      const markers = writable(state.markers);
      for (const [packetId, marker] of entry.set) markers.set(packetId, marker);
      for (const packetId of entry.clear) markers.delete(packetId);
      state.markers = markers;
      break;
    }
  }
  return state;
}

function* snapshotSession(state: SessionState): Iterable<SessionEntry> {
  const { expiryMs, disconnectedAt } = state;
  yield disconnectedAt === null
    ? { type: 'connected', expiryMs }
    : { type: 'disconnected', at: disconnectedAt, expiryMs };
  for (const subscription of state.subscriptions.values()) yield { type: 'subscribed', subscription };
  for (const subscription of state.groups.values()) yield { type: 'group.subscribed', subscription };
  if (state.markers.size > 0) yield { type: 'markers', set: [...state.markers], clear: [] };
}

// ---- encoding

function subscriptionToJson(s: Subscription): { [key: string]: Json } {
  return { exchange: s.exchange, pattern: s.pattern, options: headersToJson(s.options) };
}

function subscriptionFromJson(f: Fields): Subscription {
  return { exchange: f.str('exchange'), pattern: f.str('pattern'), options: f.headers('options') };
}

function markersFromJson(list: unknown[]): Array<[number, number]> {
  return list.map((raw, i) => {
    const pair = Array.isArray(raw) ? raw : [];
    const f = new Fields({ packet: pair[0], marker: pair[1] }, `marker ${i}`);
    return [f.int('packet'), f.int('marker', Number.MIN_SAFE_INTEGER)];
  });
}

function encodeSession(entry: SessionEntry): Json {
  switch (entry.type) {
    case 'connected':
      return { t: entry.type, expiryMs: entry.expiryMs };
    case 'disconnected':
      return { t: entry.type, at: entry.at, expiryMs: entry.expiryMs };
    case 'subscribed':
      return { t: entry.type, ...subscriptionToJson(entry.subscription) };
    case 'unsubscribed':
      return { t: entry.type, exchange: entry.exchange, pattern: entry.pattern };
    case 'group.subscribed':
      return { t: entry.type, group: entry.subscription.group, ...subscriptionToJson(entry.subscription) };
    case 'group.unsubscribed':
      return { t: entry.type, group: entry.group, exchange: entry.exchange, pattern: entry.pattern };
    case 'markers':
      return { t: entry.type, set: entry.set.map(([p, m]) => [p, m]), clear: [...entry.clear] };
  }
}

function decodeSession(json: unknown): SessionEntry {
  const f = new Fields(json, 'session entry');
  const type = f.str('t');
  switch (type) {
    case 'connected':
      return { type, expiryMs: f.intOrNull('expiryMs') };
    case 'disconnected':
      return { type, at: f.num('at'), expiryMs: f.intOrNull('expiryMs') };
    case 'subscribed':
      return { type, subscription: subscriptionFromJson(f) };
    case 'unsubscribed':
      return { type, exchange: f.str('exchange'), pattern: f.str('pattern') };
    case 'group.subscribed':
      return { type, subscription: { group: f.str('group'), ...subscriptionFromJson(f) } };
    case 'group.unsubscribed':
      return { type, group: f.str('group'), exchange: f.str('exchange'), pattern: f.str('pattern') };
    case 'markers': {
      const clear = f
        .array('clear')
        .map((raw, i) => new Fields({ packet: raw }, `cleared ${i}`).int('packet'));
      return { type, set: markersFromJson(f.array('set')), clear };
    }
    default:
      throw corrupt(`session entry type '${type}'`);
  }
}

export const sessionMachine: StateMachine<SessionState, SessionEntry> = {
  kind: 'session',
  initial: () => ({
    expiryMs: null,
    disconnectedAt: null,
    subscriptions: noEntries,
    groups: noEntries,
    markers: noEntries,
  }),
  apply: applySession,
  encode: encodeSession,
  decode: decodeSession,
  snapshot: snapshotSession,
};
