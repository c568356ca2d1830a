/**
 * A vhost's retained set (`retained.<vhost>`): at most one message per routing key, as MQTT keeps one
 * per topic (MQTT 5.0 §3.3.1.3), replaced by the next one and cleared explicitly.
 */
import type { RetainedMessage } from '../api.js';
import type { MessageProperties } from '../types.js';
import {
  bytesToJson,
  corrupt,
  type FieldSpec,
  Fields,
  type Json,
  optionalFromJson,
  optionalToJson,
} from './json.js';
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

/** Every message property core knows, in a fixed order. */
export const propertiesSpec: FieldSpec = [
  ['contentType', 'str'],
  ['contentEncoding', 'str'],
  ['headers', 'headers'],
  ['persistent', 'bool'],
  ['priority', 'num'],
  ['correlationId', 'str'],
  ['replyTo', 'str'],
  ['expirationMs', 'num'],
  ['messageId', 'str'],
  ['timestamp', 'num'],
  ['type', 'str'],
  ['userId', 'str'],
  ['appId', 'str'],
];

function encodeRetained(entry: RetainedEntry): Json {
  if (entry.type === 'clear') return { t: entry.type, key: entry.key };
  const { key, body, properties, expiresAtMs } = entry.message;
  const out: { [key: string]: Json } = {
    t: entry.type,
    key,
    body: bytesToJson(body),
    properties: optionalToJson(properties, propertiesSpec),
  };
  if (expiresAtMs !== undefined) out['expiresAtMs'] = expiresAtMs;
  return out;
}

function decodeRetained(json: unknown): RetainedEntry {
  const f = new Fields(json, 'retained entry');
  const type = f.str('t');
  if (type === 'clear') return { type, key: f.str('key') };
  if (type !== 'set') throw corrupt(`retained entry type '${type}'`);
  const message = {
    key: f.str('key'),
    body: f.bytes('body'),
    properties: optionalFromJson<MessageProperties>(f.fields('properties'), propertiesSpec),
  };
  return {
    type,
    message: f.has('expiresAtMs') ? { ...message, expiresAtMs: f.num('expiresAtMs') } : message,
  };
}

export const retainedMachine: StateMachine<RetainedState, RetainedEntry> = {
  kind: 'retained',
  initial: () => new Map(),
  apply: applyRetained,
  encode: encodeRetained,
  decode: decodeRetained,
  snapshot: snapshotRetained,
};
