/**
 * Retained messages (MQTT 5.0 §3.3.1.3): one per topic, replaced by the next retained PUBLISH and
 * cleared by an empty one. Core keeps them, durably, in the vhost's retained set, keyed by the
 * topic's routing key and matched with core's topic matcher (it leaves out and clears expired ones);
 * this adds MQTT's own rule on top (a leading wildcard never matches a `$` topic, §4.7.2) and keeps
 * the `$SYS` values, which live in memory only, beside them.
 */
import { Buffer } from 'node:buffer';
import type { CoreClient } from '../../core/api.js';
import type { MessageProperties } from '../../core/types.js';
import { filterMatches, filterToPattern, keyToTopic, topicToKey } from './topics.js';

export interface RetainedMessage {
  readonly topic: string;
  readonly body: Buffer;
  readonly properties: MessageProperties;
}

export class RetainedStore {
  readonly #core: CoreClient;
  /** `$SYS/...` values, refreshed every few seconds: never stored. */
  readonly #memory = new Map<string, RetainedMessage>();

  /** `core` addresses the vhost whose retained set this is. */
  constructor(core: CoreClient) {
    this.#core = core;
  }

  get size(): number {
    return this.#core.retainedCount() + this.#memory.size;
  }

  /** Sets or (empty body) clears the retained message of `topic`; `durable` false keeps it in memory only. */
  async set(message: RetainedMessage, durable = true): Promise<void> {
    const { topic, body, properties } = message;
    if (!durable) {
      if (body.length === 0) this.#memory.delete(topic);
      else this.#memory.set(topic, message);
      return;
    }
    const key = topicToKey(topic);
    if (body.length === 0) await this.#core.clearRetained(key);
    else await this.#core.setRetained({ key, body, properties });
  }

  /** Retained messages matching `filter`. */
  match(filter: string): RetainedMessage[] {
    const out: RetainedMessage[] = [];
    for (const stored of this.#core.matchRetained(filterToPattern(filter))) {
      const topic = keyToTopic(stored.key);
      if (!filterMatches(filter, topic)) continue;
      const body = Buffer.from(stored.body.buffer, stored.body.byteOffset, stored.body.byteLength);
      out.push({ topic, body, properties: stored.properties });
    }
    for (const message of this.#memory.values()) if (filterMatches(filter, message.topic)) out.push(message);
    return out;
  }
}
