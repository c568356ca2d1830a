/**
 * A vhost's retained set (`retained.<vhost>`): at most one message per routing key, as MQTT keeps one
 * per topic (MQTT 5.0 §3.3.1.3), replaced by the next one and cleared explicitly.
 */
import type { RetainedMessage } from '../api.js';
import { decodeMessage, encodeMessage } from '../message-codec.js';
import { bytesToJson, corrupt, Fields, type Json } from './json.js';
import type { StateMachine } from './state-log.js';

/** By routing key, in the order keys were first set. */
export type RetainedState = Map<string, RetainedMessage>;

export type RetainedEntry =
  | { readonly type: 'set'; readonly message: RetainedMessage }
  | { readonly type: 'clear'; readonly key: string };

function applyRetained(state: RetainedState, entry: RetainedEntry): RetainedState {
  if (entry.type === 'set') state.set(entry.message.key, entry.message);
  else state.delete(entry.key);
  return state;
}

function* snapshotRetained(state: RetainedState): Iterable<RetainedEntry> {
  for (const message of state.values()) yield { type: 'set', message };
}

function encodeRetained(entry: RetainedEntry): Json {
  if (entry.type === 'clear') return { t: entry.type, key: entry.key };
  const { key, body, properties } = entry.message;
  // The core message codec's bytes: every property and header comes back exactly, headers in order.
  const message = encodeMessage({ exchange: '', routingKey: key, body, properties });
  return { t: entry.type, key, message: bytesToJson(message) };
}

function decodeRetained(json: unknown): RetainedEntry {
  const f = new Fields(json, 'retained entry');
  const type = f.str('t');
  if (type === 'clear') return { type, key: f.str('key') };
  if (type !== 'set') throw corrupt(`retained entry type '${type}'`);
  const key = f.str('key');
  const { message } = decodeMessage(f.bytes('message'));
  return { type, message: { key, body: message.body, properties: message.properties } };
}

export const retainedMachine: StateMachine<RetainedState, RetainedEntry> = {
  kind: 'retained',
  initial: () => new Map(),
  apply: applyRetained,
  encode: encodeRetained,
  decode: decodeRetained,
  snapshot: snapshotRetained,
};
