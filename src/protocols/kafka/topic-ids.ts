/**
 * Topic ids (KIP-516). Switchyard's streams have names only, so a topic's id is derived from its vhost
 * and name (SHA-256, laid out as a UUID with version nibble 8, "custom"): stable across restarts and
 * the same on every connection, never the zero UUID. A topic deleted and created again under its
 * name gets the same id, where Kafka would give a new one.
 */
import { createHash } from 'node:crypto';
import type { Scope } from './context.js';

export function topicIdOf(vhost: string, topic: string): string {
  const h = createHash('sha256').update(vhost).update('\u0000').update(topic).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const hex = h.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** The topic an id names, or undefined when no topic of the vhost has it. */
export function topicNameOf(ctx: Scope, id: string): string | undefined {
  const { vhost } = ctx.broker.options;
  for (const s of ctx.client.streams()) if (topicIdOf(vhost, s.name) === id) return s.name;
  return undefined;
}
