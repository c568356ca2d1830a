/**
 * A vhost's retained set (`retained.<vhost>`): at most one message per routing key, as MQTT keeps one
 * per topic (MQTT 5.0 §3.3.1.3), replaced by the next one and cleared explicitly.
 */
import { Buffer } from 'node:buffer';
import type { RetainedMessage } from '../api.js';
import { decodeMessage, encodeMessage } from '../message-codec.js';
import { KeyIndex } from '../routing/key-index.js';
import { bytesToJson, corrupt, Fields, type Json } from './json.js';
import type { StateMachine } from './state-log.js';

/**
 * By routing key, in the order keys were first set, with the keys also in a trie so that a
 * subscription finds the ones its pattern matches without looking at every retained message.
 */
export class RetainedState extends Map<string, RetainedMessage> {
  readonly #keys = new KeyIndex();
  #bytes = 0;

  /** Bytes of the bodies, keys and properties held (`CoreLimits.retainedBytesMax`). */
  get bytes(): number {
    return this.#bytes;
  }

  override set(key: string, message: RetainedMessage): this {
    this.#keys.add(key);
    this.#bytes += retainedBytes(message) - retainedBytesOf(this.get(key));
    return super.set(key, message);
  }

  override delete(key: string): boolean {
    this.#keys.remove(key);
    this.#bytes -= retainedBytesOf(this.get(key));
    return super.delete(key);
  }

  override clear(): void {
    this.#keys.clear();
    this.#bytes = 0;
    super.clear();
  }

  /** The retained messages whose key `pattern` matches, in the order their keys were first set. */
  matching(pattern: string): RetainedMessage[] {
    const out: RetainedMessage[] = [];
    for (const key of this.#keys.match(pattern)) {
      const message = this.get(key);
      if (message !== undefined) out.push(message);
    }
    return out;
  }
}

export type RetainedEntry =
  | { readonly type: 'set'; readonly message: RetainedMessage }
  | { readonly type: 'clear'; readonly key: string };

const noBody = new Uint8Array(0);

/**
 * What a retained message counts against `CoreLimits.retainedBytesMax`: its body, key and properties
 * as the log holds them. Properties count too: an MQTT 5 PUBLISH may carry a one-byte body and most
 * of a MiB of user properties, which a bound on bodies alone let a client keep a million of.
 */
export function retainedBytes(message: RetainedMessage): number {
  const properties = encodeMessage({
    exchange: '',
    routingKey: '',
    body: noBody,
    properties: message.properties,
  });
  return message.body.byteLength + Buffer.byteLength(message.key) + properties.byteLength;
}

function retainedBytesOf(message: RetainedMessage | undefined): number {
  return message === undefined ? 0 : retainedBytes(message);
}

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
  initial: () => new RetainedState(),
  apply: applyRetained,
  encode: encodeRetained,
  decode: decodeRetained,
  snapshot: snapshotRetained,
};
