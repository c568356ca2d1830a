/**
 * Retained messages (MQTT 5.0 §3.3.1.3): one per topic, replaced by the next retained PUBLISH and
 * cleared by an empty one. Kept in memory and, through `CoreBroker.state`, durably (key
 * `mqtt.retained/<vhost>/<topic>`), so they survive a restart. `$SYS` values are memory only.
 * A stored one is the core message codec's bytes (base64), so every property and header comes back
 * exactly, User Properties in order.
 */
import { Buffer } from 'node:buffer';
import type { CoreBroker } from '../../core/api.js';
import { decodeMessage, encodeMessage } from '../../core/message-codec.js';
import type { MessageProperties } from '../../core/types.js';
import { filterMatches, topicExchange, topicToKey } from './topics.js';

export interface RetainedMessage {
  readonly topic: string;
  readonly body: Buffer;
  readonly properties: MessageProperties;
}

interface StoredRetained {
  /** `encodeMessage` of the message as published to `amq.topic`, base64. */
  message: string;
}

export class RetainedStore {
  readonly #messages = new Map<string, RetainedMessage>();
  readonly #state: CoreBroker['state'];
  readonly #prefix: string;
  readonly #now: () => number;

  constructor(state: CoreBroker['state'], vhost: string, now: () => number) {
    this.#state = state;
    this.#prefix = `mqtt.retained/${encodeURIComponent(vhost)}/`;
    this.#now = now;
    for (const [key, value] of state.entries(this.#prefix)) {
      const topic = decodeURIComponent(key.slice(this.#prefix.length));
      const { message } = decodeMessage(Buffer.from((value as StoredRetained).message, 'base64'));
      const body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
      this.#messages.set(topic, { topic, body, properties: message.properties });
    }
  }

  get size(): number {
    return this.#messages.size;
  }

  /** Sets or (empty body) clears the retained message of `topic`; `durable` false keeps it in memory only. */
  async set(message: RetainedMessage, durable = true): Promise<void> {
    const key = `${this.#prefix}${encodeURIComponent(message.topic)}`;
    if (message.body.length === 0) {
      if (this.#messages.delete(message.topic) && durable) await this.#state.delete(key);
      return;
    }
    this.#messages.set(message.topic, message);
    if (!durable) return;
    const { body, properties } = message;
    const encoded = encodeMessage({
      exchange: topicExchange,
      routingKey: topicToKey(message.topic),
      body,
      properties,
    });
    const stored: StoredRetained = { message: Buffer.from(encoded).toString('base64') };
    await this.#state.put(key, stored);
  }

  /** Retained messages matching `filter`, expired ones removed on the way. */
  match(filter: string): RetainedMessage[] {
    const now = this.#now();
    const out: RetainedMessage[] = [];
    for (const message of this.#messages.values()) {
      if (!filterMatches(filter, message.topic)) continue;
      const expiresAt = message.properties.expiresAtMs;
      if (expiresAt !== undefined && expiresAt <= now) {
        void this.set({ ...message, body: Buffer.alloc(0) }).catch(() => {});
        continue;
      }
      out.push(message);
    }
    return out;
  }
}
